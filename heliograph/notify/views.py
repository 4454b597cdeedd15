"""Public subscribe, confirm, unsubscribe and manage pages, and ``POST /api/v2/subscribers.json``.

Thin: the work is in ``heliograph.notify.subscriptions``. Every answer to a subscribe
request is the same whether or not the address was already on the list.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from heliograph.catalog.models import Page
from heliograph.incidents.lifecycle import FOLLOWABLE
from heliograph.incidents.models import Incident
from heliograph.lib import cors, networks
from heliograph.lib.errors import InputError
from heliograph.lib.netguard import trusted_proxies
from heliograph.lib.ratelimit import TokenBucket
from heliograph.notify import mail_health, subscriptions
from heliograph.notify.models import Subscriber
from heliograph.publish.html import page_context

# Public subscribe: a burst of 10, then one a minute, per client address, in this process.
SUBSCRIBE_BURST = 10
SUBSCRIBE_PER_MINUTE = 1.0
API_METHODS = "POST, OPTIONS"
_limiter: TokenBucket | None = None

WEBHOOK_REGISTERED = (
    "If the URL can be subscribed, it now receives updates, and the contact address gets "
    "the secret that signs them."
)
NO_EMAIL = "this page does not send e-mail yet: follow its feed, or subscribe a webhook"
CHECK_INBOX = (
    "If the address can be subscribed, a confirmation e-mail is on its way. "
    "Follow the link in it to start receiving notifications."
)


def reset_rate_limit() -> None:
    """Forget every client (tests)."""
    global _limiter
    _limiter = None


def _wait(request: HttpRequest) -> int:
    global _limiter
    if _limiter is None:
        _limiter = TokenBucket(SUBSCRIBE_PER_MINUTE, burst=SUBSCRIBE_BURST)
    return _limiter.take(("subscribe", _client(request)))


def _client(request: HttpRequest) -> str:
    """The visitor's address, also behind nginx (``HELIOGRAPH_TRUSTED_PROXIES``)."""
    return networks.client_address(
        request.META.get("REMOTE_ADDR", ""),
        request.META.get("HTTP_X_FORWARDED_FOR", ""),
        trusted_proxies(),
    )


def _page(request: HttpRequest) -> Page | None:
    """The page this host answers for, else the first page (as the read path does)."""
    host = request.get_host().split(":")[0].lower()
    pages = Page.objects.order_by("created_at")
    return pages.filter(domain__iexact=host).first() or pages.first()


def _html(
    request: HttpRequest, page: Page, template: str, context: dict[str, Any], status: int = 200
) -> HttpResponse:
    response = render(
        request, f"notify/public/{template}", {**page_context(page), **context}, status=status
    )
    response["Cache-Control"] = "no-store"
    return response


def _message(
    request: HttpRequest, page: Page, heading: str, text: str, status: int = 200
) -> HttpResponse:
    context = {"title": heading, "heading": heading, "text": text}
    return _html(request, page, "message.html", context, status)


def _too_many(wait: int, response: HttpResponse) -> HttpResponse:
    response.status_code = 429
    response["Retry-After"] = str(wait)
    return response


# --- the JSON API -----------------------------------------------------------------------------


@csrf_exempt
def api_subscribe(request: HttpRequest) -> HttpResponse:
    """Statuspage's public ``POST /api/v2/subscribers.json``, which other sites' scripts call
    (hence CORS, preflight included, on every answer)."""
    if request.method == "OPTIONS":
        return _with_headers(HttpResponse(status=204), cors.preflight(API_METHODS))
    if request.method == "POST":
        response = _api_subscribe(request)
    else:
        text = f"{request.method} is not allowed here: subscribe with POST"
        response = JsonResponse({"error": text}, status=405)
        response["Allow"] = API_METHODS
    response["Cache-Control"] = "no-store"
    return _with_headers(response, cors.SIMPLE)


def _with_headers(response: HttpResponse, headers: list[tuple[str, str]]) -> HttpResponse:
    for name, value in headers:
        response[name] = value
    return response


def _api_subscribe(request: HttpRequest) -> HttpResponse:
    """Form fields ``subscriber[…]``, as Statuspage documents them."""
    wait = _wait(request)
    if wait:
        return _too_many(
            wait, JsonResponse({"error": f"Too many requests: retry in {wait} seconds"})
        )
    page = _page(request)
    if page is None:
        return JsonResponse({"error": "No status page here"}, status=404)
    email = request.POST.get("subscriber[email]", "")
    endpoint = request.POST.get("subscriber[endpoint]", "")
    component_ids = request.POST.getlist("subscriber[component_ids][]")
    try:
        if endpoint:
            subscriptions.subscribe_webhook(
                page=page, endpoint=endpoint, email=email, component_ids=component_ids
            )
        else:
            _check_mail_goes_out()
            subscriptions.subscribe_email(page=page, email=email, component_ids=component_ids)
    except InputError as exc:
        return JsonResponse({"error": str(exc)}, status=422)
    mode = "webhook" if endpoint else "email"
    message = "Subscribed." if endpoint else CHECK_INBOX
    body = {"subscriber": {"mode": mode, "component_ids": component_ids}, "message": message}
    return JsonResponse(body, status=201)


# --- the HTML pages ---------------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
def subscribe(request: HttpRequest) -> HttpResponse:
    """E-mail (whole page, some components, or one incident) or webhook, as on Statuspage."""
    page = _page(request)
    if page is None or not page.allow_subscribers:
        return HttpResponse("Not found\n", status=404, content_type="text/plain")
    data = request.POST if request.method == "POST" else request.GET
    incident = _open_incident(page, data.get("incident", ""))
    context: dict[str, Any] = {
        "title": "Subscribe",
        "components": list(page.components.order_by("position", "name")),
        "chosen": data.getlist("component_ids"),
        "incident": incident,
        "mode": "webhook" if data.get("mode") == "webhook" and not incident else "email",
        "email": data.get("email", ""),
        "endpoint": data.get("endpoint", ""),
        "mail_works": mail_health.configured(),
        "feeds": page.allow_feeds,
    }
    if request.method == "GET":
        return _html(request, page, "subscribe.html", context)
    wait = _wait(request)
    if wait:
        text = f"Too many subscribe requests from your address. Try again in {wait} seconds."
        return _too_many(wait, _message(request, page, "Please wait", text))
    try:
        _subscribe_from_form(page, context)
    except InputError as exc:
        context["error"] = str(exc).capitalize()
        return _html(request, page, "subscribe.html", context, status=422)
    if context["mode"] == "webhook":
        return _message(request, page, "Webhook registered", WEBHOOK_REGISTERED)
    return _message(request, page, "Check your inbox", CHECK_INBOX)


def _open_incident(page: Page, incident_id: str) -> Incident | None:
    """The incident to follow: an unresolved incident or a maintenance not yet over."""
    if not incident_id:
        return None
    return page.incidents.filter(pk=incident_id, status__in=FOLLOWABLE, draft=False).first()


def _check_mail_goes_out() -> None:
    """No promise of an e-mail that will not come."""
    if not mail_health.configured():
        raise InputError(NO_EMAIL)


def _subscribe_from_form(page: Page, form: dict[str, Any]) -> None:
    if form["mode"] == "webhook":
        subscriptions.subscribe_webhook(
            page=page,
            endpoint=form["endpoint"],
            email=form["email"],
            component_ids=form["chosen"],
        )
    else:
        _check_mail_goes_out()
        subscriptions.subscribe_email(
            page=page,
            email=form["email"],
            incident=form["incident"],
            component_ids=[] if form["incident"] else form["chosen"],
        )


def _not_found(request: HttpRequest, page: Page) -> HttpResponse:
    text = "This link is not valid. It may be mistyped, or it belongs to another page."
    return _message(request, page, "Link not found", text, status=404)


@require_http_methods(["GET", "POST"])
def confirm(request: HttpRequest, token: str) -> HttpResponse:
    """GET asks, POST confirms: mail scanners that open every link must not opt people in."""
    try:
        subscriber = (subscriptions.find if request.method == "GET" else subscriptions.confirm)(
            token=token
        )
    except InputError:
        page = _page(request)
        return _not_found(request, page) if page else HttpResponse(status=404)
    if subscriber.unsubscribed_at:
        text = "This address was unsubscribed; subscribe again from the status page."
        return _message(request, subscriber.page, "Not subscribed", text)
    if subscriber.confirmed_at is None:
        context = {"title": "Confirm your subscription", "subscriber": subscriber}
        return _html(request, subscriber.page, "confirm.html", context)
    text = f"You will now be notified of incidents and maintenance on {subscriber.page.name}."
    return _message(request, subscriber.page, "Subscription confirmed", text)


@csrf_exempt  # RFC 8058 one-click: mail clients POST without a CSRF token
@require_http_methods(["GET", "POST"])
def unsubscribe(request: HttpRequest, token: str) -> HttpResponse:
    if request.method == "GET":
        try:
            subscriber = subscriptions.find(token=token)
        except InputError:
            page = _page(request)
            return _not_found(request, page) if page else HttpResponse(status=404)
        if subscriber.unsubscribed_at:
            return _unsubscribed(request, subscriber)
        context = {"title": "Unsubscribe", "subscriber": subscriber}
        return _html(request, subscriber.page, "unsubscribe.html", context)
    try:
        subscriber = subscriptions.unsubscribe(token=token)
    except InputError:
        page = _page(request)
        return _not_found(request, page) if page else HttpResponse(status=404)
    return _unsubscribed(request, subscriber)


def _unsubscribed(request: HttpRequest, subscriber: Subscriber) -> HttpResponse:
    text = f"{subscriber} will get no more notifications from {subscriber.page.name}."
    return _message(request, subscriber.page, "You are unsubscribed", text)


@require_http_methods(["GET"])
def manage(request: HttpRequest, token: str) -> HttpResponse:
    try:
        subscriber = subscriptions.find(token=token)
    except InputError:
        page = _page(request)
        return _not_found(request, page) if page else HttpResponse(status=404)
    if subscriber.unsubscribed_at:
        state = "unsubscribed"
    elif subscriber.quarantined_at:
        state = "paused after repeated delivery failures"
    elif subscriber.confirmed_at:
        state = "active"
    else:
        state = "waiting for confirmation (see the e-mail we sent)"
    chosen = list(subscriber.components.order_by("position", "name"))
    context = {
        "title": "Your subscription",
        "subscriber": subscriber,
        "state": state,
        "components": [c.name for c in chosen],
        "choices": list(subscriber.page.components.order_by("position", "name")),
        "chosen": {c.pk for c in chosen},
    }
    return _html(request, subscriber.page, "manage.html", context)


def _choose_components(request: HttpRequest, token: str) -> HttpResponse:
    ids = request.POST.getlist("component_ids")
    try:
        subscriber = subscriptions.choose_components(token=token, component_ids=ids)
    except InputError as exc:
        page = _page(request)
        if page is None:
            return HttpResponse(status=404)
        return _message(request, page, "Not changed", str(exc).capitalize() + ".", status=422)
    return redirect(f"/notify/manage/{subscriber.unsubscribe_token}")


@require_http_methods(["POST"])
def manage_action(request: HttpRequest, token: str, action: str) -> HttpResponse:
    """From the manage page: choose components; reactivate a quarantined webhook, or e-mail
    it a new secret."""
    if action == "components":
        return _choose_components(request, token)
    change = {"reactivate": subscriptions.reactivate, "secret": subscriptions.renew_secret}
    try:
        subscriber = change[action](token=token)
    except (InputError, KeyError):
        page = _page(request)
        return _not_found(request, page) if page else HttpResponse(status=404)
    if action == "secret":
        text = f"A new signing secret is on its way to {subscriber.email}. The old one is void."
        return _message(request, subscriber.page, "New secret sent", text)
    text = f"{subscriber.endpoint} receives notifications again."
    return _message(request, subscriber.page, "Webhook reactivated", text)
