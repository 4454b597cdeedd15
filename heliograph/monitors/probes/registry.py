"""Probe kinds by name. Modules are imported on first use."""

from __future__ import annotations

import importlib
from typing import cast

from heliograph.monitors.probes.base import ConfigError, ProbeModule

MODULES = {
    "http": "http",
    "tcp": "tcp",
    "tls_certificate": "tls_certificate",
    "dns": "dns",
    "smtp": "smtp",
    "mail_roundtrip": "mail_roundtrip",
    "rspamd": "rspamd",
    "prometheus": "prometheus",
}
KINDS = tuple(MODULES)


def probe_module(kind: str) -> ProbeModule:
    if kind not in MODULES:
        raise ConfigError(f"unknown monitor kind {kind!r}; one of: {', '.join(KINDS)}")
    module = importlib.import_module(f"heliograph.monitors.probes.{MODULES[kind]}")
    return cast(ProbeModule, module)
