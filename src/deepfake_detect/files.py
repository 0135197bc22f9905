"""Files written whole or not at all, and changes that take turns.

:func:`atomic_path` hands out a temp name unique to the caller (``tempfile`` in the target's folder, so
two writers never share one) and ``os.replace``-s it over the target when the block ends, or deletes it
when the block fails. :func:`locked` is an exclusive lock across processes and threads (``filelock``,
a ``.<name>.lock`` file beside what it guards) around a read-modify-write: the feedback dataset, the
review queue, the served-release symlink. A lock not had within ``timeout_s`` is an error naming the file.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

from filelock import FileLock, Timeout

from deepfake_detect.errors import DeepfakeError

LOCK_TIMEOUT_S = 120.0


class LockTimeout(DeepfakeError, TimeoutError):
    """Another process held a lock for longer than the wait allowed (the message names the file)."""


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """A fresh temp path beside ``path`` to write; it replaces ``path`` in one step when the block ends."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_text_atomic(path: str | Path, text: str) -> Path:
    """``path`` now holds ``text``, whole (see :func:`atomic_path`)."""
    with atomic_path(path) as tmp:
        tmp.write_text(text)
    return Path(path)


def lock_file(path: str | Path) -> Path:
    """The lock file that guards ``path`` (a hidden file beside it)."""
    path = Path(path)
    return path.with_name(f".{path.name}.lock")


def temp_name(path: str | Path) -> Path:
    """A name beside ``path`` no other writer uses, for what ``mkstemp`` cannot make (a symlink, a folder
    tree ``copytree`` fills)."""
    path = Path(path)
    return path.with_name(f".{path.name}.{uuid.uuid4().hex[:12]}.tmp")


_held = threading.local()  # the lock files this thread holds: taking one again is free (re-entrant)


@contextlib.contextmanager
def locked(path: str | Path, timeout_s: float = LOCK_TIMEOUT_S) -> Iterator[None]:
    """Hold the exclusive lock of ``path`` (any file or folder, existing or not) for the block. Other
    processes and other threads wait; the thread that holds it may take it again (promote -> publish)."""
    lock_path = lock_file(path)
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    key = str(lock_path.resolve())
    held = _held.__dict__.setdefault("paths", set())
    if key in held:
        yield
        return
    lock = FileLock(lock_path, timeout=timeout_s, thread_local=False)
    try:
        lock.acquire()
    except Timeout as exc:
        raise LockTimeout(f"{path}: still locked by another process after {timeout_s:.0f} s ({lock_path})") from exc
    held.add(key)
    try:
        yield
    finally:
        held.discard(key)
        lock.release()
