"""Downsampling arithmetic for metric points (architecture: Monitors). Pure: no Django, no clock.

A stored point is an ``Aggregate`` over one bucket of time: the mean of the samples in it,
their lowest and highest value and how many there were (a raw sample is an aggregate of
one). Aggregates combine into coarser ones exactly: the mean of means weighted by counts is
the mean of all the samples, the low is the lowest low, the high the highest high. So
raw → 5-minute → hourly gives the same numbers as raw → hourly, and folding a late part
into a bucket already stored gives the same result as having had it from the start.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TypeVar

Key = TypeVar("Key", bound=Hashable)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Aggregate:
    """The samples of one bucket: mean, low, high and how many (count ≥ 1)."""

    mean: float
    low: float
    high: float
    count: int = 1

    @classmethod
    def of(cls, value: float) -> Aggregate:
        """One sample."""
        return cls(value, value, value, 1)

    def __post_init__(self) -> None:
        if self.count < 1:
            raise ValueError("an aggregate holds at least one sample")


def aggregate(values: Iterable[float]) -> Aggregate:
    """The aggregate of plain samples; ValueError when there are none."""
    return combine(Aggregate.of(v) for v in values)


def combine(parts: Iterable[Aggregate]) -> Aggregate:
    """One aggregate from several (weighted by count); ValueError when there are none."""
    items = list(parts)
    if not items:
        raise ValueError("nothing to combine")
    count = sum(p.count for p in items)
    # fsum keeps the weighted mean exact enough that combining in any order agrees.
    mean = math.fsum(p.mean * p.count for p in items) / count
    low = min(p.low for p in items)
    high = max(p.high for p in items)
    # Rounding can put the mean a hair outside [low, high]; it never is really.
    return Aggregate(min(max(mean, low), high), low, high, count)


def bucket_start(at: datetime, width: int) -> datetime:
    """The start of the ``width``-second bucket holding ``at`` (aligned to the epoch, UTC)."""
    if width <= 0:
        raise ValueError("a bucket is at least one second wide")
    seconds = math.floor((at - EPOCH).total_seconds())
    return EPOCH + timedelta(seconds=seconds - seconds % width)


def rollup(
    samples: Iterable[tuple[Key, datetime, Aggregate]], width: int
) -> dict[tuple[Key, datetime], Aggregate]:
    """Group ``(series, at, aggregate)`` samples into ``width``-second buckets per series."""
    groups: dict[tuple[Key, datetime], list[Aggregate]] = {}
    for key, at, part in samples:
        groups.setdefault((key, bucket_start(at, width)), []).append(part)
    return {bucket: combine(parts) for bucket, parts in groups.items()}


def merge(
    stored: dict[tuple[Key, datetime], Aggregate], fresh: dict[tuple[Key, datetime], Aggregate]
) -> dict[tuple[Key, datetime], Aggregate]:
    """``fresh`` buckets folded into what is already ``stored`` (only the touched buckets)."""
    return {
        bucket: combine([stored[bucket], part]) if bucket in stored else part
        for bucket, part in fresh.items()
    }
