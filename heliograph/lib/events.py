"""A tiny in-process event registry: the apps that change things emit, others listen.

``emit`` calls every handler synchronously, inside the caller's transaction, so whatever a
handler writes (e.g. a Notification row) is committed or rolled back with the change. The
emitting app never imports the listening one: listeners register from ``AppConfig.ready``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Handler = Callable[..., None]

# An incident or maintenance update was posted (data: update, first).
INCIDENT_UPDATE = "incident.update"
# A postmortem was published with ``notify_subscribers`` (data: postmortem).
POSTMORTEM_PUBLISHED = "postmortem.published"
# A component's status changed (data: component, change).
COMPONENT_STATUS = "component.status"
# A component's status change is on the timeline and every ``COMPONENT_STATUS`` handler has
# seen it (data: component, change); also after a console or API edit of the status. A
# status a handler writes in answer (a maintenance window holding the component) comes after
# the change on the timeline and in the outbox, never before it.
COMPONENT_STATUS_RECORDED = "component.status.recorded"

_HANDLERS: dict[str, list[Handler]] = {}


def connect(name: str, handler: Handler) -> None:
    """Register ``handler`` for ``name`` (once: registering it again changes nothing)."""
    handlers = _HANDLERS.setdefault(name, [])
    if handler not in handlers:
        handlers.append(handler)


def emit(name: str, **data: Any) -> None:
    """Call the handlers of ``name``; an exception rolls the caller's transaction back."""
    for handler in list(_HANDLERS.get(name, ())):
        handler(**data)


def disconnect(name: str, handler: Handler) -> None:
    """Forget ``handler`` for ``name`` (if it was registered)."""
    handlers = _HANDLERS.get(name, [])
    if handler in handlers:
        handlers.remove(handler)
