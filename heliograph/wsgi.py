"""WSGI entry point: the public read path in front of Django."""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "heliograph.settings")

from django.core.wsgi import get_wsgi_application  # noqa: E402

from heliograph.publish.readpath import ReadPath  # noqa: E402

application = ReadPath(get_wsgi_application())
