"""The ``heliograph`` command: Django management under a friendlier face."""

from __future__ import annotations

import argparse
import os
import sys

SERVING = ("run", "demo")
DEFAULT_HOST, DEFAULT_PORT = "127.0.0.1", 8000
DEMO_DATA = os.path.join("var", "demo")

COMMANDS = {
    "run": "migrate, publish and serve the status page",
    "demo": "like run, with the OpenSRS example loaded (its own data in var/demo)",
    "publish": "render the public artifacts now (or --watch to keep publishing)",
    "page": "create, change or list pages",
    "group": "create component groups",
    "component": "create components, set their status",
    "incident": "open, update, resolve and reopen incidents",
    "change": "record deploys and config changes on components",
    "maintenance": "schedule maintenance windows",
    "postmortem": "draft, publish or revert a postmortem",
    "createuser": "create a console user with a role",
    "apikey": "create, list or revoke Manage API keys",
    "subscribers": "import subscribers from a CSV file",
    "mail": "send a test e-mail through the configured relay",
    "monitors": "apply monitors.toml, list monitors",
    "worker": "run scheduled work: maintenance, notifications, monitors",
    "web": "serve the page and the console only (run starts it with the others)",
    "migrate": "create or upgrade the database tables",
}


def usage() -> str:
    lines = ["usage: heliograph COMMAND [options]   (heliograph COMMAND --help for more)", ""]
    lines += [f"  {name:<12} {text}" for name, text in COMMANDS.items()]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    if not args or args[0] in ("-h", "--help", "help"):
        print(usage())
        return
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "heliograph.settings")
    if args[0] == "demo":  # the example never mixes into a real install's data
        os.environ.setdefault("HELIOGRAPH_DATA", DEMO_DATA)
    _default_base_url(args)
    from django.core.exceptions import ImproperlyConfigured

    try:
        import django

        django.setup()
    except ImproperlyConfigured as exc:
        sys.exit(f"error: {exc}")
    from django.conf import settings
    from django.core.management import execute_from_command_line

    from heliograph.lib.db import guard

    # Web requests must not wait long on the database; commands may (an import, a
    # migration), though never on a database that does not answer at all.
    if args[0] == "migrate":
        guard.configure(None)
    elif args[0] not in ("web", "run", "demo"):
        guard.configure(settings.DB_BACKGROUND_TIMEOUT)
    execute_from_command_line(["heliograph", *args])


def _default_base_url(args: list[str]) -> None:
    """``run`` and ``demo`` without HELIOGRAPH_BASE_URL link to where they listen; set
    before the settings are read, so that they and every child process agree on it."""
    if args[0] not in SERVING or "HELIOGRAPH_BASE_URL" in os.environ:
        return
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--host", default=DEFAULT_HOST)
    parser.add_argument("--port", default=str(DEFAULT_PORT))
    given, _ = parser.parse_known_args(args[1:])
    if not given.port.isdigit():
        return  # the command's own parser says what is wrong with it
    shown = DEFAULT_HOST if given.host in ("0.0.0.0", "::") else given.host
    os.environ["HELIOGRAPH_BASE_URL"] = f"http://{shown}:{given.port}"
