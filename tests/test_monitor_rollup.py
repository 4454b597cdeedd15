"""Downsampling arithmetic (monitors.rollup): folding buckets loses nothing it promises."""

from __future__ import annotations

import math
import statistics
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from heliograph.monitors.rollup import Aggregate, aggregate, bucket_start, combine, merge, rollup

values = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, allow_infinity=False)
samples = st.lists(values, min_size=1, max_size=60)
groups = st.lists(samples, min_size=1, max_size=8)
moments = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
)
widths = st.sampled_from([60, 300, 3600])


def close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-6)


@given(groups)
def test_it_weights_means_by_counts_to_the_overall_mean(parts: list[list[float]]) -> None:
    combined = combine(aggregate(p) for p in parts)
    everything = [v for p in parts for v in p]
    assert close(combined.mean, statistics.fmean(everything))
    assert combined.count == len(everything)
    assert combined.low == min(everything) and combined.high == max(everything)


@given(groups)
def test_it_keeps_the_mean_between_low_and_high(parts: list[list[float]]) -> None:
    combined = combine(aggregate(p) for p in parts)
    assert combined.low <= combined.mean <= combined.high
    for part in parts:
        one = aggregate(part)
        assert combined.low <= one.low <= one.mean <= one.high <= combined.high


@given(groups)
def test_it_folds_in_any_grouping_to_the_same_result(parts: list[list[float]]) -> None:
    flat = aggregate(v for p in parts for v in p)
    nested = combine(aggregate(p) for p in parts)
    assert close(flat.mean, nested.mean)
    assert (flat.low, flat.high, flat.count) == (nested.low, nested.high, nested.count)


@given(moments, widths)
def test_it_puts_each_moment_in_the_bucket_that_holds_it(at: datetime, width: int) -> None:
    start = bucket_start(at, width)
    assert start <= at < start + timedelta(seconds=width)
    assert start.timestamp() % width == 0
    assert bucket_start(start, width) == start  # idempotent


@given(st.lists(st.tuples(st.sampled_from("ab"), moments, values), min_size=1, max_size=80))
def test_it_gives_the_same_buckets_raw_to_hourly_as_through_5_minutes(
    raw: list[tuple[str, datetime, float]],
) -> None:
    points = [(key, at, Aggregate.of(v)) for key, at, v in raw]
    direct = rollup(points, 3600)
    five = rollup(points, 300)
    through = rollup([(key, at, agg) for (key, at), agg in five.items()], 3600)
    assert direct.keys() == through.keys()
    for bucket, agg in direct.items():
        other = through[bucket]
        assert close(agg.mean, other.mean)
        assert (agg.low, agg.high, agg.count) == (other.low, other.high, other.count)


@given(st.lists(st.tuples(moments, values), min_size=1, max_size=40), st.integers(1, 39))
def test_it_merges_a_late_part_as_if_it_had_come_in_time(
    raw: list[tuple[datetime, float]], cut: int
) -> None:
    points = [("s", at, Aggregate.of(v)) for at, v in raw]
    early, late = points[:cut], points[cut:]
    whole = rollup(points, 300)
    stored = rollup(early, 300)
    merged = {**stored, **merge(stored, rollup(late, 300))}
    assert merged.keys() == whole.keys()
    for bucket, agg in whole.items():
        assert close(agg.mean, merged[bucket].mean)
        assert agg.count == merged[bucket].count


def test_it_refuses_empty_input() -> None:
    with pytest.raises(ValueError):
        combine([])
    with pytest.raises(ValueError):
        Aggregate(1.0, 1.0, 1.0, 0)
    with pytest.raises(ValueError):
        bucket_start(datetime(2026, 1, 1, tzinfo=UTC), 0)


def test_it_aligns_buckets_to_the_clock() -> None:
    at = datetime(2026, 11, 27, 12, 7, 31, 500_000, tzinfo=UTC)
    assert bucket_start(at, 300) == datetime(2026, 11, 27, 12, 5, tzinfo=UTC)
    assert bucket_start(at, 3600) == datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
