"""Debian chromium driven by Playwright, with JavaScript off (every page must work without)."""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator
from typing import Any

import pytest

ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def require_chromium() -> str:
    """The chromium path; skips the calling module without it (fails when it is required)."""
    path = shutil.which("chromium")
    if path is None:
        if os.environ.get("HELIOGRAPH_REQUIRE_BROWSER") == "1":
            raise RuntimeError("browser tests are required but Debian's chromium is not installed")
        pytest.skip("browser tests skipped: install Debian's chromium", allow_module_level=True)
    return path


@contextlib.contextmanager
def page_without_javascript(chromium: str) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=ARGS)
        yield browser.new_context(java_script_enabled=False).new_page()
        browser.close()
