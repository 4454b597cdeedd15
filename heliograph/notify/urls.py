"""Public subscriber URLs; the read path sends ``/notify/`` and the subscribe API here."""

from django.urls import path

from heliograph.notify import views

urlpatterns = [
    path("api/v2/subscribers.json", views.api_subscribe, name="notify-api-subscribe"),
    path("notify/subscribe", views.subscribe, name="notify-subscribe"),
    path("notify/confirm/<str:token>", views.confirm, name="notify-confirm"),
    path("notify/unsubscribe/<str:token>", views.unsubscribe, name="notify-unsubscribe"),
    path("notify/manage/<str:token>", views.manage, name="notify-manage"),
    path(
        "notify/manage/<str:token>/<str:action>", views.manage_webhook, name="notify-manage-webhook"
    ),
]
