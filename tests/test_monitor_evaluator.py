"""Monitor rules without a database: per-path hysteresis, the component blend, incident rules."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from heliograph.catalog.status import DEGRADED, MAJOR, OPERATIONAL, PARTIAL
from heliograph.monitors.evaluator import DEGRADED_PATH as SLOWED
from heliograph.monitors.evaluator import (
    DOWN,
    PATH_STATUSES,
    SEVERITY,
    SIGNAL_SEVERITIES,
    UP,
    VERDICTS,
    Action,
    PathState,
    Signal,
    Tracked,
    component_status,
    decide,
    rank,
    run,
    should_escalate,
    should_monitor,
    should_open,
    should_reopen,
    should_resolve,
    step,
)

T0 = datetime(2021, 7, 8, 15, 57, tzinfo=UTC)
verdicts = st.lists(st.sampled_from(VERDICTS), max_size=40)
known = st.sampled_from(("ok", "hold", "slow", "fail"))
BAD = ("slow", "fail")


def statuses(seq: list[str], state: PathState | None = None) -> list[str]:
    """The status after each sample."""
    state = state or PathState()
    seen = []
    for verdict in seq:
        state = step(state, verdict)
        seen.append(state.status)
    return seen


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


# --- per-path hysteresis: examples ---------------------------------------------------------


@pytest.mark.parametrize(
    ("seq", "expected"),
    [
        ([], UP),
        (["slow"], UP),
        (["slow", "slow"], SLOWED),
        (["fail", "fail"], SLOWED),
        (["slow", "fail"], SLOWED),
        (["fail", "fail", "fail"], DOWN),
        (["slow", "slow", "fail", "fail", "fail"], DOWN),
        (["slow", "ok", "slow"], UP),  # not in a row
        (["slow", "hold", "slow"], SLOWED),  # hold is transparent to a bad streak
        (["fail", "hold", "fail", "hold", "fail"], DOWN),
        (["fail", "fail", "slow", "fail"], SLOWED),  # a slow breaks the failure streak
        (["slow", "slow", "ok", "ok"], SLOWED),  # two oks are not enough
        (["slow", "slow", "ok", "ok", "ok"], UP),
        (["slow", "slow", "ok", "ok", "hold", "ok"], SLOWED),  # hold breaks an ok streak
        (["slow", "slow", "ok", "unknown", "ok", "ok"], UP),  # unknown is transparent
        (["fail", "fail", "fail", "slow"], DOWN),
        (["fail", "fail", "fail", "slow", "slow"], SLOWED),  # mail flows again, slowly
        (["fail", "fail", "fail", "ok", "ok", "ok"], UP),
    ],
)
def test_a_path_moves_only_on_streaks(seq: list[str], expected: str) -> None:
    assert run(seq).status == expected


def test_unknown_raises_the_alert_until_the_next_known_verdict() -> None:
    state = run(["slow", "unknown"])
    assert state.alert and state.bad == 1 and state.status == UP
    assert run(["unknown"], state).alert
    assert not run(["hold"], state).alert
    assert not run(["slow"], state).alert and run(["slow"], state).status == SLOWED


def test_state_survives_json_and_ignores_rubbish() -> None:
    state = run(["fail", "fail", "fail", "unknown"])
    assert PathState.from_json(state.to_json()) == state
    assert PathState.from_json(None) == PathState()
    odd = {"status": "on fire", "bad": "many", "fails": -3, "oks": True, "other": 1}
    assert PathState.from_json(odd) == PathState()


def test_it_refuses_an_unknown_verdict() -> None:
    with pytest.raises(ValueError, match="unknown verdict"):
        step(PathState(), "meh")


def test_the_rules_module_imports_no_django() -> None:
    code = (
        "import sys, heliograph.monitors.evaluator; "
        "sys.exit(any(m.split('.')[0] == 'django' for m in sys.modules))"
    )
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


# --- per-path hysteresis: properties -------------------------------------------------------


@given(verdicts, verdicts)
def test_unknown_never_changes_status_or_streaks(before: list[str], after: list[str]) -> None:
    state = run(before)
    assert run(["unknown"], state).status == state.status
    with_unknown = run([*before, "unknown", *after])
    without = run([*before, *after])
    assert (with_unknown.status, with_unknown.bad, with_unknown.oks) == (
        without.status,
        without.bad,
        without.oks,
    )


@given(
    st.lists(st.sampled_from(("ok", "hold", "unknown")), max_size=20),
    st.sampled_from(BAD),
    st.lists(st.sampled_from(("ok", "hold", "unknown")), max_size=20),
)
def test_a_single_bad_sample_never_changes_status(
    lead: list[str], bad: str, tail: list[str]
) -> None:
    assert set(statuses([*lead, bad, *tail])) <= {UP}


@given(verdicts)
def test_it_returns_to_operational_only_after_three_oks_in_a_row(seq: list[str]) -> None:
    state = PathState()
    counted: list[str] = []  # the known verdicts so far
    for verdict in seq:
        previous, state = state, step(state, verdict)
        if verdict != "unknown":
            counted.append(verdict)
        if previous.status != UP and state.status == UP:
            assert counted[-3:] == ["ok", "ok", "ok"]


@given(verdicts)
def test_it_never_goes_down_without_three_failures_in_a_row(seq: list[str]) -> None:
    state = PathState()
    counted: list[str] = []
    for verdict in seq:
        previous, state = state, step(state, verdict)
        if verdict not in ("unknown", "hold"):
            counted.append(verdict)
        if previous.status != DOWN and state.status == DOWN:
            assert counted[-3:] == ["fail", "fail", "fail"]


@given(verdicts)
def test_it_never_degrades_without_two_bad_samples_in_a_row(seq: list[str]) -> None:
    state = PathState()
    counted: list[str] = []
    for verdict in seq:
        previous, state = state, step(state, verdict)
        if verdict not in ("unknown", "hold"):
            counted.append(verdict)
        if previous.status == UP and state.status != UP:
            assert len(counted) >= 2 and set(counted[-2:]) <= set(BAD)


@given(verdicts)
def test_streaks_stay_within_bounds(seq: list[str]) -> None:
    state = run(seq)
    assert state.status in PATH_STATUSES
    assert 0 <= state.fails <= state.bad and 0 <= state.slows <= state.bad
    assert not (state.oks and state.bad)


# --- the component blend -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("paths", "expected"),
    [
        ([UP], OPERATIONAL),
        ([SLOWED], DEGRADED),
        ([DOWN], MAJOR),
        ([DOWN, UP], PARTIAL),
        ([DOWN, SLOWED], PARTIAL),
        ([DOWN, DOWN], MAJOR),
        ([SLOWED, UP, UP], DEGRADED),
        ([], None),
    ],
)
def test_it_blends_paths_into_a_component_status(paths: list[str], expected: str | None) -> None:
    assert component_status(paths, under_maintenance=False) == expected


@given(st.lists(st.sampled_from(PATH_STATUSES), max_size=6))
def test_probes_never_move_a_component_under_maintenance(paths: list[str]) -> None:
    assert component_status(paths, under_maintenance=True) is None


PATH_RANK = [UP, SLOWED, DOWN]


@given(st.lists(st.sampled_from(PATH_STATUSES), min_size=1, max_size=6), st.data())
def test_the_blend_is_monotonic(paths: list[str], data: st.DataObject) -> None:
    i = data.draw(st.integers(0, len(paths) - 1))
    worse = data.draw(st.sampled_from(PATH_RANK[PATH_RANK.index(paths[i]) :]))
    made_worse = [*paths[:i], worse, *paths[i + 1 :]]
    assert rank(component_status(made_worse, False)) >= rank(component_status(paths, False))
    assert component_status(paths, False) in SEVERITY


# --- paths and signals ---------------------------------------------------------------------

path_lists = st.lists(st.sampled_from(PATH_STATUSES), max_size=6)
signals = st.builds(Signal, st.sampled_from(PATH_STATUSES), st.sampled_from(SIGNAL_SEVERITIES))
signal_lists = st.lists(signals, max_size=4)


@pytest.mark.parametrize(
    ("paths", "signalled", "expected"),
    [
        # The outage: MX fail, round trip fail, the loop check still fine.
        ([DOWN, DOWN], [Signal(UP)], MAJOR),
        ([UP, UP], [Signal(SLOWED)], DEGRADED),
        ([UP], [Signal(DOWN)], DEGRADED),  # down or degraded: the signal's severity
        ([UP], [Signal(SLOWED, PARTIAL)], PARTIAL),
        ([DOWN, UP], [Signal(SLOWED, DEGRADED)], PARTIAL),  # never healthier than the paths
        ([SLOWED], [Signal(DOWN, MAJOR)], MAJOR),
        ([], [Signal(UP)], OPERATIONAL),  # a component fed only by signals recovers
        ([], [Signal(SLOWED)], DEGRADED),
        ([], [], None),
    ],
)
def test_signals_only_make_the_component_worse(
    paths: list[str], signalled: list[Signal], expected: str | None
) -> None:
    assert component_status(paths, False, signalled) == expected


@given(path_lists, signal_lists)
def test_a_signal_never_makes_the_blend_healthier(paths: list[str], found: list[Signal]) -> None:
    alone = component_status(paths, False)
    blended = component_status(paths, False, found)
    assert rank(blended) >= rank(alone)
    if paths:
        assert blended is not None  # paths give an opinion; signals never take it away
    assert rank(blended) <= max([rank(alone), *(rank(s.severity) for s in found)])


@given(st.integers(1, 6), signal_lists)
def test_every_path_down_is_a_major_outage_whatever_the_signals(
    paths: int, found: list[Signal]
) -> None:
    assert component_status([DOWN] * paths, False, found) == MAJOR


@given(path_lists, signal_lists)
def test_healthy_signals_change_nothing_the_paths_say(
    paths: list[str], found: list[Signal]
) -> None:
    calm = [Signal(UP, s.severity) for s in found]
    if paths:
        assert component_status(paths, False, calm) == component_status(paths, False)
    assert component_status(paths, True, found) is None  # nor under maintenance


def test_a_signal_refuses_what_it_cannot_stand_for() -> None:
    with pytest.raises(ValueError, match="severity"):
        Signal(DOWN, OPERATIONAL)
    with pytest.raises(ValueError, match="path status"):
        Signal("broken")


# --- the incident lifecycle ----------------------------------------------------------------

INVESTIGATING = Tracked("investigating")
MONITORING = Tracked("monitoring", monitoring_since=at(0))
RESOLVED = Tracked("resolved", resolved_at=at(0))


def test_it_opens_when_the_component_leaves_operational() -> None:
    assert should_open(OPERATIONAL, DEGRADED, None)
    assert should_open(None, DEGRADED, None)  # after a maintenance, trouble remains
    assert not should_open(OPERATIONAL, None, None)  # maintenance: no opinion
    assert not should_open(DEGRADED, MAJOR, None)  # it did not just leave operational
    assert not should_open(OPERATIONAL, DEGRADED, INVESTIGATING)  # one is already open


def test_it_escalates_at_once_when_worse_and_never_when_better() -> None:
    assert should_escalate(DEGRADED, MAJOR, INVESTIGATING)
    assert should_escalate(OPERATIONAL, DEGRADED, MONITORING)  # back while monitoring
    assert not should_escalate(MAJOR, PARTIAL, INVESTIGATING)
    assert not should_escalate(DEGRADED, MAJOR, RESOLVED)


def test_it_monitors_then_resolves_after_the_quiet_period() -> None:
    assert should_monitor(OPERATIONAL, INVESTIGATING)
    assert not should_monitor(OPERATIONAL, MONITORING)
    assert not should_monitor(DEGRADED, INVESTIGATING)
    assert not should_resolve(OPERATIONAL, MONITORING, at(14))
    assert should_resolve(OPERATIONAL, MONITORING, at(15))
    assert not should_resolve(DEGRADED, MONITORING, at(60))


def test_it_reopens_within_the_window_and_opens_anew_after() -> None:
    assert should_reopen(RESOLVED, at(30))
    assert not should_reopen(RESOLVED, at(31))
    assert decide(previous=OPERATIONAL, current=DEGRADED, incident=RESOLVED, now=at(20)) == (
        Action.REOPEN
    )
    assert decide(previous=OPERATIONAL, current=DEGRADED, incident=RESOLVED, now=at(40)) == (
        Action.OPEN
    )


statuses_or_none = st.sampled_from((None, *SEVERITY))
tracked = st.one_of(
    st.none(),
    st.builds(
        Tracked,
        st.sampled_from(("investigating", "identified", "monitoring", "resolved", "postmortem")),
        st.none() | st.just(at(0)),
        st.none() | st.just(at(0)),
    ),
)


@given(statuses_or_none, statuses_or_none, tracked, st.integers(0, 120))
def test_decide_is_consistent(
    previous: str | None, current: str | None, incident: Tracked | None, minutes: int
) -> None:
    action = decide(previous=previous, current=current, incident=incident, now=at(minutes))
    if current is None:  # maintenance: automation does nothing
        assert action is Action.NONE
    if action in (Action.OPEN, Action.REOPEN):
        assert rank(current) > 0 and rank(previous) == 0
        assert incident is None or incident.resolved
    if action in (Action.ESCALATE, Action.MONITOR, Action.RESOLVE):
        assert incident is not None and not incident.resolved
    if action is Action.RESOLVE:
        assert current == OPERATIONAL and minutes >= 15
