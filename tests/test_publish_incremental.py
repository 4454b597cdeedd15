"""Publishing what changed gives the same page, byte for byte, as rendering it all."""

from __future__ import annotations

import contextlib
import gzip
from collections.abc import Callable
from datetime import timedelta
from io import StringIO
from pathlib import Path

import pytest
import time_machine
from django.core.management import call_command
from django.db import transaction
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from heliograph.catalog import services as catalog
from heliograph.catalog.models import Component, Page
from heliograph.incidents import postmortems
from heliograph.incidents import services as incidents
from heliograph.incidents.models import Incident
from heliograph.lib.errors import InputError
from heliograph.lib.timefmt import day_text
from heliograph.publish import export, quarters, snapshots
from heliograph.publish.build import publish_page, render_version
from heliograph.publish.export import read_export
from heliograph.publish.manifest import Manifest, blob_name
from heliograph.publish.models import Blob, Snapshot
from heliograph.publish.publisher import publish_stale, turn_the_day
from heliograph.publish.snapshots import load_manifest
from heliograph.publish.store import SnapshotStore

STATUSES = ["operational", "degraded_performance", "partial_outage", "major_outage"]
Write = Callable[[Page, st.DataObject], None]


def _component(page: Page, data: st.DataObject) -> Component:
    return data.draw(st.sampled_from(list(page.components.order_by("name"))))


def _incident(page: Page, data: st.DataObject) -> Incident | None:
    found = list(page.incidents.filter(kind="incident").order_by("created_at"))
    return data.draw(st.sampled_from(found)) if found else None


def open_one(page: Page, data: st.DataObject) -> None:
    days_ago = data.draw(st.sampled_from([0, 1, 40, 200, 2000]))  # other quarters too
    incidents.open_incident(
        page=page,
        name=f"Delays {days_ago}",
        body="Looking into **slow** delivery.",
        components={_component(page, data): data.draw(st.sampled_from(STATUSES[1:]))},
        at=timezone.now() - timedelta(days=days_ago, minutes=5),
        draft=data.draw(st.booleans()),
    )


def update_one(page: Page, data: st.DataObject) -> None:
    if (incident := _incident(page, data)) is None:
        return
    if incident.draft:
        incidents.publish_draft(incident=incident)
        return
    status = data.draw(st.sampled_from(["identified", "monitoring", "resolved"]))
    if incident.status == "resolved":
        incidents.reopen_incident(incident=incident, body="It is back.")
        return
    changes = {_component(page, data): data.draw(st.sampled_from(STATUSES))}
    incidents.post_update(incident=incident, status=status, body="Update.", components=changes)


def edit_one(page: Page, data: st.DataObject) -> None:
    if (incident := _incident(page, data)) is None:
        return
    if data.draw(st.booleans()):
        incidents.edit_update(update=incident.updates.first(), body="Edited: _fixed_.")
    elif data.draw(st.booleans()):
        incidents.update_incident(incident=incident, name="Renamed incident")
    else:
        postmortems.publish_postmortem(incident=incident, body="What we learned.")


def delete_one(page: Page, data: st.DataObject) -> None:
    if (incident := _incident(page, data)) is not None:
        incidents.delete_incident(incident=incident)


def component_status(page: Page, data: st.DataObject) -> None:
    component, status = _component(page, data), data.draw(st.sampled_from(STATUSES))
    catalog.set_component_status(component=component, status=status)


def rename(page: Page, data: st.DataObject) -> None:
    if data.draw(st.booleans()):
        catalog.update_component(component=_component(page, data), name="Cluster Z")
    elif data.draw(st.booleans()):
        catalog.update_group(group=page.groups.get(), name="Mail Hosting")
    else:
        catalog.update_page(page=page, name="OpenSRS Status")


def schedule(page: Page, data: st.DataObject) -> None:
    start = timezone.now() + timedelta(days=data.draw(st.sampled_from([-100, 2, 120])))
    incidents.schedule_maintenance(
        page=page,
        name="Storage upgrade",
        body="Planned.",
        scheduled_for=start,
        scheduled_until=start + timedelta(hours=2),
        components=[_component(page, data)],
        at=min(start, timezone.now()),
    )


WRITES: list[Write] = [
    open_one, update_one, edit_one, delete_one, component_status, rename, schedule
]  # fmt: skip


@pytest.fixture
def world(page: Page, cluster_a: Component) -> Page:
    """The example, with a second component and an incident of this quarter."""
    catalog.create_component(page=page, name="Cluster B", group=page.groups.get())
    incidents.open_incident(
        page=page,
        name="Outbound delays",
        body="Looking.",
        components={cluster_a: "degraded_performance"},
        at=timezone.now() - timedelta(minutes=5),
    )
    publish_page(page)
    return page


def published(page: Page) -> Manifest:
    known = load_manifest(page.pk)
    assert known is not None
    return known.manifest


@pytest.fixture(autouse=True)
def short_chains(monkeypatch: pytest.MonkeyPatch) -> None:
    """A whole manifest every third version: chains of changes and whole ones both run."""
    monkeypatch.setattr(snapshots, "WHOLE_EVERY", 3)


@settings(max_examples=25, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data(), writes=st.lists(st.sampled_from(WRITES), min_size=1, max_size=6))
def test_it_renders_what_changed_exactly_as_a_full_build(
    world: Page, data: st.DataObject, writes: list[Write], export_dir: Path
) -> None:
    store = SnapshotStore()
    with transaction.atomic():
        catalog.bump_version(world)  # a first version in full, at a time the test knows
        publish_page(world, now=(published_at := timezone.now()))
        for write in writes:
            with contextlib.suppress(InputError):  # refused: nothing changes, still compared
                write(world, data)
            now = timezone.now()
            if publish_page(world, now=now) is not None:  # None: the write changed nothing
                published_at = now
            incremental = published(world)
            full = render_version(world, published_at, None, None).manifest
            assert incremental.paths == full.paths, write.__name__
            store.refresh()  # a node, following version after version
            served = {path: entry.etag for path, entry in store.sites[world.pk].entries.items()}
            assert served == {path: etag for path, (etag, _) in full.paths.items()}
            assert_gzip_forms_match(export_dir / world.pk)
            assert (incremental.quarters, incremental.live) == (full.quarters, full.live)
        transaction.set_rollback(True)


def assert_gzip_forms_match(tree: Path) -> None:
    """Each exported file of 1 kB or more has its gzip form beside it for nginx, holding
    exactly that file: never an earlier version's."""
    for file in tree.rglob("*"):
        if file.is_file() and file.suffix != ".gz":
            packed = file.with_name(file.name + ".gz")
            assert packed.exists() == (file.stat().st_size >= 1024), file
            if packed.exists():
                assert gzip.decompress(packed.read_bytes()) == file.read_bytes(), file


def test_it_renders_only_what_a_write_touched(world: Page, cluster_a: Component) -> None:
    before = published(world)
    other = world.incidents.exclude(reference="PR-2142").get()
    incidents.post_update(incident=other, status="identified", body="Found it.")
    publish_page(world)
    after = published(world)
    changed = {p for p in after.paths if before.paths.get(p) != after.paths[p]}
    old = world.incidents.get(reference="PR-2142")
    assert f"/incidents/{other.pk}" in changed and f"/incidents/{old.pk}" not in changed
    assert quarters.path("2021-q3") not in changed  # the example's quarter is untouched
    assert "/api/v2/status.json" in after.bounded
    # Each body is stored once: an unchanged page costs no new row.
    assert Blob.objects.filter(page=world).count() == len(after.blob_names() | before.blob_names())


def test_publish_full_renders_every_artifact_again_from_the_command_line(world: Page) -> None:
    out = StringIO()
    # The clock stands still: an ongoing incident's "for N minutes" would differ between renders.
    with time_machine.travel(timezone.now(), tick=False):
        call_command("publish", "--full", stdout=out)
        rendered_again = render_version(world, timezone.now(), None, None).manifest.paths
    assert "published 1 page(s)" in out.getvalue()
    newest = Snapshot.objects.filter(page=world).order_by("-version").first()
    assert newest is not None and newest.base_version is None  # whole, not what changed
    assert Snapshot.objects.filter(page=world).count() == 1  # rows before it are let go
    assert published(world).paths == rendered_again


def test_it_turns_the_index_to_a_new_day_at_the_pages_midnight(world: Page) -> None:
    assert turn_the_day() == 0  # published today: nothing to do
    before = published(world)
    tomorrow = timezone.now().astimezone(world.zone) + timedelta(days=1)
    with time_machine.travel(tomorrow, tick=False):
        assert turn_the_day() == 1
        assert publish_stale() == 1
    after = published(world)
    changed = {p for p in after.paths if before.paths.get(p) != after.paths[p]}
    old = world.incidents.get(reference="PR-2142")
    assert "/" in changed and f"/incidents/{old.pk}" not in changed
    ((_, index, _),) = snapshots.fetch_stored(world.pk, [blob_name(after.paths["/"][0])])
    assert f"<h3>{day_text(tomorrow.date())}</h3>" in index.decode()
    assert Page.objects.get(pk=world.pk).updated_at == world.updated_at  # nobody wrote


def test_it_keeps_the_exported_manifest_as_what_changed_and_reads_it_back(
    world: Page, cluster_a: Component, export_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(export, "WHOLE_EVERY", 3)
    changes = export_dir / f"{world.pk}.changes"
    records = []
    for n in range(5):
        catalog.set_component_status(component=cluster_a, status=STATUSES[n % 4])
        publish_page(world)
        exported = read_export(world.pk)
        assert exported is not None and exported[0] == Page.objects.get(pk=world.pk).version
        assert exported[1] == published(world)
        records.append(len(list(export._records(changes))))
    assert records == [1, 2, 0, 1, 2]  # the whole manifest again every third version
    catalog.set_component_status(component=cluster_a, status="operational")
    publish_page(world)
    with changes.open("ab") as handle:  # a crash in the middle of the next record
        handle.write(b"%d %d 4000\n{" % (published_version(world), published_version(world) + 1))
    exported = read_export(world.pk)
    assert exported is not None and exported[0] == published_version(world)
    # Another process wrote the folder meanwhile: this one writes the whole manifest.
    export._last_export.clear()
    catalog.set_component_status(component=cluster_a, status="major_outage")
    publish_page(world)
    assert read_export(world.pk) == (published_version(world), published(world))
    assert not changes.exists()


def published_version(page: Page) -> int:
    known = load_manifest(page.pk)
    assert known is not None
    return known.version
