"""Who may see a console view, which page it is about, and how results are shown."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from django.contrib.auth.views import redirect_to_login
from django.db.models import QuerySet
from django.forms import Form
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from heliograph.accounts.models import User
from heliograph.catalog.models import Page
from heliograph.console.forms import PICKER_CHOICES
from heliograph.lib.errors import InputError

View = Callable[..., HttpResponse]
T = TypeVar("T")
MANAGED = ("incidents", "components", "subscribers", "keys", "users")


def requires(permission: str) -> Callable[[View], View]:
    """Log in first; then the role must hold ``permission``, else a 403 page."""

    def decorate(view: View) -> View:
        @wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if not request.user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            if not user_of(request).can(permission):
                return show(request, "console/403.html", {"permission": permission}, status=403)
            return view(request, *args, **kwargs)

        return wrapper

    return decorate


def user_of(request: HttpRequest) -> User:
    assert isinstance(request.user, User)
    return request.user


def actor(request: HttpRequest) -> str:
    return f"user:{request.user.get_username()}"


def pages() -> QuerySet[Page]:
    return Page.objects.order_by("name")


def current_page(request: HttpRequest) -> Page | None:
    """The page chosen in the selector (kept in the session), else the first one."""
    chosen = request.GET.get("page") or request.session.get("page_id")
    page = pages().filter(pk=chosen).first() if chosen else None
    page = page or pages().first()
    if page is not None:
        request.session["page_id"] = page.pk
    return page


def show(
    request: HttpRequest, template: str, context: dict[str, Any] | None = None, status: int = 200
) -> HttpResponse:
    """Render with what every console screen needs: the user, their page, the page list."""
    base: dict[str, Any] = {
        "all_pages": pages(),
        "console_user": request.user,
        "picker_choices": PICKER_CHOICES,
    }
    if request.user.is_authenticated:
        base["can"] = {name: user_of(request).can(f"manage_{name}") for name in MANAGED}
        if "page" not in (context or {}):
            base["page"] = current_page(request)
    context = {**base, **(context or {})}
    # One clock: every time shown in the page's zone, UTC beside it (the ``both`` filter).
    context.setdefault("zone", context["page"].time_zone if context.get("page") else "UTC")
    if status == 200 and any(isinstance(v, Form) and v.errors for v in context.values()):
        status = 400  # the form comes back with its message; nothing was written
    return render(request, template, context, status=status)


def attempt(form: Form, call: Callable[[], T]) -> T | None:
    """Run a service call; bad input becomes a form error (the service wrote nothing)."""
    try:
        return call()
    except InputError as exc:
        form.add_error(None, str(exc))
        return None
