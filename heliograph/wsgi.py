"""WSGI entry point: the public read path in front of Django."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "heliograph.settings")
django_application = get_wsgi_application()  # sets Django up before the models load

from heliograph.publish.readpath import ReadPath  # noqa: E402

application = ReadPath(django_application)
