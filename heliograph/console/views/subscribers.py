"""Subscribers, and the notifications sent to them with what became of each delivery.

Subscriber addresses are personal data, so the roles see different amounts of them:

* Viewers see the notification list and the delivery counts (on it and on incident
  pages): figures only, no address. The subscriber screens are closed to them.
* Responders (``manage_incidents``) are on call: they see the subscriber list and each
  subscriber (not a webhook's signing secret), and a notification's deliveries with the
  address and error of each, to tell why some failed. They handle the requests that
  come in while they are: "take me off the list" (unsubscribe) and "I never got the
  confirmation" (send it again).
* Admins and owners (``manage_subscribers``) also add subscribers (and may vouch that
  they opted in elsewhere), change what a subscriber hears about, lift a webhook's
  quarantine, see and rotate signing secrets, and export the list: a bulk copy of
  personal data, which is recorded in the audit log.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any, TypedDict, cast

from django import forms
from django.contrib import messages
from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect
from django.utils import timezone
from django.utils.text import slugify
from django.views.decorators.http import require_POST

from heliograph.audit import trail
from heliograph.catalog.models import Component, Page
from heliograph.console.access import actor, attempt, current_page, requires, show, user_of
from heliograph.incidents.models import Incident
from heliograph.notify import directory, outbox, payloads
from heliograph.notify.directory import (
    ACTIVE,
    ALL,
    QUARANTINED,
    SUBSCRIBED,
    UNCONFIRMED,
    UNSUBSCRIBED,
)
from heliograph.notify.models import (
    EMAIL,
    FAILED,
    INCIDENT_UPDATE,
    MAINTENANCE,
    NOTIFICATION_KINDS,
    PENDING,
    SENT,
    SKIPPED,
    TARGETED_KINDS,
    WEBHOOK,
    Notification,
    Subscriber,
)

SEE = "manage_incidents"  # the least permission that shows subscriber addresses
MANAGE = "manage_subscribers"
PER_PAGE = 50
STATE_LABELS = {
    SUBSCRIBED: "Current", ACTIVE: "Active", UNCONFIRMED: "Unconfirmed",
    QUARANTINED: "Quarantined", UNSUBSCRIBED: "Unsubscribed", ALL: "All",
}  # fmt: skip
# The list opens on everyone still subscribed, whatever their state: "0 found" beside
# "Unconfirmed 2" read as if the list were empty.
OPENS_ON = SUBSCRIBED
KIND_LABELS = {
    "incident_update": "Incident update", "maintenance": "Maintenance",
    "postmortem": "Postmortem", "component_update": "Component status",
    "confirmation": "Confirmation e-mail", "quarantine": "Quarantine notice",
    "webhook_welcome": "Webhook welcome",
}  # fmt: skip
DELIVERY_STATUSES = (SENT, FAILED, PENDING, SKIPPED)
Counted = tuple[Notification, str]


class Filters(TypedDict):
    q: str
    kind: str
    state: str


class FilterForm(forms.Form):
    q = forms.CharField(required=False, max_length=2000, label="Search")
    type = forms.ChoiceField(
        required=False, choices=[("", "Any type"), (EMAIL, "E-mail"), (WEBHOOK, "Webhook")]
    )
    state = forms.ChoiceField(required=False, choices=list(STATE_LABELS.items()))

    def filters(self) -> Filters:
        data = self.cleaned_data
        return {"q": data["q"], "kind": data["type"], "state": data["state"] or OPENS_ON}


class AddForm(forms.Form):
    mode = forms.ChoiceField(
        choices=[(EMAIL, "E-mail"), (WEBHOOK, "Webhook")],
        initial=EMAIL,
        widget=forms.RadioSelect,
        label="Type",
    )
    email = forms.CharField(required=False, max_length=320, label="E-mail address")
    endpoint = forms.CharField(required=False, max_length=2000, label="Webhook URL")
    skip_confirmation = forms.BooleanField(
        required=False, label="Skip confirmation (they already opted in)"
    )

    def clean(self) -> dict[str, Any] | None:
        data = super().clean() or {}
        if data.get("mode") == WEBHOOK and not data.get("endpoint", "").strip():
            self.add_error("endpoint", "a webhook needs its URL")
        return data


class KindForm(forms.Form):
    kind = forms.ChoiceField(
        required=False,
        choices=[("", "Announcements")]
        + [(k, KIND_LABELS.get(k, k)) for k, _ in NOTIFICATION_KINDS],
    )


def grouped(n: int) -> str:
    return f"{n:,}"


def summary(counts: dict[str, int]) -> str:
    """``sent 99,998 · failed 2 · pending 0 · skipped 0``."""
    return " · ".join(f"{s} {grouped(counts.get(s, 0))}" for s in DELIVERY_STATUSES)


def _page(request: HttpRequest) -> Page:
    page = current_page(request)
    if page is None:
        raise Http404("no page yet: create one with `heliograph page create NAME`")
    return page


def _components(page: Page) -> QuerySet[Component]:
    """The page's components in the order the public page shows them."""
    return page.components.select_related("group").order_by("group__position", "position")


def _query(request: HttpRequest) -> str:
    """The current filters without the page number, for the pager's and export's links."""
    query = request.GET.copy()
    query.pop("p", None)
    return query.urlencode()


# --- the list -----------------------------------------------------------------------------


def _found(page: Page, form: FilterForm) -> QuerySet[Subscriber]:
    """What the filters find: exact and prefix matches first when searching, else newest."""
    if not form.is_valid():
        return Subscriber.objects.none()
    filters = form.filters()
    searching = bool(filters["q"].strip())
    found = attempt(
        form,
        lambda: directory.search(
            page=page,
            **filters,
            sort_field="relevance" if searching else "created_at",
            sort_direction="asc" if searching else "desc",
        ),
    )
    return Subscriber.objects.none() if found is None else found.select_related("incident")


def _state_counts(page: Page) -> list[dict[str, Any]]:
    """Per state: how many, in all and per type (each state links to its filter)."""
    table = directory.histogram(page=page)
    rows = []
    for state in (ACTIVE, UNCONFIRMED, QUARANTINED, UNSUBSCRIBED):
        by_kind = {
            k: table[k][state]
            if state in table[k]
            else directory.search(page=page, kind=k, state=state).count()
            for k in directory.KINDS
        }
        total = sum(by_kind.values())
        rows.append(
            {
                "state": state,
                "label": STATE_LABELS[state],
                "total": grouped(total),
                **{k: grouped(n) for k, n in by_kind.items()},
            }
        )
    return rows


@requires(SEE)
def subscriber_list(request: HttpRequest) -> HttpResponse:
    page = _page(request)
    form = FilterForm(request.GET)
    shown = Paginator(_found(page, form), PER_PAGE).get_page(request.GET.get("p"))
    return show(
        request,
        "console/subscribers.html",
        {
            "form": form,
            "shown": shown,
            "query": _query(request),
            "section": "subscribers",
            "rows": [(s, directory.state_of(s)) for s in shown],
            "counts": _state_counts(page),
            "state": form.filters()["state"] if form.is_valid() else OPENS_ON,
            "total": grouped(shown.paginator.count),
            "may_manage": user_of(request).can(MANAGE),
        },
    )


@requires(MANAGE)
def subscriber_export(request: HttpRequest) -> HttpResponse:
    """The filtered list as a CSV file that ``heliograph subscribers import`` reads back."""
    page, form = _page(request), FilterForm(request.GET)
    filters = form.filters() if form.is_valid() else None
    found = attempt(form, lambda: directory.search(page=page, **filters)) if filters else None
    if filters is None or found is None:
        return subscriber_list(request)  # the list, with the filter's error
    trail.record(
        actor=actor(request),
        action="subscriber.export",
        target=page,
        page_id=page.pk,
        after={**filters, "count": found.count()},
    )
    response = StreamingHttpResponse(
        directory.export_csv(found.iterator(chunk_size=2000)), content_type="text/csv"
    )
    day = timezone.now().strftime("%Y%m%d")
    name = f"{slugify(page.name) or 'page'}-subscribers-{filters['state']}-{day}.csv"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return cast(HttpResponse, response)  # streamed: ``requires`` is typed for plain responses


# --- adding -------------------------------------------------------------------------------


def _create(request: HttpRequest, page: Page, data: dict[str, Any]) -> Subscriber:
    webhook = data["mode"] == WEBHOOK
    return directory.create(
        page=page,
        actor=actor(request),
        email=data["email"],
        endpoint=data["endpoint"] if webhook else "",
        component_ids=request.POST.getlist("components"),
        skip_confirmation=data["skip_confirmation"],
    )


def _added(subscriber: Subscriber, skipped: bool) -> str:
    if subscriber.kind == WEBHOOK:
        told = "" if skipped else f" {subscriber.email} is e-mailed its signing secret."
        return f"Added the webhook {subscriber.endpoint}.{told}"
    if skipped:
        return f"Added {subscriber.email}, confirmed."
    return f"Added {subscriber.email}: a confirmation e-mail is on its way, and they are told nothing else until they confirm."  # noqa: E501


@requires(MANAGE)
def subscriber_new(request: HttpRequest) -> HttpResponse:
    page = _page(request)
    form = AddForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        made = attempt(form, lambda: _create(request, page, form.cleaned_data))
        if made is not None:
            messages.success(request, _added(made, form.cleaned_data["skip_confirmation"]))
            return redirect("console:subscriber", made.pk)
    return show(
        request,
        "console/subscriber_new.html",
        {
            "form": form,
            "section": "subscribers",
            "components": _components(page),
            "checked": set(request.POST.getlist("components")),
        },
    )


# --- one subscriber -----------------------------------------------------------------------


def _subscriber(request: HttpRequest, subscriber_id: str) -> Subscriber:
    found = Subscriber.objects.select_related("page", "incident").filter(pk=subscriber_id).first()
    if found is None:
        raise Http404("no such subscriber")
    request.session["page_id"] = found.page_id
    return found


def _failures(subscriber: Subscriber) -> list[datetime]:
    """The webhook failures counted towards its quarantine, newest first."""
    times = []
    for text in subscriber.recent_failures or []:
        try:
            times.append(datetime.fromisoformat(str(text)))
        except ValueError:
            continue
    return sorted(times, reverse=True)


def _detail(request: HttpRequest, subscriber: Subscriber, **extra: Any) -> HttpResponse:
    page = subscriber.page
    return show(
        request,
        "console/subscriber.html",
        {
            "subscriber": subscriber,
            "state": directory.state_of(subscriber),
            "page": page,
            "chosen": list(subscriber.components.select_related("group")),
            "components": _components(page),
            "checked": {c.pk for c in subscriber.components.all()},
            "failures": _failures(subscriber),
            "section": "subscribers",
            "deliveries": subscriber.deliveries.select_related("notification").order_by("-pk")[:10],
            "may_manage": user_of(request).can(MANAGE),
            **extra,
        },
    )


@requires(SEE)
def subscriber_detail(request: HttpRequest, subscriber_id: str) -> HttpResponse:
    return _detail(request, _subscriber(request, subscriber_id))


def _act(
    request: HttpRequest,
    subscriber_id: str,
    change: Callable[[Subscriber], object],
    done: str,
    nothing: str,
) -> HttpResponse:
    """Make one change; bad input shows the subscriber again with the message (400)."""
    subscriber = _subscriber(request, subscriber_id)
    form = forms.Form(data={})
    form.is_valid()  # bound and clean, so a service error can be attached to it
    changed = attempt(form, lambda: change(subscriber))
    if form.errors:
        return _detail(request, subscriber, action_form=form)
    messages.success(request, done if changed else nothing)
    return redirect("console:subscriber", subscriber.pk)


@requires(SEE)
@require_POST
def subscriber_unsubscribe(request: HttpRequest, subscriber_id: str) -> HttpResponse:
    return _act(
        request,
        subscriber_id,
        lambda s: directory.unsubscribe(subscribers=[s], actor=actor(request)),
        "Unsubscribed: they get no more notifications.",
        "Already unsubscribed.",
    )


@requires(SEE)
@require_POST
def subscriber_resend(request: HttpRequest, subscriber_id: str) -> HttpResponse:
    return _act(
        request,
        subscriber_id,
        lambda s: directory.resend_confirmation(subscribers=[s], actor=actor(request)),
        "Confirmation e-mail queued again.",
        "Nothing sent: only an unconfirmed e-mail subscriber gets a confirmation e-mail.",
    )


@requires(MANAGE)
@require_POST
def subscriber_reactivate(request: HttpRequest, subscriber_id: str) -> HttpResponse:
    return _act(
        request,
        subscriber_id,
        lambda s: directory.reactivate(subscribers=[s], actor=actor(request)),
        "Quarantine lifted: the webhook gets notifications again.",
        "Nothing to do: this webhook is not quarantined.",
    )


def _set_components(request: HttpRequest, subscriber: Subscriber) -> bool:
    ids = request.POST.getlist("components")
    directory.set_components(subscriber=subscriber, component_ids=ids, actor=actor(request))
    return True


@requires(MANAGE)
@require_POST
def subscriber_components(request: HttpRequest, subscriber_id: str) -> HttpResponse:
    return _act(
        request,
        subscriber_id,
        lambda s: _set_components(request, s),
        "Components saved.",
        "Components saved.",
    )


@requires(MANAGE)
@require_POST
def subscriber_rotate_secret(request: HttpRequest, subscriber_id: str) -> HttpResponse:
    return _act(
        request,
        subscriber_id,
        lambda s: directory.rotate_secret(subscriber=s, actor=actor(request)),
        "New signing secret made: the old one no longer verifies.",
        "",
    )


# --- notifications ------------------------------------------------------------------------


def counted(notifications: Iterable[Notification]) -> list[Counted]:
    """Each notification with its delivery counts, in one query."""
    listed = list(notifications)
    counts = outbox.delivery_counts([n.pk for n in listed])
    return [(n, summary(counts[n.pk])) for n in listed]


def _update_of(notification: Notification) -> str | None:
    """The update whose publication sent this: the newest one in its payload."""
    if notification.kind not in (INCIDENT_UPDATE, MAINTENANCE):
        return None
    payload = notification.payload
    if payloads.is_reminder(payload):
        return None
    updates = (payload.get("incident") or {}).get("incident_updates") or []
    return str(updates[0].get("id")) if updates else None


def incident_notifications(incident: Incident) -> tuple[dict[str, Counted], list[Counted]]:
    """Each update's notification (by update id) and the incident's others (postmortem,
    reminders), with their delivery counts: two queries."""
    sent = incident.notifications.exclude(kind__in=TARGETED_KINDS).order_by("created_at", "pk")
    by_update: dict[str, Counted] = {}
    others: list[Counted] = []
    for row in counted(sent):
        update_id = _update_of(row[0])
        if update_id and update_id not in by_update:
            by_update[update_id] = row
        else:
            others.append(row)
    return by_update, others


def _notifications(page: Page, form: KindForm) -> QuerySet[Notification]:
    """Newest first; announcements (no per-subscriber e-mail) unless a kind is chosen."""
    found = page.notifications.select_related("incident", "component").order_by(
        "-created_at", "-pk"
    )
    if not form.is_valid():
        return found.none()
    kind = form.cleaned_data["kind"]
    return found.filter(kind=kind) if kind else found.exclude(kind__in=TARGETED_KINDS)


@requires("read")
def notification_list(request: HttpRequest) -> HttpResponse:
    page = _page(request)
    form = KindForm(request.GET)
    shown = Paginator(_notifications(page, form), PER_PAGE).get_page(request.GET.get("p"))
    return show(
        request,
        "console/notifications.html",
        {
            "form": form,
            "shown": shown,
            "query": _query(request),
            "rows": [(n, KIND_LABELS.get(n.kind, n.kind), text) for n, text in counted(shown)],
            "may_see": user_of(request).can(SEE),
            "section": "notifications",
        },
    )


@requires(SEE)
def notification_detail(request: HttpRequest, notification_id: str) -> HttpResponse:
    """Counts, then the deliveries in one state (failed first: why did they fail)."""
    found = Notification.objects.select_related("page", "incident", "component", "subscriber")
    notification = found.filter(pk=notification_id).first()
    if notification is None:
        raise Http404("no such notification")
    request.session["page_id"] = notification.page_id
    status = request.GET.get("status") or FAILED
    status = status if status in DELIVERY_STATUSES else FAILED
    deliveries = (
        notification.deliveries.filter(status=status)
        .select_related("subscriber")
        .prefetch_related("history")  # every attempt: a success never hides a failure
    )
    shown = Paginator(deliveries.order_by("pk"), PER_PAGE).get_page(request.GET.get("p"))
    counts = outbox.delivery_counts([notification.pk])[notification.pk]
    return show(
        request,
        "console/notification.html",
        {
            "notification": notification,
            "page": notification.page,
            "summary": summary(counts),
            "tabs": [(s, grouped(counts[s])) for s in (FAILED, PENDING, SKIPPED, SENT)],
            "status": status,
            "shown": shown,
            "kind_label": KIND_LABELS.get(notification.kind),
            "section": "notifications",
        },
    )
