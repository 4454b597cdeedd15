"""The audit log: every change, who made it, before and after; filterable."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse

from heliograph.audit.models import AuditEvent
from heliograph.console.access import requires, show
from heliograph.console.forms import AuditFilterForm

PER_PAGE = 50


def filtered(form: AuditFilterForm) -> QuerySet[AuditEvent]:
    events = AuditEvent.objects.all()
    if not form.is_valid():
        return events.none()
    data = form.cleaned_data
    if data["actor"]:
        events = events.filter(actor__icontains=data["actor"].strip())
    if data["action"]:
        events = events.filter(action__istartswith=data["action"].strip())
    if data["target_type"]:
        events = events.filter(target_type__iexact=data["target_type"].strip())
    if data["since"]:
        events = events.filter(at__gte=datetime.combine(data["since"], time(), UTC))
    if data["until"]:  # the whole "until" day is included
        end = datetime.combine(data["until"], time(), UTC) + timedelta(days=1)
        events = events.filter(at__lt=end)
    return events


@requires("read")
def audit_log(request: HttpRequest) -> HttpResponse:
    form = AuditFilterForm(request.GET)
    paginator = Paginator(filtered(form), PER_PAGE)
    shown = paginator.get_page(request.GET.get("p"))
    query = request.GET.copy()
    query.pop("p", None)
    return show(
        request,
        "console/audit.html",
        {
            "form": form,
            "events": shown,
            "query": query.urlencode(),
            "section": "audit",
            "target_types": AuditEvent.objects.values_list("target_type", flat=True)
            .distinct()
            .order_by("target_type"),
        },
    )
