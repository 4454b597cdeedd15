"""Readable labels for stored status codes."""

from django import template

from heliograph.catalog.status import COMPONENT_STATUS_LABELS
from heliograph.incidents.lifecycle import STATUS_LABELS

register = template.Library()
LABELS = {**STATUS_LABELS, **COMPONENT_STATUS_LABELS}


@register.filter
def label(code: str) -> str:
    """``degraded_performance`` → ``Degraded Performance``; unknown codes unchanged."""
    return LABELS.get(code, code)
