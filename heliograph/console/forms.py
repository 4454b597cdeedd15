"""Console forms: they check shapes; the service functions check meaning."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from django import forms
from django.utils import timezone

from heliograph.accounts.models import ApiKey
from heliograph.accounts.roles import ROLES
from heliograph.catalog.models import Component, Page
from heliograph.catalog.status import COMPONENT_STATUS_LABELS, COMPONENT_STATUSES
from heliograph.incidents.lifecycle import (
    IMPACTS,
    MAINTENANCE_STATUSES,
    STATUS_LABELS,
    UNRESOLVED,
    Status,
)
from heliograph.incidents.models import CHANGE_SOURCES

INCIDENT_STATUS_CHOICES = [(s, STATUS_LABELS[s]) for s in (*UNRESOLVED, Status.RESOLVED)]
PICKER_CHOICES = [("", "Not affected")] + [
    (s, COMPONENT_STATUS_LABELS[s]) for s in COMPONENT_STATUSES
]
LOCAL_INPUT = forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M")


def set_choices(form: forms.Form, name: str, choices: list[tuple[str, str]]) -> None:
    field = form.fields[name]
    assert isinstance(field, forms.ChoiceField)
    field.choices = choices


class LocalDateTimeField(forms.DateTimeField):
    """A datetime-local input: a wall-clock time in the zone its ``ZonedForm`` chose."""

    widget = LOCAL_INPUT
    zone: ZoneInfo = ZoneInfo("UTC")

    def prepare_value(self, value: Any) -> Any:
        if isinstance(value, datetime) and value.tzinfo is not None:
            return value.astimezone(self.zone).replace(tzinfo=None)
        return value

    def to_python(self, value: Any) -> datetime | None:
        result = super().to_python(value)  # read in Django's current zone: back to as typed
        if result is None:
            return None
        return timezone.localtime(result).replace(tzinfo=None).replace(tzinfo=self.zone)


class ZonedForm(forms.Form):
    """Times typed in the page's zone, unless the responder picks UTC (one clock with what
    the console shows)."""

    time_zone = forms.ChoiceField(label="Time zone", required=False, choices=[])

    def __init__(self, *args: Any, zone: ZoneInfo, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        name = str(zone)
        set_choices(self, "time_zone", [(name, name)] + ([("UTC", "UTC")] * (name != "UTC")))
        self.fields["time_zone"].initial = name
        for field in self._times():
            field.zone = zone

    def _times(self) -> list[LocalDateTimeField]:
        return [f for f in self.fields.values() if isinstance(f, LocalDateTimeField)]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("time_zone") == "UTC":  # the same wall-clock time, read as UTC
            for name, field in self.fields.items():
                if isinstance(field, LocalDateTimeField) and data.get(name):
                    data[name] = data[name].replace(tzinfo=ZoneInfo("UTC"))
        return data


class SetupForm(forms.Form):
    username = forms.CharField(max_length=150)
    email = forms.EmailField(required=False)
    password = forms.CharField(widget=forms.PasswordInput)


class UpdateForm(forms.Form):
    status = forms.ChoiceField(choices=INCIDENT_STATUS_CHOICES)
    body = forms.CharField(widget=forms.Textarea, strip=False, label="Message (markdown)")
    deliver_notifications = forms.BooleanField(
        required=False, initial=True, label="Notify subscribers"
    )


class IncidentForm(UpdateForm):
    name = forms.CharField(max_length=255, label="Title")
    field_order = ["name", "status", "body"]


class MaintenanceUpdateForm(UpdateForm):
    status = forms.ChoiceField(choices=[(s, STATUS_LABELS[s]) for s in MAINTENANCE_STATUSES])


class MaintenanceForm(ZonedForm):
    name = forms.CharField(max_length=255, label="Title")
    body = forms.CharField(widget=forms.Textarea, label="Details (markdown)")
    scheduled_for = LocalDateTimeField(label="Starts")
    scheduled_until = LocalDateTimeField(label="Ends")
    remind_prior = forms.BooleanField(
        required=False, initial=False, label="Remind subscribers an hour before"
    )
    auto_in_progress = forms.BooleanField(
        required=False, initial=True, label="Start it automatically at its start time"
    )
    auto_completed = forms.BooleanField(
        required=False, initial=True, label="Complete it automatically at its end time"
    )


class RescheduleForm(ZonedForm):
    scheduled_for = LocalDateTimeField(label="Starts")
    scheduled_until = LocalDateTimeField(label="Ends")


class DetailsForm(forms.Form):
    name = forms.CharField(max_length=255, label="Title")
    reference = forms.CharField(max_length=64, required=False, label="Reference")
    impact_override = forms.ChoiceField(
        required=False,
        label="Impact",
        choices=[("", "From the components' statuses")] + [(i, i) for i in IMPACTS],
    )


class PostmortemForm(forms.Form):
    body = forms.CharField(
        widget=forms.Textarea(attrs={"class": "long"}), strip=False, label="Postmortem (markdown)"
    )


class CauseForm(forms.Form):
    cause = forms.ChoiceField(label="Caused by", choices=[])


class ChangeForm(ZonedForm):
    title = forms.CharField(max_length=255)
    at = LocalDateTimeField(label="When", required=False)
    source = forms.ChoiceField(choices=[(s, s) for s in CHANGE_SOURCES], label="Kind")
    link = forms.URLField(required=False, assume_scheme="https")


class GroupForm(forms.Form):
    name = forms.CharField(max_length=255)
    description = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), required=False)


class ComponentForm(GroupForm):
    group = forms.ChoiceField(required=False, choices=[])

    def __init__(self, *args: Any, page: Page, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        choices: list[tuple[str, str]] = [("", "No group")]
        set_choices(self, "group", choices + [(g.pk, g.name) for g in page.groups.all()])


class TemplateForm(forms.Form):
    name = forms.CharField(max_length=255, label="Template name")
    title = forms.CharField(max_length=255, label="Incident title")
    body = forms.CharField(widget=forms.Textarea, label="Message (markdown)")
    update_status = forms.ChoiceField(choices=INCIDENT_STATUS_CHOICES, label="Status")


class KeyForm(forms.Form):
    name = forms.CharField(max_length=255)
    scope = forms.ChoiceField(choices=[(ApiKey.WRITE, "write"), (ApiKey.READ, "read")])
    page = forms.ChoiceField(required=False, choices=[], label="Limited to page")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        choices: list[tuple[str, str]] = [("", "All pages")]
        set_choices(self, "page", choices + [(p.pk, p.name) for p in Page.objects.order_by("name")])


class UserForm(forms.Form):
    username = forms.CharField(max_length=150)
    email = forms.EmailField(required=False)
    role = forms.ChoiceField(choices=[(r, r) for r in ROLES], initial="responder")
    password = forms.CharField(
        widget=forms.PasswordInput,
        required=False,
        help_text="leave empty to generate one (shown once)",
    )


class RoleForm(forms.Form):
    role = forms.ChoiceField(choices=[(r, r) for r in ROLES])


class AuditFilterForm(forms.Form):
    actor = forms.CharField(required=False)
    action = forms.CharField(required=False)
    target_type = forms.CharField(required=False, label="Target type")
    since = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    until = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))


def picker_rows(page: Page, chosen: Mapping[str, str]) -> list[dict[str, Any]]:
    """One row per component: its current status and the status this update sets."""
    return [
        {"component": c, "field": f"c-{c.pk}", "chosen": chosen.get(c.pk, "")}
        for c in page.components.select_related("group").order_by("group__position", "position")
    ]


def read_picker(data: Mapping[str, Any], page: Page) -> dict[Component, str]:
    """The statuses picked in the form, for the components given one."""
    return {c: data[f"c-{c.pk}"] for c in page.components.all() if data.get(f"c-{c.pk}", "")}


def picked(data: Mapping[str, Any]) -> dict[str, str]:
    """The picker's raw choices by component id, to show the form again as it was sent."""
    return {k[2:]: v for k, v in data.items() if k.startswith("c-") and v}
