"""Monitor shapes (Heliograph's own resource: Statuspage has none).

Secrets are write-only: a body may set them (``"secrets": {"imap_password": "..."}``) or
clear them (null); answers only say ``"set"`` or ``"not set"``.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from ninja import Schema
from pydantic import Field

from heliograph.api.schemas import Id, Metadata, NoNul, Paging, Text64, Text255
from heliograph.monitors.services import MAX_INTERVAL, MAX_SECRET, MAX_TIMEOUT, MIN_INTERVAL

# The probe kinds (heliograph.monitors.probes.registry.KINDS).
Kind = Literal[
    "http", "tcp", "tls_certificate", "dns", "smtp", "mail_roundtrip", "rspamd", "prometheus"
]
Automation = Literal["off", "draft", "publish"]
# heliograph.monitors.evaluator.ROLES and SIGNAL_SEVERITIES.
Role = Literal["path", "signal"]
Severity = Literal["degraded_performance", "partial_outage", "major_outage"]
ROLE_HELP = (
    "path: a way customers' traffic goes (its verdicts are blended with the component's "
    "other paths); signal: a detector about the paths (degraded or down, it raises the "
    "component to its severity; it never counts as a working path). Default by kind: "
    "rspamd and prometheus are signals, the rest paths"
)
SEVERITY_HELP = "What a signal in trouble makes its component (paths: ignored)"
Verdict = Literal["ok", "hold", "slow", "fail", "unknown"]
SecretState = Literal["set", "not set"]
Secret = Annotated[str, Field(max_length=MAX_SECRET), NoNul]
Interval = Annotated[int, Field(ge=MIN_INTERVAL, le=MAX_INTERVAL)]
Timeout = Annotated[float, Field(gt=0, le=MAX_TIMEOUT)]


class MonitorOut(Schema):
    id: str
    page_id: str
    name: str
    kind: str
    component_id: str | None
    config: dict[str, Any] = Field(description="The kind's settings, defaults filled in")
    secrets: dict[str, SecretState] = Field(
        description='Whether each secret is set, e.g. {"imap_password": "set"}: never a value'
    )
    interval_seconds: int
    timeout_seconds: float
    automation: Automation
    public: bool = Field(description="Charted on the public page")
    paused: bool
    role: Role = Field(description=ROLE_HELP)
    role_set: bool = Field(description="false: the role is the kind's default")
    severity: Severity = Field(description=SEVERITY_HELP)
    next_run_at: str | None
    last_run_at: str | None
    last_verdict: Verdict | None
    last_reason: str | None
    incident_id: str | None = Field(description="The incident its automation opened or fed")
    created_at: str | None
    updated_at: str | None


class ProbeResultOut(Schema):
    id: int
    monitor_id: str
    at: str | None
    verdict: Verdict
    reason: str
    values: dict[str, float]
    details: dict[str, Any]
    duration_ms: float
    lag_ms: float = Field(description="How late the run started after it was due")


class MonitorFields(Schema):
    name: Text255 | None = None
    kind: Kind | None = None
    component_id: Id | None = Field(None, description="The component it feeds; null: none")
    config: Metadata | None = Field(None, description="The kind's settings (see the docs)")
    secrets: dict[Text64, Secret | None] | None = Field(
        None, description="Secrets to set; null clears one; those left out keep their value"
    )
    interval_seconds: Interval | None = None
    timeout_seconds: Timeout | None = None
    automation: Automation | None = None
    public: bool | None = None
    paused: bool | None = None
    role: Role | None = Field(None, description=ROLE_HELP + "; null: back to that default")
    severity: Severity | None = Field(None, description=SEVERITY_HELP)


class MonitorCreateFields(MonitorFields):
    name: Text255
    kind: Kind


class MonitorCreateIn(Schema):
    monitor: MonitorCreateFields


class MonitorPatchIn(Schema):
    monitor: MonitorFields


class ResultsQuery(Paging):
    verdict: Verdict | None = Field(None, description="Only results with this verdict")
