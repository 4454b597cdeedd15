"""Logging in and out, and the one-time first-owner setup."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.forms import AuthenticationForm
from django.contrib.auth.views import LoginView, LogoutView
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from heliograph.accounts import setup, throttle
from heliograph.console.access import attempt, show
from heliograph.console.forms import SetupForm


class ConsoleLogin(LoginView):
    template_name = "console/login.html"
    redirect_authenticated_user = True


def locked_out(
    request: HttpRequest, response: HttpResponse | None, credentials: dict[str, str] | None
) -> HttpResponse:
    """axes' answer (``AXES_LOCKOUT_CALLABLE``) when this username or address is locked:
    the login page again, saying for how long, with 429."""
    username = request.POST.get("username", "")
    context = {
        "form": AuthenticationForm(request, initial={"username": username}),
        "locked": throttle.lockout_message(request, credentials),
        "next": request.POST.get("next", ""),
    }
    return render(request, "console/login.html", context, status=429)


logout_view = LogoutView.as_view(next_page="console:login")
login_view = ConsoleLogin.as_view()


def setup_view(request: HttpRequest, token: str) -> HttpResponse:
    if not setup.token_is_usable(token):
        return show(request, "console/setup.html", {"expired": True}, status=404)
    form = SetupForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        user = attempt(
            form,
            lambda: setup.create_owner(
                token=token,
                username=data["username"],
                password=data["password"],
                email=data["email"],
            ),
        )
        if user is not None:
            login(request, user, backend="django.contrib.auth.backends.ModelBackend")
            messages.success(request, f"Welcome, {user.username}: you are the owner.")
            return redirect("console:dashboard")
    return show(request, "console/setup.html", {"form": form})
