"""The export folder: what nginx serves from disk, and what a node starts from.

    export/<page id>/              the tree nginx serves; each file a hard link to a body
    export/<page id>.blobs/<name>  every body once, named by its hash, never changed;
                                   <name>.gz its gzip form, where it has one
    export/<page id>.manifest      a version the tree held, and its whole manifest
    export/<page id>.changes       each version since, as what changed from the one before
    export/sites.json              which pages exist and the domains they answer

Each file of the tree has its gzip form beside it (``index.html.gz``, for nginx's
``gzip_static``) where it has one. A new version links only the files that changed,
each replaced by an atomic rename, so it costs what changed, not the page's whole
history; files a version no longer has go. Its manifest, too, is appended as what
changed; the whole one is written again only every WHOLE_EVERY versions.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import time
import zlib
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from django.conf import settings

from heliograph.publish.encoding import SUFFIX, gzip_of
from heliograph.publish.manifest import Entry, Manifest, blob_name, export_file_path
from heliograph.publish.snapshots import BATCH, ORPHAN_AGE, WHOLE_EVERY, fetch_stored

Exported = tuple[int, Manifest]  # the version the tree holds, and its manifest


class BlobFolder:
    """A page's bodies on this node's disk, by blob name, each with its gzip form (the
    same name + ``.gz``) where it has one."""

    def __init__(self, page_id: str) -> None:
        self.page_id = page_id
        self.path = Path(settings.EXPORT_DIR) / f"{page_id}.blobs"
        self._names: set[str] | None = None
        self._zipped: set[str] = set()  # the names whose gzip form is on disk
        self.spare: dict[str, bytes] = {}  # files a full disk would not take

    @property
    def names(self) -> set[str]:
        return self._names if self._names is not None else self._scan()

    @property
    def zipped(self) -> set[str]:
        if self._names is None:
            self._scan()
        return self._zipped

    def _scan(self) -> set[str]:
        self.path.mkdir(parents=True, exist_ok=True)
        files = {p.name for p in self.path.iterdir() if not p.name.startswith(".")}
        self._zipped = {n.removesuffix(SUFFIX) for n in files if n.endswith(SUFFIX)}
        self._names = {n for n in files if not n.endswith(SUFFIX)}
        return self._names

    def file(self, name: str) -> Path:
        return self.path / name

    def has(self, name: str) -> bool:
        return name in self.names or name in self.spare

    def read(self, name: str) -> bytes:
        spare = self.spare.get(name)
        return spare if spare is not None else self.file(name).read_bytes()

    def gzipped(self, name: str) -> bytes | None:
        """The body's gzip form; None when it has none here."""
        if (spare := self.spare.get(name + SUFFIX)) is not None:
            return spare
        if name not in self.zipped:
            return None
        try:
            return self.file(name + SUFFIX).read_bytes()
        except OSError:  # gone: the plain body still serves everyone
            return None

    def write(self, name: str, body: bytes, zipped: bytes | None = None) -> None:
        """Keep a body and its gzip form (``zipped``, or compressed here if that pays). The
        form goes first: a body on disk has its form beside it, for nginx to link."""
        if self.has(name):
            return
        zipped = zipped if zipped is not None else gzip_of(body)
        if zipped is not None and self._put(name + SUFFIX, zipped):
            self.zipped.add(name)
        if self._put(name, body):
            self.names.add(name)

    def _put(self, name: str, data: bytes) -> bool:
        temp = self.path / f".{name}.{os.getpid()}.tmp"
        try:
            temp.write_bytes(data)
            temp.chmod(0o644)
            temp.replace(self.file(name))
        except OSError:  # the disk is full: serve it from memory rather than not at all
            temp.unlink(missing_ok=True)
            self.spare[name] = data
            return False
        return True

    def fill(self, names: Iterable[str], progress: Callable[[], None] = lambda: None) -> None:
        """Fetch from the database the bodies named that this node lacks."""
        if not self.path.is_dir():  # removed by hand: what this process wrote is gone too
            self._names = None
        missing = {name for name in names if not self.has(name)}
        for n, (name, body, zipped) in enumerate(fetch_stored(self.page_id, missing), 1):
            self.write(name, body, zipped)
            if n % BATCH == 0:
                progress()
        if still := {name for name in missing if not self.has(name)}:
            raise LookupError(f"{len(still)} artifact bodies are missing from the database")

    def collect(self, keep: set[str]) -> None:
        """Remove bodies ``keep`` does not list (and their gzip forms), once old enough
        that no node still serving the previous version reads them."""
        cutoff = time.time() - ORPHAN_AGE.total_seconds()
        for name in list((self.names | self.zipped) - keep):
            with contextlib.suppress(FileNotFoundError):
                zipped = self.file(name + SUFFIX)
                if (self.file(name) if name in self.names else zipped).stat().st_mtime < cutoff:
                    zipped.unlink(missing_ok=True)
                    self.zipped.discard(name)
                    self.file(name).unlink(missing_ok=True)
                    self.names.discard(name)


_folders: dict[str, BlobFolder] = {}


def blob_folder(page_id: str) -> BlobFolder:
    """This process's view of a page's bodies (it remembers what it wrote)."""
    folder = _folders.get(page_id)
    if folder is None or folder.path.parent != Path(settings.EXPORT_DIR):
        folder = _folders[page_id] = BlobFolder(page_id)
    return folder


def entries_of(manifest: Manifest, folder: BlobFolder) -> dict[str, Entry]:
    """The version's entries: bounded documents in memory, the rest read when asked."""
    return {
        path: Entry(kind, etag, *_in_memory(folder, blob_name(etag), path in manifest.bounded))
        for path, (etag, kind) in manifest.paths.items()
    }


def _in_memory(folder: BlobFolder, name: str, bounded: bool) -> tuple[bytes | None, bytes | None]:
    return (folder.read(name), folder.gzipped(name)) if bounded else (None, None)


def export(page_id: str, version: int, manifest: Manifest) -> None:
    """Bring the page's tree to ``version`` (never back to an older one)."""
    root = Path(settings.EXPORT_DIR)
    folder = blob_folder(page_id)
    with _locked(root / f"{page_id}.lock"):
        tip = _tip(root, page_id)
        if tip is not None and tip >= version:
            return
        current = _exported(root, page_id, tip)
        tree = root / page_id
        if tree.is_symlink():  # the layout before content-addressed bodies
            tree.unlink()
            shutil.rmtree(root / f"{page_id}.v", ignore_errors=True)
            current = None
        changed = manifest.changed_since(current[1] if current else None)
        folder.fill(blob_name(etag) for etag, _ in changed.values())
        for path, (etag, _) in changed.items():
            _link_body(folder, blob_name(etag), tree / export_file_path(path))
        for path in (current[1].paths if current else {}).keys() - manifest.paths.keys():
            _remove(tree, export_file_path(path) + SUFFIX)
            _remove(tree, export_file_path(path))
        _write_manifest(root, page_id, version, manifest, current)
    if len(folder.names) > 2 * len(manifest.paths) + 200:
        folder.collect(manifest.blob_names())


# What this process last wrote (the tip, and how many changes follow the whole one).
_last_export: dict[tuple[Path, str], tuple[int, Manifest, int]] = {}


def _write_manifest(
    root: Path, page_id: str, version: int, manifest: Manifest, current: Exported | None
) -> None:
    """Append what changed since ``current``; the whole manifest every WHOLE_EVERY."""
    remembered = _last_export.get((root, page_id))
    follows = remembered[2] if remembered and current and remembered[0] == current[0] else None
    changes = root / f"{page_id}.changes"
    if current is None or follows is None or follows + 1 >= WHOLE_EVERY:
        _write_atomically(root / f"{page_id}.manifest", b"%d\n" % version + manifest.dumps())
        changes.unlink(missing_ok=True)  # a crash before this: its records are older
        _last_export[(root, page_id)] = (version, manifest, 0)
        return
    packed = manifest.dumps(current[1])
    with changes.open("ab") as handle:
        handle.write(b"%d %d %d\n" % (current[0], version, len(packed)) + packed)
    _last_export[(root, page_id)] = (version, manifest, follows + 1)


def _exported(root: Path, page_id: str, tip: int | None) -> Exported | None:
    """What the tree holds: what this process last wrote, unless another wrote since."""
    remembered = _last_export.get((root, page_id))
    if remembered is not None and tip == remembered[0]:
        return remembered[0], remembered[1]
    _last_export.pop((root, page_id), None)
    return read_export(page_id)


def _tip(root: Path, page_id: str) -> int | None:
    """The newest version the files hold, read from the record headers."""
    try:
        with (root / f"{page_id}.manifest").open("rb") as handle:
            version = int(handle.readline())
    except (OSError, ValueError):
        return None
    for base, newer, _ in _records(root / f"{page_id}.changes"):
        version = newer if base == version else version
    return version


def _records(changes: Path) -> Iterator[tuple[int, int, bytes]]:
    """(base, version, what changed) of each record; one torn by a crash ends them."""
    with contextlib.suppress(FileNotFoundError), changes.open("rb") as handle:
        while header := handle.readline():
            try:
                base, version, size = map(int, header.split())
            except ValueError:
                return
            packed = handle.read(size)
            if len(packed) < size:
                return
            yield base, version, packed


def read_export(page_id: str) -> Exported | None:
    """The version the page's tree holds, for starting while the database is down."""
    root = Path(settings.EXPORT_DIR)
    try:
        data = (root / f"{page_id}.manifest").read_bytes()
        head, _, packed = data.partition(b"\n")
        version, manifest = int(head), Manifest.loads(packed)
        for base, newer, changed in _records(root / f"{page_id}.changes"):
            if base == version:  # records before the whole one was written again: skipped
                version, manifest = newer, Manifest.loads(changed, manifest)
        return version, manifest
    except (OSError, ValueError, KeyError, zlib.error):
        return None


@contextlib.contextmanager
def _locked(lock: Path) -> Iterator[None]:
    """One exporter at a time per page folder (a publisher and a node may share it)."""
    lock.parent.mkdir(parents=True, exist_ok=True)
    with lock.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _link_body(folder: BlobFolder, name: str, target: Path) -> None:
    """The body at ``target``, its gzip form at ``target``.gz for nginx's gzip_static; an
    earlier body's form goes when this one has none."""
    zipped = target.with_name(target.name + SUFFIX)
    if name in folder.zipped:
        _link(folder.file(name + SUFFIX), zipped)
    else:
        zipped.unlink(missing_ok=True)
    _link(folder.file(name), target)


def _link(body: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    temp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    temp.unlink(missing_ok=True)
    os.link(body, temp)
    temp.replace(target)


def _remove(tree: Path, relative: str) -> None:
    target = tree / relative
    target.unlink(missing_ok=True)
    with contextlib.suppress(OSError):  # a folder of its own (incidents/<id>/), now empty
        if target.parent != tree:
            target.parent.rmdir()


def _write_atomically(target: Path, data: bytes) -> None:
    temp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    temp.write_bytes(data)
    temp.replace(target)


def write_sites(sites: list[tuple[str, str]]) -> None:
    """Which pages exist and the domains they answer, for starting without a database."""
    root = Path(settings.EXPORT_DIR)
    root.mkdir(parents=True, exist_ok=True)
    body = json.dumps([{"id": pid, "domain": domain} for pid, domain in sites]).encode()
    _write_atomically(root / "sites.json", body)


def read_sites() -> list[tuple[str, str]]:
    try:
        rows = json.loads((Path(settings.EXPORT_DIR) / "sites.json").read_text())
        return [(row["id"], row["domain"]) for row in rows]
    except (OSError, ValueError, KeyError, TypeError):
        return []
