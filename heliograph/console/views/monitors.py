"""Monitors in the console: the list with each last verdict, a monitor's page (its settings,
chart and last 50 results), create and edit, pause, resume, run now, delete.

Who may do what:

* Viewers (``read``) see the list and each monitor: verdicts, reasons, values, the chart
  and the settings — secrets only as "set" / "not set", never their values.
* Responders (``manage_incidents``) are on call: they may also run a monitor now (to see
  at once whether a fix worked), pause it (a prober gone wrong, planned work it would
  misreport) and resume it.
* Admins and owners (``manage_components``) create, edit and delete monitors: a monitor
  sets public component statuses and may open incidents, holds credentials and reaches
  into the network, so it belongs with the components it feeds.

Secret inputs are password fields that are never filled in: left blank, the stored secret
stays; "clear" removes it. The POST data of these forms is kept out of error reports.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

from django import forms
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.utils.safestring import SafeString
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_POST

from heliograph.catalog.models import Page
from heliograph.catalog.status import COMPONENT_STATUS_LABELS
from heliograph.console.access import actor, attempt, requires, show
from heliograph.console.views.incidents import page_or_404, readable_notes
from heliograph.lib.errors import InputError
from heliograph.monitors import services
from heliograph.monitors.evaluator import PATH, SIGNAL, SIGNAL_SEVERITIES
from heliograph.monitors.models import AUTOMATIONS, Monitor
from heliograph.monitors.probes.base import UNKNOWN
from heliograph.monitors.probes.registry import KINDS, probe_module

log = logging.getLogger(__name__)
MANAGE, OPERATE = "manage_components", "manage_incidents"
RESULTS_SHOWN = 50
KEPT = (
    "name", "component", "interval_seconds", "timeout_seconds", "automation", "role", "severity",
)  # fmt: skip
CHART_HOURS = 24
KIND_LABELS = {
    "http": "HTTP(S) request", "tcp": "TCP connect", "tls_certificate": "TLS certificate",
    "dns": "DNS lookup", "smtp": "SMTP banner / EHLO / STARTTLS",
    "mail_roundtrip": "Mail round trip (SMTP in, IMAP out)", "rspamd": "rspamd controller",
    "prometheus": "Prometheus query",
}  # fmt: skip
# A starting point per kind; the form shows it with the kind's defaults filled in.
EXAMPLES: dict[str, dict[str, Any]] = {
    "http": {"url": "https://www.example.com/"},
    "tcp": {"host": "mx.example.com", "port": 25},
    "tls_certificate": {"host": "mail.example.com", "port": 443},
    "dns": {"name": "example.com", "type": "MX"},
    "smtp": {"host": "mx.example.com"},
    "mail_roundtrip": {
        "smtp_host": "mx.example.com",
        "mail_from": "probe@example.org",
        "mail_to": "probe@example.com",
        "imap_host": "imap.example.com",
        "imap_username": "probe@example.com",
    },
    "rspamd": {"url": "http://rspamd.example.com:11334/"},
    "prometheus": {"url": "http://prometheus.example.com:9090", "query": "up"},
}


def example_config(kind: str) -> dict[str, Any]:
    """The kind's example with its defaults filled in (the example alone if that fails)."""
    example = EXAMPLES.get(kind, {})
    try:
        return dict(probe_module(kind).check_config(example))
    except Exception:  # a probe module being changed must not break the form
        return dict(example)


def _config_text(config: dict[str, Any]) -> str:
    return json.dumps(config, indent=2, ensure_ascii=False)


class MonitorForm(forms.Form):
    name = forms.CharField(max_length=255)
    kind = forms.ChoiceField(choices=[(k, KIND_LABELS.get(k, k)) for k in KINDS])
    component = forms.ChoiceField(required=False, label="Feeds the component")
    interval_seconds = forms.IntegerField(
        min_value=services.MIN_INTERVAL,
        max_value=services.MAX_INTERVAL,
        initial=60,
        label="Interval (seconds)",
    )
    timeout_seconds = forms.FloatField(
        min_value=0.1, max_value=services.MAX_TIMEOUT, initial=30, label="Timeout (seconds)"
    )
    automation = forms.ChoiceField(choices=[(a, a) for a in AUTOMATIONS], initial="off")
    role = forms.ChoiceField(
        required=False,
        choices=[("", "as its kind says"), (PATH, "path"), (SIGNAL, "signal")],
        label="Role",
    )
    severity = forms.ChoiceField(
        required=False,  # left out: kept (a new monitor: degraded)
        choices=[(s, COMPONENT_STATUS_LABELS[s]) for s in SIGNAL_SEVERITIES],
        initial=SIGNAL_SEVERITIES[0],
        label="A signal in trouble makes it",
    )
    public = forms.BooleanField(required=False, label="Chart it on the public page")
    paused = forms.BooleanField(required=False, label="Paused")
    config = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 14, "spellcheck": "false"}),
        required=False,
        label="Settings (JSON)",
        strip=False,
    )

    def __init__(
        self, *args: Any, page: Page, kind: str, editing: bool = False, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        if editing:  # pausing is its own button there (and a stale form must not resume)
            del self.fields["paused"]
        self.chosen = kind if kind in KINDS else KINDS[0]
        choices = [("", "none")] + [(c.pk, c.display_name) for c in page.components.all()]
        self.fields["component"].choices = choices  # type: ignore[attr-defined]
        self.secret_names = services.secret_fields(self.chosen)
        for name in self.secret_names:
            self.fields[f"secret_{name}"] = forms.CharField(
                required=False,
                label=name,
                max_length=services.MAX_SECRET,
                strip=False,
                widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
            )
            self.fields[f"clear_{name}"] = forms.BooleanField(required=False, label="clear")

    def clean_config(self) -> dict[str, Any]:
        text = self.cleaned_data.get("config") or "{}"
        try:
            value = json.loads(text)
        except ValueError as exc:
            raise forms.ValidationError(f"not valid JSON ({exc})") from None
        except RecursionError:  # the decoder recurses once per level of [ or {
            raise forms.ValidationError("not valid JSON (nested too deeply)") from None
        if not isinstance(value, dict):
            raise forms.ValidationError('write an object: { "setting": value, ... }')
        return value

    def secret_rows(self, stored: dict[str, str]) -> list[tuple[Any, ...]]:
        """(name, input, clear box, "set"/"not set") for each of the kind's secrets."""
        return [
            (n, self[f"secret_{n}"], self[f"clear_{n}"], stored.get(n, services.NOT_SET))
            for n in self.secret_names
        ]

    def given(self, page: Page) -> dict[str, Any]:
        """The service's fields: a blank secret keeps the stored one, "clear" removes it."""
        data = self.cleaned_data
        secrets: dict[str, str | None] = {}
        for name in self.secret_names:
            if data.get(f"clear_{name}"):
                secrets[name] = None
            elif data.get(f"secret_{name}"):
                secrets[name] = data[f"secret_{name}"]
        component = page.components.filter(pk=data["component"]).first()
        return {
            "name": data["name"],
            "kind": data["kind"],
            "config": data["config"],
            "secrets": secrets,
            "component": component,
            "interval_seconds": data["interval_seconds"],
            "timeout_seconds": data["timeout_seconds"],
            "automation": data["automation"],
            "public": data["public"],
            "role": data["role"],
        } | {k: data[k] for k in ("paused", "severity") if data.get(k) not in (None, "")}


def _initial(monitor: Monitor | None, kind: str) -> dict[str, Any]:
    if monitor is None or monitor.kind != kind:
        fields = {"kind": kind, "config": _config_text(example_config(kind))}
        return fields if monitor is None else {**_initial(monitor, monitor.kind), **fields}
    return {
        "name": monitor.name,
        "kind": monitor.kind,
        "component": monitor.component_id or "",
        "interval_seconds": monitor.interval_seconds,
        "timeout_seconds": monitor.timeout_seconds,
        "automation": monitor.automation,
        "public": monitor.public,
        "paused": monitor.paused,
        "role": monitor.role,
        "severity": monitor.severity,
        "config": _config_text(monitor.config),
    }


def _monitor(request: HttpRequest, monitor_id: str) -> Monitor:
    found = Monitor.objects.select_related("page", "component").filter(pk=monitor_id).first()
    if found is None:
        raise Http404("no such monitor")
    request.session["page_id"] = found.page_id
    return found


# --- the list and one monitor ---------------------------------------------------------------


@requires("read")
def monitor_list(request: HttpRequest) -> HttpResponse:
    page = page_or_404(request)
    found = list(page.monitors.select_related("component").order_by("name"))
    unknown = [m for m in found if m.last_verdict == UNKNOWN and not m.paused]
    return show(
        request,
        "console/monitors.html",
        {
            "section": "monitors",
            "monitors": found,
            "unknown": unknown,
            "kind_labels": KIND_LABELS,
        },
    )


def chart(monitor: Monitor) -> SafeString | None:
    """The monitor's main value over the last day (None when it cannot be drawn)."""
    try:
        from heliograph.monitors.metrics import monitor_chart_svg

        return monitor_chart_svg(monitor, None, CHART_HOURS)
    except Exception:  # the chart is a nicety: the page stands without it
        log.exception("monitor %s: chart failed", monitor.pk)
        return None


def _values(values: Any) -> str:
    if not isinstance(values, dict):
        return ""
    return ", ".join(f"{k}: {v:g}" if isinstance(v, float | int) else k for k, v in values.items())


def _detail(request: HttpRequest, monitor: Monitor, error: str = "") -> HttpResponse:
    results = list(monitor.results.order_by("-at", "-id")[:RESULTS_SHOWN])
    return show(
        request,
        "console/monitor.html",
        {
            "section": "monitors",
            "page": monitor.page,
            "monitor": monitor,
            "kind_label": KIND_LABELS.get(monitor.kind, monitor.kind),
            "secrets": services.secret_status(monitor),
            "config": _config_text(monitor.config),
            "results": [(r, _values(r.values)) for r in results],
            "chart": chart(monitor),
            "running": services.running(monitor),
            "chart_hours": CHART_HOURS,
            "error": error,
            "notes": readable_notes(list(monitor.state.get("notes") or [])),
        },
        status=400 if error else 200,
    )


@requires("read")
def monitor_detail(request: HttpRequest, monitor_id: str) -> HttpResponse:
    return _detail(request, _monitor(request, monitor_id))


# --- create and edit ------------------------------------------------------------------------


def _form_screen(
    request: HttpRequest, page: Page, form: MonitorForm, monitor: Monitor | None
) -> HttpResponse:
    same_kind = monitor is not None and monitor.kind == form.chosen
    stored = services.secret_status(monitor) if monitor and same_kind else {}
    return show(
        request,
        "console/monitor_form.html",
        {
            "section": "monitors",
            "page": page,
            "form": form,
            "monitor": monitor,
            "secret_rows": form.secret_rows(stored),
            "kind_label": KIND_LABELS.get(form.chosen, form.chosen),
        },
    )


def _switched(request: HttpRequest, monitor: Monitor | None, kind: str) -> dict[str, Any]:
    """The form's first look: the monitor's settings, or for another kind its example, with
    what was typed so far kept when the kind was switched (secrets never are)."""
    initial = _initial(monitor, kind)
    if "switch" in request.POST:
        initial.update({k: request.POST[k] for k in KEPT if k in request.POST})
        initial.update({k: k in request.POST for k in ("public", "paused")})
    return initial


def _save(
    request: HttpRequest,
    page: Page,
    monitor: Monitor | None,
    call: Callable[[dict[str, Any]], Monitor],
) -> HttpResponse:
    """GET (or "switch kind"): the form; POST: check it and call the service; errors show
    the form again (400) with nothing written."""
    kind = request.POST.get("kind") or request.GET.get("kind") or (monitor and monitor.kind)
    kind = str(kind or KINDS[0])
    if request.method != "POST" or "switch" in request.POST:
        initial = _switched(request, monitor, kind)
        form = MonitorForm(page=page, kind=kind, editing=bool(monitor), initial=initial)
        return _form_screen(request, page, form, monitor)
    form = MonitorForm(request.POST, page=page, kind=kind, editing=bool(monitor))
    saved = attempt(form, lambda: call(form.given(page))) if form.is_valid() else None
    if saved is None:
        return _form_screen(request, page, form, monitor)
    messages.success(request, f"Saved monitor “{saved.name}”.")
    return redirect("console:monitor", saved.pk)


@requires(MANAGE)
@sensitive_post_parameters()
def monitor_new(request: HttpRequest) -> HttpResponse:
    page = page_or_404(request)
    return _save(
        request,
        page,
        None,
        lambda given: services.create_monitor(page=page, actor=actor(request), **given),
    )


@requires(MANAGE)
@sensitive_post_parameters()
def monitor_edit(request: HttpRequest, monitor_id: str) -> HttpResponse:
    monitor = _monitor(request, monitor_id)
    return _save(
        request,
        monitor.page,
        monitor,
        lambda given: services.update_monitor(monitor=monitor, actor=actor(request), **given),
    )


# --- actions --------------------------------------------------------------------------------


def _act(
    request: HttpRequest, monitor_id: str, change: Callable[[Monitor], object], done: str
) -> HttpResponse:
    """Make one change; bad input shows the monitor again with the message (400)."""
    monitor = _monitor(request, monitor_id)
    try:
        change(monitor)
    except InputError as exc:
        return _detail(request, monitor, error=str(exc))
    messages.success(request, done.format(name=monitor.name))
    return redirect("console:monitor", monitor.pk)


@requires(OPERATE)
@require_POST
def monitor_run(request: HttpRequest, monitor_id: str) -> HttpResponse:
    return _act(
        request,
        monitor_id,
        lambda m: services.run_now(monitor=m, actor=actor(request)),
        "“{name}” is due now: a worker runs it within seconds.",
    )


@requires(OPERATE)
@require_POST
def monitor_pause(request: HttpRequest, monitor_id: str) -> HttpResponse:
    return _act(
        request,
        monitor_id,
        lambda m: services.pause_monitor(monitor=m, actor=actor(request)),
        "Paused “{name}”: it no longer runs or feeds its component.",
    )


@requires(OPERATE)
@require_POST
def monitor_resume(request: HttpRequest, monitor_id: str) -> HttpResponse:
    return _act(
        request,
        monitor_id,
        lambda m: services.resume_monitor(monitor=m, actor=actor(request)),
        "Resumed “{name}”: it runs again within seconds.",
    )


@requires(MANAGE)
@require_POST
def monitor_delete(request: HttpRequest, monitor_id: str) -> HttpResponse:
    monitor = _monitor(request, monitor_id)
    services.delete_monitor(monitor=monitor, actor=actor(request))
    messages.success(request, f"Deleted monitor “{monitor.name}”.")
    return redirect("console:monitors")
