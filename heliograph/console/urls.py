"""The responders' console (session auth, CSRF, roles)."""

from django.urls import URLPattern, path

from heliograph.console.views import (
    audit,
    auth,
    canned,
    catalog,
    dashboard,
    incidents,
    monitors,
    people,
    planning,
    postmortems,
    subscribers,
)

app_name = "console"
urlpatterns: list[URLPattern] = [
    path("", dashboard.dashboard, name="dashboard"),
    path("login", auth.login_view, name="login"),
    path("logout", auth.logout_view, name="logout"),
    path("setup/<str:token>", auth.setup_view, name="setup"),
    path("incidents", incidents.incident_list, name="incidents"),
    path("incidents/new", incidents.incident_new, name="incident_new"),
    path("incidents/<str:incident_id>", incidents.incident_detail, name="incident"),
    path("incidents/<str:incident_id>/reopen", incidents.incident_reopen, name="incident_reopen"),
    path(
        "incidents/<str:incident_id>/details", incidents.incident_details, name="incident_details"
    ),
    path("incidents/<str:incident_id>/cause", incidents.incident_cause, name="incident_cause"),
    path("incidents/<str:incident_id>/postmortem", postmortems.postmortem, name="postmortem"),
    path("updates/<str:update_id>/edit", incidents.update_edit, name="update_edit"),
    path("maintenance", planning.maintenance_list, name="maintenance"),
    path(
        "maintenance/<str:maintenance_id>/reschedule",
        planning.maintenance_reschedule,
        name="maintenance_reschedule",
    ),
    path(
        "maintenance/<str:maintenance_id>/overrun",
        planning.overrun_incident,
        name="overrun_incident",
    ),
    path("changes", planning.change_list, name="changes"),
    path("components", catalog.components, name="components"),
    path("components/new", catalog.component_create, name="component_create"),
    path("components/<str:component_id>", catalog.component_edit, name="component_edit"),
    path("components/<str:component_id>/move", catalog.component_move, name="component_move"),
    path("components/<str:component_id>/delete", catalog.component_delete, name="component_delete"),
    path("groups/new", catalog.group_create, name="group_create"),
    path("groups/<str:group_id>", catalog.group_edit, name="group_edit"),
    path("groups/<str:group_id>/move", catalog.group_move, name="group_move"),
    path("groups/<str:group_id>/delete", catalog.group_delete, name="group_delete"),
    path("templates", canned.template_list, name="templates"),
    path("templates/<str:template_id>", canned.template_edit, name="template_edit"),
    path("templates/<str:template_id>/delete", canned.template_delete, name="template_delete"),
    path("keys", people.keys, name="keys"),
    path("keys/<int:key_id>/revoke", people.key_revoke, name="key_revoke"),
    path("users", people.user_list, name="users"),
    path("users/<int:user_id>/role", people.user_role, name="user_role"),
    path("users/<int:user_id>/active", people.user_active, name="user_active"),
    path("audit", audit.audit_log, name="audit"),
    path("subscribers", subscribers.subscriber_list, name="subscribers"),
    path("subscribers/new", subscribers.subscriber_new, name="subscriber_new"),
    path("subscribers/export", subscribers.subscriber_export, name="subscriber_export"),
    path("subscribers/<str:subscriber_id>", subscribers.subscriber_detail, name="subscriber"),
    path(
        "subscribers/<str:subscriber_id>/unsubscribe",
        subscribers.subscriber_unsubscribe,
        name="subscriber_unsubscribe",
    ),
    path(
        "subscribers/<str:subscriber_id>/resend",
        subscribers.subscriber_resend,
        name="subscriber_resend",
    ),
    path(
        "subscribers/<str:subscriber_id>/reactivate",
        subscribers.subscriber_reactivate,
        name="subscriber_reactivate",
    ),
    path(
        "subscribers/<str:subscriber_id>/components",
        subscribers.subscriber_components,
        name="subscriber_components",
    ),
    path(
        "subscribers/<str:subscriber_id>/rotate-secret",
        subscribers.subscriber_rotate_secret,
        name="subscriber_rotate_secret",
    ),
    path("notifications", subscribers.notification_list, name="notifications"),
    path(
        "notifications/<str:notification_id>",
        subscribers.notification_detail,
        name="notification",
    ),
]
urlpatterns += [
    path("monitors", monitors.monitor_list, name="monitors"),
    path("monitors/new", monitors.monitor_new, name="monitor_new"),
    path("monitors/<str:monitor_id>", monitors.monitor_detail, name="monitor"),
    path("monitors/<str:monitor_id>/edit", monitors.monitor_edit, name="monitor_edit"),
    path("monitors/<str:monitor_id>/run", monitors.monitor_run, name="monitor_run"),
    path("monitors/<str:monitor_id>/pause", monitors.monitor_pause, name="monitor_pause"),
    path("monitors/<str:monitor_id>/resume", monitors.monitor_resume, name="monitor_resume"),
    path("monitors/<str:monitor_id>/delete", monitors.monitor_delete, name="monitor_delete"),
]
