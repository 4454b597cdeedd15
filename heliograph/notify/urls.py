"""Public subscriber URLs; the read path leaves ``/notify/`` and the subscribe API to
Django (their prefixes come from this table: ``heliograph.urls.django_prefixes``)."""

from django.urls import include, path

from heliograph.notify import views

pages = [
    path("subscribe", views.subscribe, name="notify-subscribe"),
    path("confirm/<str:token>", views.confirm, name="notify-confirm"),
    path("unsubscribe/<str:token>", views.unsubscribe, name="notify-unsubscribe"),
    path("manage/<str:token>", views.manage, name="notify-manage"),
    path("manage/<str:token>/<str:action>", views.manage_action, name="notify-manage-action"),
]

urlpatterns = [
    path("api/v2/subscribers.json", views.api_subscribe, name="notify-api-subscribe"),
    path("notify/", include(pages)),
]
