"""Console login throttling: 10 failures within 15 minutes lock that username (from any
address) and, separately, that address (for any username), for 15 minutes. The counts
are in the database, so every process and node shares them. The clock is moved, not
waited for."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
import time_machine
from django.test import Client
from django.utils import timezone

from heliograph.accounts.models import User
from heliograph.accounts.setup import first_run_hint
from tests.support.world import USER_PASSWORD, make_user

LOCKED = "Too many failed attempts; try again in {} minutes."
ATTACKER, OFFICE, HOME = "203.0.113.7", "198.51.100.20", "192.0.2.44"


@pytest.fixture(autouse=True)
def fast_hashing(settings: Any) -> None:
    """Dozens of attempts: Argon2's deliberate slowness is not what is tested here."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def rita(db: None) -> User:
    return make_user("responder", "rita")


@pytest.fixture
def clock() -> Iterator[time_machine.Coordinates]:
    with time_machine.travel(timezone.now(), tick=False) as traveller:
        yield traveller


def log_in(username: str, password: str, address: str, **headers: str) -> Any:
    """One attempt from a fresh browser at ``address``."""
    return Client(REMOTE_ADDR=address, **headers).post(
        "/console/login", {"username": username, "password": password}
    )


def assert_logged_in(response: Any) -> None:
    assert response.status_code == 302 and response["Location"] == "/console/"


def assert_locked(response: Any, minutes: int = 15) -> None:
    assert response.status_code == 429
    page = response.content.decode()
    assert LOCKED.format(minutes) in page
    assert 'name="password"' in page  # still the login page, saying why


def test_it_locks_an_account_after_ten_wrong_passwords_even_from_elsewhere(
    rita: User, clock: time_machine.Coordinates
) -> None:
    for _ in range(9):
        wrong = log_in("rita", "guess", ATTACKER)
        assert wrong.status_code == 200
        assert "do not match an active user" in wrong.content.decode()
    assert_locked(log_in("rita", "guess", ATTACKER))
    assert_locked(log_in("rita", USER_PASSWORD, OFFICE))  # the right password, elsewhere
    other = make_user("admin")
    assert_logged_in(log_in(other.username, USER_PASSWORD, OFFICE))  # only rita is locked


def test_it_locks_an_address_that_tries_many_usernames(
    rita: User, clock: time_machine.Coordinates
) -> None:
    for n in range(9):
        assert log_in(f"user{n}", "guess", ATTACKER).status_code == 200
    assert_locked(log_in("root", "guess", ATTACKER))
    assert_locked(log_in("rita", USER_PASSWORD, ATTACKER))  # that address, any username
    assert_logged_in(log_in("rita", USER_PASSWORD, HOME))  # rita herself is not locked


def test_it_says_how_many_minutes_are_left_and_lets_in_after_the_cool_off(
    rita: User, clock: time_machine.Coordinates
) -> None:
    for _ in range(10):
        log_in("rita", "guess", ATTACKER)
    clock.shift(timedelta(minutes=6, seconds=30))
    assert_locked(log_in("rita", USER_PASSWORD, HOME), minutes=9)
    clock.shift(timedelta(minutes=8))
    one = log_in("rita", USER_PASSWORD, HOME)
    assert one.status_code == 429
    assert "Too many failed attempts; try again in 1 minute." in one.content.decode()
    clock.shift(timedelta(seconds=31))  # 15 minutes after the tenth failure
    assert_logged_in(log_in("rita", USER_PASSWORD, HOME))
    assert_logged_in(log_in("rita", USER_PASSWORD, ATTACKER))


def test_it_forgets_failures_older_than_the_window(
    rita: User, clock: time_machine.Coordinates
) -> None:
    for _ in range(9):
        log_in("rita", "guess", ATTACKER)
    clock.shift(timedelta(minutes=16))
    assert log_in("rita", "guess", ATTACKER).status_code == 200  # 1 in 15 minutes, not 10
    assert_logged_in(log_in("rita", USER_PASSWORD, ATTACKER))


def test_it_counts_the_visitor_behind_a_trusted_proxy_not_the_proxy(
    rita: User, clock: time_machine.Coordinates, settings: Any
) -> None:
    settings.HELIOGRAPH_TRUSTED_PROXIES = "127.0.0.1/32"
    nginx = "127.0.0.1"
    for n in range(10):
        response = log_in(f"user{n}", "guess", nginx, HTTP_X_FORWARDED_FOR=ATTACKER)
    assert_locked(response)
    assert_logged_in(log_in("rita", USER_PASSWORD, nginx, HTTP_X_FORWARDED_FOR=HOME))
    # A client's own claim in front of what nginx saw does not get it a fresh address.
    spoofed = f"{HOME}, {ATTACKER}"
    assert_locked(log_in("rita", USER_PASSWORD, nginx, HTTP_X_FORWARDED_FOR=spoofed))


def test_it_keeps_the_setup_link_working(db: None) -> None:
    """The first owner logs in through the one-time link, not the password form."""
    hint = first_run_hint()
    assert hint is not None
    url = "/console/setup/" + hint.split("/console/setup/")[1].split()[0]
    client = Client(REMOTE_ADDR=OFFICE)
    made = client.post(url, {"username": "olga", "password": USER_PASSWORD})
    assert made.status_code == 302 and client.get("/console/").status_code == 200
    assert_logged_in(log_in("olga", USER_PASSWORD, HOME))
