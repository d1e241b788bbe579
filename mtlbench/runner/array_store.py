"""Memory-mapped stores of many arrays (decoded images, extractor features) shared by a grid's runs.

One store is a folder under the cache root, named by a key that hashes what its arrays are
(the transform, the extractor, the image folder) but not which files it holds, so that a store
made stale by a changed file is found, reported and replaced rather than left beside a new one:

    data.bin       every array's elements back to back, in the store's dtype (read via np.memmap)
    index.npy      int64 [N, 1 + ndim]: each array's element offset (-1: its source could not be
                   read), then its shape
    crc.npy        uint32 [N]: zlib.crc32 of each array's bytes, for verification
    keys.json      [[key, size, mtime_ns, digest], ...]: each array's name (an image path relative
                   to the dataset's image folder), its source file's size and mtime when it was
                   read, and the BLAKE2b digest of the file's content (None where not recorded)
    manifest.json  written last: format, dtype, what the arrays are, counts, unreadable sources

A folder without manifest.json is incomplete and never opened. A store is built in a temporary
folder, verified (every array read back against the checksum of what was written) and renamed
into place; one being replaced is renamed away first, and processes that still map it keep
reading it (POSIX keeps unlinked files alive while mapped). Builders take an exclusive lock
(``fcntl.flock`` on ``<folder>.lock``), so the runs of a grid that start together build a
store once: the others wait and then open it.

Each array is tied to its source's content digest and to the transform (the store's key). At
the start of a run, staleness is judged by each source's size and modification time (what
``make`` and rsync's quick check use), because hashing every byte of a 400 GB image folder at
every run start is not affordable; a source whose size or time changed is then re-hashed, and
only a changed content is processed again. The arrays' own checksums guard the store.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import time
import uuid
import zlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mtlbench.data.cache import CACHE_ENV
from mtlbench.errors import MtlbenchError

FORMAT = 1
"""Bumped when the layout above changes: stores of another format are rebuilt."""

Stat = tuple[int, int]
"""A source file's (size in bytes, mtime in ns)."""


def source_stat(path: Path) -> Stat | None:
    """(size, mtime_ns) of ``path``, or None when it cannot be stat'ed."""
    try:
        info = os.stat(path)
    except OSError:
        return None
    return info.st_size, info.st_mtime_ns


@dataclass(frozen=True)
class Freshness:
    """How a store compares with the sources a run needs."""

    missing: list[str] = field(default_factory=list)
    """Needed keys the store does not hold."""
    changed: list[str] = field(default_factory=list)
    """Needed keys whose source file changed (size or mtime) since the store read it: stale."""

    @property
    def fresh(self) -> bool:
        return not self.missing and not self.changed


class ArrayStore:
    """A complete store opened read-only; ``store[key]`` is a zero-copy view of one array.

    Pickles as its folder (a DataLoader worker started by spawn reopens the mapping instead of
    receiving a copy of the data).
    """

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self.manifest: dict[str, Any] = json.loads((self.folder / "manifest.json").read_text(encoding="utf-8"))
        self.dtype = np.dtype(self.manifest["dtype"])
        keys = json.loads((self.folder / "keys.json").read_text(encoding="utf-8"))
        self.rows = {row[0]: i for i, row in enumerate(keys)}
        self.sources: dict[str, Stat] = {row[0]: (row[1], row[2]) for row in keys}
        self.digests: dict[str, str | None] = {row[0]: row[3] for row in keys}
        """Content digest of each source file when it was read (None where not recorded)."""
        self.index = np.load(self.folder / "index.npy")
        self.crc = np.load(self.folder / "crc.npy")
        size = int(self.manifest["elements"])
        self.data = np.memmap(self.folder / "data.bin", dtype=self.dtype, mode="r") if size else np.empty(0, self.dtype)

    def __reduce__(self) -> tuple[Any, ...]:
        return (ArrayStore, (self.folder,))

    def __len__(self) -> int:
        return len(self.rows)

    def __contains__(self, key: object) -> bool:
        return key in self.rows and self.index[self.rows[key], 0] >= 0  # type: ignore[index]

    @property
    def failures(self) -> dict[str, str]:
        """Keys whose source could not be read when the store was built, with the reason."""
        return dict(self.manifest.get("failures", {}))

    def __getitem__(self, key: str) -> np.ndarray:
        row = self.index[self.rows[key]]
        offset, shape = int(row[0]), tuple(int(n) for n in row[1:])
        if offset < 0:
            raise KeyError(key)
        return self.data[offset : offset + int(np.prod(shape))].reshape(shape)

    def freshness(self, needed: Mapping[str, Stat | None]) -> Freshness:
        """Compare with the current (size, mtime_ns) of the sources of the ``needed`` keys."""
        missing, changed = [], []
        for key, stat in needed.items():
            if key not in self.sources:
                missing.append(key)
            elif stat is None or tuple(self.sources[key]) != tuple(stat):
                changed.append(key)
        return Freshness(missing=missing, changed=changed)

    def damaged(self, *, deep: bool = False) -> str | None:
        """Why the store cannot be trusted, or None. The quick check compares sizes; ``deep``
        also recomputes every array's checksum."""
        n = len(self.rows)
        if self.index.shape[0] != n or self.crc.shape[0] != n:
            return f"its index holds {self.index.shape[0]} rows for {n} keys"
        expected = int(self.manifest["elements"]) * self.dtype.itemsize
        actual = (self.folder / "data.bin").stat().st_size if (self.folder / "data.bin").exists() else -1
        if actual != expected:
            return f"data.bin has {actual} bytes, expected {expected} (truncated or overwritten)"
        if deep:
            for key, row in self.rows.items():
                if self.index[row, 0] >= 0 and zlib.crc32(self[key].tobytes()) != int(self.crc[row]):
                    return f"the array of {key} does not match its checksum"
        return None


def open_store(folder: Path) -> tuple[ArrayStore | None, str | None]:
    """(the store, None), or (None, why it cannot be used) for a folder that is incomplete,
    of another format, or damaged; (None, None) when there is no store at all."""
    folder = Path(folder)
    if not (folder / "manifest.json").is_file():
        return None, None
    try:
        store = ArrayStore(folder)
    except (OSError, ValueError, KeyError) as err:
        return None, f"it cannot be read ({err})"
    if store.manifest.get("format") != FORMAT:
        return None, f"it has format {store.manifest.get('format')}, this mtlbench writes {FORMAT}"
    why = store.damaged()
    return (None, why) if why else (store, None)


def fresh_store(folder: Path, needed: Mapping[str, Stat | None]) -> ArrayStore | None:
    """The store at ``folder`` if it is complete, undamaged and fresh for ``needed``, else None;
    without taking the build lock (what most runs of a grid find: a store already built)."""
    try:
        store, _ = open_store(folder)
    except OSError:  # replaced while being read: the caller takes the lock and looks again
        return None
    return store if store is not None and store.freshness(needed).fresh else None


@contextlib.contextmanager
def build_lock(folder: Path) -> Iterator[None]:
    """Exclusive while held: one process builds a store, the others wait for it (no lock where
    fcntl is missing, i.e. not on POSIX: concurrent builders then each build and one rename wins)."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        yield
        return
    with open(folder.with_name(folder.name + ".lock"), "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


class StoreWriter:
    """Builds a store in a temporary folder: ``shapes[row]`` sizes each array (None: no array,
    e.g. an unreadable source), ``write`` fills it, ``commit`` verifies and renames into place."""

    def __init__(self, folder: Path, dtype: np.dtype | str, shapes: Sequence[tuple[int, ...] | None]) -> None:
        self.folder = Path(folder)
        self.dtype = np.dtype(dtype)
        for leftover in self.folder.parent.glob(f".{self.folder.name}.*"):  # a killed build's (we hold the lock)
            shutil.rmtree(leftover, ignore_errors=True)
        self.tmp = self.folder.with_name(f".{self.folder.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
        self.tmp.mkdir(parents=True)
        ndim = max((len(s) for s in shapes if s is not None), default=0)
        self.index = np.full((len(shapes), 1 + ndim), -1, dtype=np.int64)
        offset = 0
        for row, shape in enumerate(shapes):
            if shape is None:
                continue
            self.index[row] = (offset, *shape)
            offset += int(np.prod(shape))
        self.elements = offset
        self.crc = np.zeros(len(shapes), dtype=np.uint32)
        size = offset * self.dtype.itemsize
        with open(self.data_path, "wb") as handle:
            try:  # reserve the space now: writing a mapped file on a full disk would kill the process
                if size and hasattr(os, "posix_fallocate"):
                    os.posix_fallocate(handle.fileno(), 0, size)
                else:
                    handle.truncate(size)
            except OSError as err:
                if err.errno not in (errno.ENOSPC, errno.EDQUOT):  # a filesystem that cannot preallocate
                    handle.truncate(size)
                    return
                shutil.rmtree(self.tmp, ignore_errors=True)
                raise MtlbenchError(
                    f"cannot reserve {size / 1e9:.1f} GB for the cache at {self.folder}: {err.strerror}; free space "
                    f"there or point ${CACHE_ENV} at a larger disk"
                ) from None

    @property
    def data_path(self) -> Path:
        return self.tmp / "data.bin"

    def slot(self, row: int) -> tuple[int, tuple[int, ...]] | None:
        """(element offset, shape) of ``row``, or None when it has no array."""
        entry = self.index[row]
        if entry[0] < 0:
            return None
        return int(entry[0]), tuple(int(n) for n in entry[1:])

    def open_data(self) -> np.ndarray:
        """The data file mapped for writing (an empty array when the store holds nothing)."""
        if not self.elements:
            return np.empty(0, self.dtype)
        return np.memmap(self.data_path, dtype=self.dtype, mode="r+")

    def write(self, data: np.ndarray, row: int, array: np.ndarray) -> None:
        """Put ``array`` at ``row``'s place in ``data`` (from :meth:`open_data`) and note its checksum."""
        self.crc[row] = write_slot(data, self.slot(row), array)

    def drop(self, row: int) -> None:
        """Leave ``row`` without an array (its source turned out unreadable while building)."""
        self.index[row, 0] = -1

    def commit(
        self,
        keys: Sequence[tuple[str, Stat | None, str | None]],
        *,
        failures: Mapping[str, str],
        meta: Mapping[str, Any],
    ) -> ArrayStore:
        """Verify every array against its checksum, write the index and the manifest, rename into
        place. ``keys``: per row, its name, its source's (size, mtime) and content digest."""
        data = self.open_data()
        if isinstance(data, np.memmap):
            data.flush()
        for row in range(len(self.crc)):
            slot = self.slot(row)
            if slot is not None:
                offset, shape = slot
                stored = np.asarray(data[offset : offset + int(np.prod(shape))])
                if zlib.crc32(stored.tobytes()) != int(self.crc[row]):
                    raise OSError(f"cache build: the array of {keys[row][0]} did not read back as written")
        del data
        with open(self.data_path, "rb+") as handle:
            os.fsync(handle.fileno())
        np.save(self.tmp / "index.npy", self.index)
        np.save(self.tmp / "crc.npy", self.crc)
        rows = [[key, *(stat or (-1, -1)), digest] for key, stat, digest in keys]
        (self.tmp / "keys.json").write_text(json.dumps(rows), encoding="utf-8")
        manifest = {
            "format": FORMAT,
            "dtype": self.dtype.str,
            "elements": self.elements,
            "entries": len(rows),
            "failures": dict(failures),
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            **meta,
        }
        (self.tmp / "manifest.json").write_text(json.dumps(manifest, indent=1), encoding="utf-8")
        old = self.folder.with_name(f".{self.folder.name}.{os.getpid()}.old")
        if self.folder.exists():
            os.rename(self.folder, old)
        os.rename(self.tmp, self.folder)
        shutil.rmtree(old, ignore_errors=True)
        return ArrayStore(self.folder)

    def abandon(self) -> None:
        shutil.rmtree(self.tmp, ignore_errors=True)


def write_slot(data: np.ndarray, slot: tuple[int, tuple[int, ...]] | None, array: np.ndarray) -> int:
    """Write ``array`` into its ``slot`` (offset, shape) of ``data``; returns the checksum of its bytes."""
    if slot is None:
        raise ValueError("no room was planned for this array")
    offset, shape = slot
    if tuple(array.shape) != shape:
        raise ValueError(f"array of shape {tuple(array.shape)} where {shape} was planned")
    flat = np.ascontiguousarray(array, dtype=data.dtype).reshape(-1)
    data[offset : offset + flat.size] = flat
    return zlib.crc32(flat.tobytes())
