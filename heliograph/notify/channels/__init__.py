"""The channels (e-mail, webhooks) and what they ask of whoever drives them."""

from __future__ import annotations

from typing import Protocol


class Pacer(Protocol):
    """Drives a channel's connections: whether one may start its next message, and what
    it does with a result before it may (the worker makes it durable first)."""

    def may_start(self, key: int) -> bool:
        """False: take no more messages (the batch's time is up, or the worker stops)."""
        ...

    async def finished(self, key: int, result: str | None) -> None:
        """Called with each result; the connection sends nothing more until it returns."""
        ...
