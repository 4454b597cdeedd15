"""Accounts: users and roles, the first-run setup link, and the createuser/apikey CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from django.test import Client
from django.utils import timezone

from heliograph.accounts import users
from heliograph.accounts.models import SetupToken, User
from heliograph.accounts.setup import first_run_hint
from heliograph.audit.models import AuditEvent
from heliograph.lib.errors import InputError
from tests.support.live import scratch_database


def token_of(hint: str) -> str:
    return hint.split("/console/setup/")[1].split()[0]


def test_it_prints_a_setup_link_only_while_there_is_no_user(db: None) -> None:
    hint = first_run_hint()
    assert hint is not None and hint.startswith("No users yet: open http")
    assert token_of(hint) not in str(SetupToken.objects.values_list("token_hash", flat=True))
    users.create_user(username="ann", role="viewer", password="x" * 12, actor="test")
    assert first_run_hint() is None


def test_it_creates_the_owner_once_through_the_setup_link(db: None) -> None:
    hint = first_run_hint()
    assert hint is not None
    url = f"/console/setup/{token_of(hint)}"
    client = Client()
    assert b"Create the owner" in client.get(url).content
    short = client.post(url, {"username": "ann", "password": "short"})
    assert short.status_code == 400 and b"at least 10 characters" in short.content
    response = client.post(url, {"username": "ann", "password": "a long passphrase"})
    assert response.status_code == 302 and response["Location"] == "/console/"
    assert User.objects.get().role == "owner"
    assert client.get("/console/").status_code == 200  # logged in straight away
    again = Client().post(url, {"username": "eve", "password": "a long passphrase"})
    assert again.status_code == 404 and not User.objects.filter(username="eve").exists()


def test_it_refuses_an_expired_setup_link(db: None) -> None:
    hint = first_run_hint()
    assert hint is not None
    SetupToken.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    response = Client().get(f"/console/setup/{token_of(hint)}")
    assert response.status_code == 404 and b"expired" in response.content
    assert Client().get("/console/setup/made-up").status_code == 404


def test_it_keeps_at_least_one_owner(db: None) -> None:
    owner = users.create_user(username="ann", role="owner", password="x" * 12, actor="test")
    with pytest.raises(InputError, match="last active owner"):
        users.set_role(user=owner, role="admin", actor="test")
    with pytest.raises(InputError, match="last active owner"):
        users.set_active(user=owner, active=False, actor="test")
    with pytest.raises(InputError, match="already exists"):
        users.create_user(username="ANN", role="viewer", password="x" * 12, actor="test")
    with pytest.raises(InputError, match="unknown role"):
        users.create_user(username="bob", role="god", password="x" * 12, actor="test")
    event = AuditEvent.objects.get(action="user.create")
    assert event.after == {"username": "ann", "email": "", "role": "owner", "is_active": True}
    assert "password" not in str(event.after)


# -- the CLI, as a separate process on a database of its own -----------------------------


@pytest.fixture(scope="module")
def cli_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "HELIOGRAPH_BASE_URL")}
    env["HELIOGRAPH_DATA"] = str(tmp_path_factory.mktemp("cli"))
    with scratch_database() as url:
        if url:
            env["DATABASE_URL"] = url
        assert run(env, "migrate").returncode == 0
        assert run(env, "page", "create", "Example").returncode == 0
        yield env


def run(env: dict[str, str], *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "heliograph", *args],
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_it_creates_users_from_the_command_line(cli_env: dict[str, str]) -> None:
    made = run(
        cli_env,
        "createuser",
        "alice",
        "--role",
        "responder",
        "--password-stdin",
        stdin="a long passphrase\n",
    )
    assert made.returncode == 0, made.stderr
    assert "Created responder 'alice'" in made.stdout and "passphrase" not in made.stdout
    generated = run(cli_env, "createuser", "bob", "--role", "viewer", "--email", "b@example.com")
    assert generated.returncode == 0, generated.stderr
    assert "Password (shown once): " in generated.stdout
    again = run(
        cli_env,
        "createuser",
        "alice",
        "--role",
        "owner",
        "--password-stdin",
        stdin="a long passphrase\n",
    )
    assert again.returncode == 1 and "already exists" in again.stderr
    weak = run(
        cli_env, "createuser", "carol", "--role", "owner", "--password-stdin", stdin="short\n"
    )
    assert weak.returncode == 1 and "at least 10 characters" in weak.stderr


def test_it_creates_lists_and_revokes_api_keys(cli_env: dict[str, str], tmp_path: Path) -> None:
    made = run(cli_env, "apikey", "create", "deploy-bot", "--scope", "read", "--page", "Example")
    assert made.returncode == 0, made.stderr
    raw = made.stdout.rstrip("\n").splitlines()[-1]
    assert raw.startswith("hg_") and raw == raw.strip() and " " not in raw
    listing = run(cli_env, "apikey", "list")
    assert "deploy-bot" in listing.stdout and raw[:10] in listing.stdout
    assert raw not in listing.stdout
    as_json = run(cli_env, "apikey", "list", "--json")
    assert '"scope": "read"' in as_json.stdout and raw not in as_json.stdout
    revoked = run(cli_env, "apikey", "revoke", raw[:10])
    assert revoked.returncode == 0 and "Revoked key 'deploy-bot'" in revoked.stdout
    assert '"revoked_at": null' not in run(cli_env, "apikey", "list", "--json").stdout
    unknown = run(cli_env, "apikey", "revoke", "hg_nothing")
    assert unknown.returncode == 1 and "no single API key" in unknown.stderr
    bad = run(cli_env, "apikey", "create", "x", "--page", "Nowhere")
    assert bad.returncode == 1 and "no page" in bad.stderr
