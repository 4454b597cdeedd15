"""API keys (admin) and users (owner)."""

from __future__ import annotations

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.views.decorators.http import require_POST

from heliograph.accounts import users
from heliograph.accounts.keys import create_key, revoke_key
from heliograph.accounts.models import ApiKey, User
from heliograph.accounts.roles import ROLES
from heliograph.catalog.models import Page
from heliograph.console.access import actor, attempt, requires, show, user_of
from heliograph.console.forms import KeyForm, RoleForm, UserForm


@requires("manage_keys")
def keys(request: HttpRequest) -> HttpResponse:
    form = KeyForm(request.POST or None)
    shown: str | None = None
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        made = attempt(
            form,
            lambda: create_key(
                name=data["name"],
                scope=data["scope"],
                page=Page.objects.filter(pk=data["page"]).first() if data["page"] else None,
                created_by=user_of(request),
                actor=actor(request),
            ),
        )
        if made is not None:
            # Rendered in this response only: the raw key is never stored or shown again.
            shown, form = made[1], KeyForm()
    return show(
        request,
        "console/keys.html",
        {
            "form": form,
            "shown": shown,
            "section": "keys",
            "keys": ApiKey.objects.select_related("page", "created_by"),
        },
    )


@requires("manage_keys")
@require_POST
def key_revoke(request: HttpRequest, key_id: int) -> HttpResponse:
    key = ApiKey.objects.filter(pk=key_id).first()
    if key is None:
        raise Http404("no such key")
    revoke_key(key=key, actor=actor(request))
    messages.success(request, f"Revoked “{key.name}”; requests with it are refused from now on.")
    return redirect("console:keys")


@requires("manage_users")
def user_list(request: HttpRequest) -> HttpResponse:
    form = UserForm(request.POST or None)
    password: str | None = None
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        chosen = data["password"] or users.generate_password()
        made = attempt(
            form,
            lambda: users.create_user(
                username=data["username"],
                email=data["email"],
                role=data["role"],
                password=chosen,
                actor=actor(request),
            ),
        )
        if made is not None:
            messages.success(request, f"Created {made.role} “{made.username}”.")
            if not data["password"]:
                password = chosen  # generated: shown once, in this response
            form = UserForm()
    return show(
        request,
        "console/users.html",
        {
            "form": form,
            "password": password,
            "section": "users",
            "users": User.objects.order_by("username"),
            "roles": ROLES,
        },
    )


def _user(user_id: int) -> User:
    found = User.objects.filter(pk=user_id).first()
    if found is None:
        raise Http404("no such user")
    return found


@requires("manage_users")
@require_POST
def user_role(request: HttpRequest, user_id: int) -> HttpResponse:
    user, form = _user(user_id), RoleForm(request.POST)
    changed = (
        form.is_valid()
        and attempt(
            form,
            lambda: users.set_role(user=user, role=form.cleaned_data["role"], actor=actor(request)),
        )
        is not None
    )
    if changed:
        messages.success(request, f"{user.username} is now {user.role}.")
        return redirect("console:users")
    return _user_error(request, form.errors.as_text())


@requires("manage_users")
@require_POST
def user_active(request: HttpRequest, user_id: int) -> HttpResponse:
    user, form = _user(user_id), RoleForm()
    active = request.POST.get("active") == "1"
    if attempt(form, lambda: users.set_active(user=user, active=active, actor=actor(request))):
        state = "reactivated" if active else "deactivated: they can no longer log in"
        messages.success(request, f"{user.username} {state}.")
        return redirect("console:users")
    return _user_error(request, form.errors.as_text())


def _user_error(request: HttpRequest, text: str) -> HttpResponse:
    return show(
        request,
        "console/users.html",
        {
            "form": UserForm(),
            "error": text.replace("* __all__\n  * ", ""),
            "section": "users",
            "users": User.objects.order_by("username"),
            "roles": ROLES,
        },
        status=400,
    )
