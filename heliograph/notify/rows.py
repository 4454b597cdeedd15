"""Rows read with plain SQL, made into model instances as the ORM would make them (the
worker claims hundreds per batch; the ORM's own path costs more than sending them)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Generic, TypeVar

from django.db import DEFAULT_DB_ALIAS, connection, connections
from django.db.models import Model
from django.db.models.base import ModelState

M = TypeVar("M", bound=Model)


def loaded(model: type[M], db: str, values: Iterable[tuple[str, Any]]) -> M:
    """What ``model.from_db`` makes of some of its fields (the others deferred), without
    ``Model.__init__``: its per-field setters and init signals (no receiver listens for
    these models) cost more per claimed row than building the message does."""
    instance = model.__new__(model)
    instance._state = ModelState()
    instance._state.adding, instance._state.db = False, db
    instance.__dict__.update(values)
    return instance


class Columns(Generic[M]):
    """Some of a model's columns, read with plain SQL and made into (partly deferred)
    instances with the conversions Django would apply."""

    def __init__(self, model: type[M], names: Sequence[str]) -> None:
        by_name = {f.attname: f for f in model._meta.concrete_fields}
        self.model, self.names = model, list(names)
        self.fields = [by_name[name] for name in names]
        self.converters: dict[str, list[tuple[int, Any, list[Any]]]] = {}  # by backend

    def select(self, alias: str) -> str:
        return ", ".join(f"{alias}.{connection.ops.quote_name(f.column)}" for f in self.fields)

    def build(self, values: list[Any]) -> M:
        db = connections[DEFAULT_DB_ALIAS]  # not the thread-local proxy: this runs per row
        if db.vendor not in self.converters:
            self.converters[db.vendor] = self._converters()
        for n, col, functions in self.converters[db.vendor]:
            if values[n] is not None:
                for convert in functions:
                    values[n] = convert(values[n], col, db)
        return loaded(self.model, DEFAULT_DB_ALIAS, zip(self.names, values, strict=True))

    def _converters(self) -> list[tuple[int, Any, list[Any]]]:
        found = []
        for n, field in enumerate(self.fields):
            col = field.get_col(self.model._meta.db_table)
            functions = connection.ops.get_db_converters(col) + col.get_db_converters(connection)
            if functions:
                found.append((n, col, functions))
        return found
