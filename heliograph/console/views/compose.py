"""Writing an update: preview, truth-check warnings, then publish (no JavaScript needed).

The first "Publish" runs the truth check; if it warns, the form comes back with the
warnings and a "Publish anyway" button, which publishes on the next submit.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from django import forms
from django.http import HttpRequest

from heliograph.lib.errors import InputError
from heliograph.lib.markup import render_markdown


@dataclass
class Draft:
    publish: bool = False
    preview: str | None = None
    warnings: list[str] = field(default_factory=list)


def review(request: HttpRequest, form: forms.Form, check: Callable[[], list[str]]) -> Draft:
    """Decide what a submitted compose form asks for, and whether it may be published."""
    if request.method != "POST":
        return Draft()
    if request.POST.get("action") == "preview":
        return Draft(preview=render_markdown(request.POST.get("body", "")))
    if not form.is_valid():
        return Draft()
    try:
        warnings = check()
    except InputError as exc:
        form.add_error(None, str(exc))
        return Draft()
    if warnings and request.POST.get("confirm") != "1":
        return Draft(warnings=warnings, preview=render_markdown(form.cleaned_data["body"]))
    return Draft(publish=True, warnings=warnings)
