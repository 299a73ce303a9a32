"""Attachments: stage files (screenshots, logs, documents) for a turn, deduplicated, typed, and cleaned up.

:func:`stage` copies a file (a path, or bytes) under the staging root and returns a :class:`StagedFile`: its
SHA-256, size, MIME type (from the bytes for PNG, JPEG, GIF, WebP, PDF and UTF-8 text, then from the name; a
disagreement between the two is reported in ``mime_mismatch``, never silently trusted) and the ``path`` of the
staged copy. The same bytes staged twice, from many threads or processes at once, are stored once.

Layout of a staging root (:func:`default_root` unless a ``root`` is given)::

    <root>/blobs/<sha256><ext>   the bytes (the extension from the bytes' own type: .png, .jpg, .pdf, .txt, .bin)
    <root>/meta/<sha256>.json    when it expires (the latest of its stagings) and whether any staging persisted it
    <root>/tmp/                  copies being written (then renamed into blobs/ atomically)
    <root>/lock                  the root's lock across processes (``flock``)

A staged file lives until its TTL passes (``ttl_s``, one hour by default) and :func:`cleanup` runs, or until
:func:`force_cleanup`; ``persist=True`` keeps it through TTL cleanups. Nothing is removed while it is
:func:`in_use` (a turn using it is in flight), in this process or another. The first use of a root in a process
runs :func:`sweep`: it removes what a crashed process left (old temporary copies, expired blobs).

Nothing outside the root is ever written or deleted, whatever ``name`` or path is passed: a name is only a label
(sanitised to one safe basename), blobs are named by their hash, and deletion only unlinks regular files (or
symlinks themselves, never their targets) directly inside the root's own subdirectories.

Turn input takes a staged image as ``LocalImageInput(staged)`` (see ``docs/attachments.md``).

Example::

    import tempfile

    from codex_actors import files

    root = tempfile.mkdtemp()
    log = files.stage(b"build 1234: all green", "build.log", root=root)
    again = files.stage(b"build 1234: all green", "build.log", root=root)
    assert log == again and log.mime_type == "text/plain"  # one copy: the same bytes
    with files.in_use(log):  # as a turn using it does
        assert files.force_cleanup(root).kept_in_use == 1
    assert files.force_cleanup(root).removed == 1
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import math
import os
import re
import stat
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from ._staging import (
    BLOB_EXTENSIONS,
    SUBDIRS,
    Sniffer,
    blob_extension,
    name_mime,
    open_subdir,
    reconcile_mime,
    root_lock,
    sanitize_name,
    unlink_entry,
)
from .errors import CodexError

__all__ = [
    "DEFAULT_MAX_BYTES",
    "DEFAULT_TTL_S",
    "AttachmentError",
    "CleanupReport",
    "FileTooLargeError",
    "StagedFile",
    "cleanup",
    "default_root",
    "force_cleanup",
    "in_use",
    "is_in_use",
    "stage",
    "sweep",
]

logger = logging.getLogger("codex_actors.files")

#: The largest file :func:`stage` takes by default: 50 MiB.
DEFAULT_MAX_BYTES = 50 * 1024 * 1024

#: How long a staged file lives by default (seconds), unless persisted.
DEFAULT_TTL_S = 3600.0

#: A temporary copy older than this (seconds since its last write) was left by a crashed staging.
ORPHAN_AGE_S = 60.0

#: The environment variable naming the staging root.
ROOT_ENV = "CODEX_ACTORS_STAGING_ROOT"

#: What :func:`set_event_sink` takes: ``(event, measurements, metadata)``.
EventSink = Callable[[str, dict[str, float], dict[str, Any]], None]

_CHUNK = 1024 * 1024
_BLOB_NAME = re.compile(r"^([0-9a-f]{64})(\.[a-z0-9]{1,8})?$")
_META_NAME = re.compile(r"^([0-9a-f]{64})\.json$")
_MAX_META_BYTES = 64 * 1024


class AttachmentError(CodexError, ValueError):
    """A file cannot be staged (missing, unreadable, a directory, too large), or a staged file is gone."""


class FileTooLargeError(AttachmentError):
    """A file is larger than the ``max_bytes`` it may be staged with.

    ``size`` is its size when known (a path's), else ``None`` (bytes past the limit were seen, no more read).
    """

    def __init__(self, message: str, *, size: int | None, max_bytes: int) -> None:
        super().__init__(message)
        self.size = size
        self.max_bytes = max_bytes


@dataclass(frozen=True, slots=True)
class StagedFile:
    """A file staged under a staging root (what :func:`stage` returns).

    ``path`` is the absolute path of the staged copy (inside the root; shared by every staging of the same
    bytes). ``mime_type`` follows the bytes when they are recognised (``detected_mime``), else the name
    (``name_mime``); ``mime_mismatch`` says how the two disagree (``None``: they do not). ``persist`` is true
    when any staging of these bytes persisted them; ``expires_at`` (``time.time()`` based, ``None`` when
    persisted) is the latest expiry of all their stagings. Equality leaves ``expires_at`` out: two stagings of
    the same bytes under the same name are equal.
    """

    sha256: str
    size: int
    mime_type: str
    name: str
    path: str
    persist: bool
    expires_at: float | None = field(compare=False)
    detected_mime: str | None
    name_mime: str | None
    mime_mismatch: str | None

    @property
    def is_image(self) -> bool:
        """Whether it is an image (``mime_type`` is ``image/...``)."""
        return self.mime_type.startswith("image/")


@dataclass(frozen=True, slots=True)
class CleanupReport:
    """What a cleanup did: staged files ``removed`` and their ``bytes``; ``kept_in_use``: due, but in use."""

    removed: int = 0
    bytes: int = 0
    kept_in_use: int = 0


# -- telemetry -------------------------------------------------------------------------------------------------

_sink: EventSink | None = None
_sink_warned = False
_sink_lock = threading.Lock()


def _set_event_sink(fn: EventSink | None) -> EventSink | None:
    """Set (``None``: clear) the function told of ``attachment.staged``/``attachment.cleaned``; return the old one.

    ``codex_actors.telemetry`` sets it, to the attached handlers and the metrics.

    ``attachment.staged``: measurements ``system_time``, ``size_bytes``; metadata ``sha256``, ``name``,
    ``mime_type``, ``persist``, ``deduplicated`` (the bytes were staged already). ``attachment.cleaned``:
    measurements ``system_time``, ``count``, ``bytes``; metadata ``reason`` (``ttl``, ``forced`` or ``sweep``).
    A sink that raises does not stop staging: it is logged at WARNING on ``codex_actors.files``, once.
    """
    global _sink, _sink_warned
    with _sink_lock:
        previous, _sink = _sink, fn
        _sink_warned = False
    return previous


def _emit(event: str, measurements: dict[str, float], metadata: dict[str, Any]) -> None:
    global _sink_warned
    sink = _sink
    if sink is None:
        return
    try:
        sink(event, {"system_time": time.time(), **measurements}, metadata)
    except Exception:
        with _sink_lock:
            warn, _sink_warned = not _sink_warned, True
        if warn:
            logger.warning("the attachment event sink raised on %s (reported once)", event, exc_info=True)


# -- the root --------------------------------------------------------------------------------------------------


def default_root() -> Path:
    """The default staging root: ``$CODEX_ACTORS_STAGING_ROOT``, else under ``$XDG_CACHE_HOME`` or ``~/.cache``.

    (``<cache>/codex-actors/staging``; a relative ``XDG_CACHE_HOME`` is ignored, as the XDG spec says.)
    """
    configured = os.environ.get(ROOT_ENV)
    if configured:
        return Path(configured).expanduser().absolute()
    cache = os.environ.get("XDG_CACHE_HOME")
    base = Path(cache) if cache and os.path.isabs(cache) else Path.home() / ".cache"
    return base / "codex-actors" / "staging"


def _prepare(root: str | os.PathLike[str] | None, *, create: bool = True) -> str | None:
    """The root's real path, with its subdirectories made (mode 0o700); ``None`` if missing and not ``create``."""
    base = os.path.abspath(os.path.expanduser(os.fspath(root))) if root is not None else str(default_root())
    if not os.path.isdir(base):
        if not create:
            return None
        try:
            os.makedirs(base, mode=0o700)
            os.chmod(base, 0o700)  # whatever the umask (only by the one that made it)
        except FileExistsError:
            pass
        if not os.path.isdir(base):
            raise AttachmentError(f"the staging root {base!r} is not a directory")
    root_real = os.path.realpath(base)
    for sub in SUBDIRS:
        path = os.path.join(root_real, sub)
        with suppress(FileExistsError):
            os.mkdir(path, 0o700)
        st = os.lstat(path)
        if not stat.S_ISDIR(st.st_mode):
            raise AttachmentError(f"{path!r} is not a directory (a symlink?): the staging root is not usable")
    return root_real


_swept: set[str] = set()
_swept_lock = threading.Lock()


def _first_use(root_real: str) -> None:
    with _swept_lock:
        if root_real in _swept:
            return
        _swept.add(root_real)
    _collect(root_real, "sweep")


# -- in use ----------------------------------------------------------------------------------------------------

_in_use: Counter[str] = Counter()
_in_use_lock = threading.Lock()


def is_in_use(sha256: str) -> bool:
    """Whether a staged file with this SHA-256 is held by :func:`in_use` in this process."""
    with _in_use_lock:
        return _in_use[sha256] > 0


def _lock_shared(path: str) -> int:
    """Open a staged copy (never through a symlink) and take a shared ``flock`` on it: cleanups skip it."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH)
    except BaseException:
        os.close(fd)
        raise
    return fd


def _hold(staged: StagedFile) -> int:
    """:func:`_lock_shared` on the staged copy, which must still be the one staged."""
    try:
        fd = _lock_shared(staged.path)
    except OSError as exc:
        raise AttachmentError(f"{staged.name!r} is no longer staged ({staged.path}): {exc.strerror}") from None
    try:
        held, now = os.fstat(fd), os.stat(staged.path, follow_symlinks=False)
        if (held.st_dev, held.st_ino) != (now.st_dev, now.st_ino) or held.st_size != staged.size:
            raise AttachmentError(f"{staged.name!r} is no longer staged ({staged.path}): it was removed")
    except BaseException:
        os.close(fd)
        raise
    return fd


@contextmanager
def in_use(*staged: StagedFile) -> Iterator[tuple[StagedFile, ...]]:
    """Hold staged files for as long as the block runs (a turn that uses them): no cleanup removes them.

    Counted per SHA-256 in this process (see :func:`is_in_use`; nested and concurrent holds add up), and a
    shared ``flock`` on each staged copy keeps other processes' cleanups off it too. Raises
    :class:`AttachmentError` if one is no longer staged (cleaned up already): before the turn, not during it.
    Yields the files.
    """
    for item in staged:
        if not isinstance(item, StagedFile):
            raise TypeError(f"in_use() takes StagedFile values, not {type(item).__name__}")
    held: list[str] = []
    fds: list[int] = []
    try:
        for item in staged:
            with _in_use_lock:
                _in_use[item.sha256] += 1
            held.append(item.sha256)
            fds.append(_hold(item))
        yield staged
    finally:
        _release(held, fds)


def _release(held: list[str], fds: list[int]) -> None:
    """Give back the holds counted for ``held`` (SHA-256s) and close their ``flock``-ed descriptors."""
    with _in_use_lock:
        for sha in held:
            _in_use[sha] -= 1
            if _in_use[sha] <= 0:
                del _in_use[sha]
    for fd in fds:
        os.close(fd)


@contextmanager
def _in_use_paths(paths: Iterable[str]) -> Iterator[None]:
    """Hold the staged copies among ``paths`` (``<root>/blobs/<sha256><ext>``; other paths are left alone).

    What a turn holds for its local images, by their paths alone: as :func:`in_use`, counted by SHA-256 and
    ``flock``-ed, so no cleanup removes them while the turn is in flight. A copy gone already is skipped (the
    turn then fails in the engine, as for any missing file).
    """
    held: list[str] = []
    fds: list[int] = []
    try:
        for path in paths:
            match = _BLOB_NAME.match(os.path.basename(path))
            if match is None or os.path.basename(os.path.dirname(path)) != "blobs":
                continue
            try:
                fds.append(_lock_shared(path))
            except OSError:
                continue
            with _in_use_lock:
                _in_use[match.group(1)] += 1
            held.append(match.group(1))
        yield
    finally:
        _release(held, fds)


# -- staging ---------------------------------------------------------------------------------------------------


def _check_limits(ttl_s: float, max_bytes: int) -> None:
    if not isinstance(ttl_s, int | float) or isinstance(ttl_s, bool) or math.isnan(ttl_s) or ttl_s < 0:
        raise AttachmentError(f"ttl_s must be a number of seconds >= 0, not {ttl_s!r}")
    if not isinstance(max_bytes, int) or isinstance(max_bytes, bool) or max_bytes < 0:
        raise AttachmentError(f"max_bytes must be an integer >= 0, not {max_bytes!r}")


def _too_large(label: str, size: int | None, max_bytes: int) -> FileTooLargeError:
    what = f"{size} bytes" if size is not None else f"more than {max_bytes} bytes"
    return FileTooLargeError(
        f"{label} is too large to stage: {what}, the limit is {max_bytes} bytes (max_bytes)",
        size=size,
        max_bytes=max_bytes,
    )


def _open_source(path: str, max_bytes: int) -> int:
    """A descriptor reading the regular file at ``path`` (a symlink's target), refused as AttachmentError."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise AttachmentError(f"cannot stage {path!r}: no such file") from None
    except OSError as exc:
        raise AttachmentError(f"cannot stage {path!r}: {exc.strerror or exc}") from None
    if stat.S_ISDIR(st.st_mode):
        raise AttachmentError(f"cannot stage {path!r}: it is a directory, not a file")
    if not stat.S_ISREG(st.st_mode):
        raise AttachmentError(f"cannot stage {path!r}: it is not a regular file")
    if st.st_size > max_bytes:
        raise _too_large(repr(path), st.st_size, max_bytes)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK)
    except OSError as exc:
        raise AttachmentError(f"cannot stage {path!r}: it is not readable ({exc.strerror or exc})") from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise AttachmentError(f"cannot stage {path!r}: it is not a regular file")
    return fd


def _chunks_of_fd(fd: int, path: str, limit: int) -> Iterator[bytes]:
    remaining = limit
    while remaining > 0:
        try:
            chunk = os.read(fd, min(_CHUNK, remaining))
        except OSError as exc:
            raise AttachmentError(f"cannot stage {path!r}: reading failed ({exc.strerror or exc})") from None
        if not chunk:
            return
        remaining -= len(chunk)
        yield chunk


def _chunks_of_bytes(data: memoryview) -> Iterator[memoryview]:
    for start in range(0, len(data), _CHUNK):
        yield data[start : start + _CHUNK]


_active_tmp: set[str] = set()
_active_tmp_lock = threading.Lock()


def stage(
    source: str | os.PathLike[str] | bytes | bytearray | memoryview,
    name: str | None = None,
    *,
    persist: bool = False,
    ttl_s: float = DEFAULT_TTL_S,
    root: str | os.PathLike[str] | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> StagedFile:
    """Stage a file (a path, read through symlinks; or bytes) under the staging root; return its StagedFile.

    ``name`` is the display name (default: the path's basename, or ``attachment`` with the type's extension),
    sanitised to one safe basename; it also gives the type when the bytes are not recognised. The staged copy
    lives ``ttl_s`` seconds (the latest of all stagings of the same bytes wins) unless ``persist``. ``root``:
    the staging root (default :func:`default_root`). Raises :class:`FileTooLargeError` past ``max_bytes``
    (never reading more than ``max_bytes + 1`` bytes), :class:`AttachmentError` for a path that is missing,
    unreadable or not a regular file.
    """
    _check_limits(ttl_s, max_bytes)
    if isinstance(source, bytes | bytearray | memoryview):
        data = memoryview(source).cast("B")
        label = "the bytes"
        if len(data) > max_bytes:
            raise _too_large(label, len(data), max_bytes)
        chunks: Iterator[bytes | memoryview] = _chunks_of_bytes(data)
        fallback_name = ""
        fd: int | None = None
    else:
        path = os.fsdecode(os.fspath(source))
        label = repr(path)
        fd = _open_source(path, max_bytes)
        chunks = _chunks_of_fd(fd, path, max_bytes + 1)
        fallback_name = os.path.basename(path)
    try:
        root_real = _prepare(root)
        assert root_real is not None
        _first_use(root_real)
        tmp_fd, tmp_path = tempfile.mkstemp(prefix=f"{os.getpid()}-", suffix=".part", dir=f"{root_real}/tmp")
        with _active_tmp_lock:
            _active_tmp.add(os.path.basename(tmp_path))
        try:
            hasher, sniffer, size = hashlib.sha256(), Sniffer(), 0
            with os.fdopen(tmp_fd, "wb") as out:
                for chunk in chunks:
                    size += len(chunk)
                    if size > max_bytes:
                        raise _too_large(label, None, max_bytes)
                    hasher.update(chunk)
                    sniffer.feed(chunk)
                    out.write(chunk)
            staged, deduplicated = _commit(
                root_real,
                tmp_path,
                hasher.hexdigest(),
                size,
                sniffer.result(),
                name,
                fallback_name,
                persist,
                ttl_s,
            )
        finally:
            with suppress(FileNotFoundError):
                os.unlink(tmp_path)
            with _active_tmp_lock:
                _active_tmp.discard(os.path.basename(tmp_path))
    finally:
        if fd is not None:
            os.close(fd)
    _emit(
        "attachment.staged",
        {"size_bytes": staged.size},
        {
            "sha256": staged.sha256,
            "name": staged.name,
            "mime_type": staged.mime_type,
            "persist": staged.persist,
            "deduplicated": deduplicated,
        },
    )
    return staged


def _display_name(name: str | None, fallback: str, mime_type: str | None) -> str:
    cleaned = sanitize_name(name if name is not None else fallback)
    if cleaned:
        return cleaned
    ext = BLOB_EXTENSIONS.get(mime_type) if mime_type else None
    return "attachment" + (ext if ext and ext != ".bin" else "")


def _commit(
    root_real: str,
    tmp_path: str,
    sha: str,
    size: int,
    detected: str | None,
    name: str | None,
    fallback_name: str,
    persist: bool,
    ttl_s: float,
) -> tuple[StagedFile, bool]:
    """Move the written copy into blobs/ (unless those bytes are there already) and record its lifetime."""
    display = sanitize_name(name if name is not None else fallback_name)
    claimed = name_mime(display) if display else None
    mime_type, mismatch = reconcile_mime(detected, claimed, display or "the bytes")
    if not display:
        display = _display_name(None, "", mime_type)
    blob_name = sha + blob_extension(detected)
    blob_path = os.path.join(root_real, "blobs", blob_name)
    with root_lock(root_real):
        blobs_fd = open_subdir(root_real, "blobs")
        if blobs_fd is None:
            raise AttachmentError(f"the staging root {root_real!r} has no usable blobs directory")
        try:
            try:
                st = os.lstat(blob_name, dir_fd=blobs_fd)
                deduplicated = stat.S_ISREG(st.st_mode) and st.st_size == size
                if not deduplicated:  # a planted link, or a damaged copy: replaced (the link itself)
                    unlink_entry(blobs_fd, blob_name)
            except FileNotFoundError:
                deduplicated = False
            if not deduplicated:
                os.replace(tmp_path, blob_path)
            meta = _read_meta(root_real, sha) or {}
            now = time.time()
            expires_at = max(float(meta.get("expires_at") or 0.0), now + ttl_s)
            persisted = bool(meta.get("persist")) or persist
            _write_meta(
                root_real, sha, {"blob": blob_name, "size": size, "persist": persisted, "expires_at": expires_at}
            )
        finally:
            os.close(blobs_fd)
    staged = StagedFile(
        sha256=sha,
        size=size,
        mime_type=mime_type,
        name=display,
        path=blob_path,
        persist=persisted,
        expires_at=None if persisted else expires_at,
        detected_mime=detected,
        name_mime=claimed,
        mime_mismatch=mismatch,
    )
    return staged, deduplicated


def _read_meta(root_real: str, sha: str) -> dict[str, Any] | None:
    meta_fd = open_subdir(root_real, "meta")
    if meta_fd is None:
        return None
    try:
        fd = os.open(f"{sha}.json", os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK, dir_fd=meta_fd)
    except OSError:
        return None
    finally:
        os.close(meta_fd)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        raw = os.read(fd, _MAX_META_BYTES)
    finally:
        os.close(fd)
    try:
        meta = json.loads(raw)
    except ValueError:
        return None
    return meta if isinstance(meta, dict) else None


def _write_meta(root_real: str, sha: str, meta: dict[str, Any]) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f"{os.getpid()}-", suffix=".meta.part", dir=f"{root_real}/tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump({"sha256": sha, **meta}, out)
        os.replace(tmp, os.path.join(root_real, "meta", f"{sha}.json"))
    finally:
        with suppress(FileNotFoundError):
            os.unlink(tmp)


# -- cleanup ---------------------------------------------------------------------------------------------------

_Reason = Literal["ttl", "forced", "sweep"]


def _due(meta: dict[str, Any] | None, now: float, reason: _Reason) -> bool:
    if reason == "forced" or meta is None:  # no record: left by a crash (records are written under the lock)
        return True
    if meta.get("persist"):
        return False
    expires_at = meta.get("expires_at")
    return not isinstance(expires_at, int | float) or expires_at <= now


def _locked_elsewhere(blobs_fd: int, entry: str) -> bool:
    """Whether an :func:`in_use` anywhere holds the blob (its shared flock); takes nothing if not."""
    try:
        fd = os.open(entry, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK, dir_fd=blobs_fd)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


def _sweep_tmp(root_real: str, now: float) -> tuple[int, int]:
    tmp_fd = open_subdir(root_real, "tmp")
    if tmp_fd is None:
        return 0, 0
    removed = freed = 0
    try:
        with _active_tmp_lock:
            active = set(_active_tmp)
        for entry in os.listdir(tmp_fd):
            if entry in active:
                continue
            try:
                st = os.lstat(entry, dir_fd=tmp_fd)
            except OSError:
                continue
            if stat.S_ISREG(st.st_mode) and now - st.st_mtime <= ORPHAN_AGE_S:
                continue
            size = unlink_entry(tmp_fd, entry)
            if size is not None:
                removed, freed = removed + 1, freed + size
    finally:
        os.close(tmp_fd)
    return removed, freed


def _collect(root_real: str, reason: _Reason) -> CleanupReport:
    """Remove what is due under the root's lock, then report it (and tell the event sink if anything went)."""
    removed = freed = kept = 0
    with root_lock(root_real):
        now = time.time()
        removed, freed = _sweep_tmp(root_real, now)
        blobs_fd = open_subdir(root_real, "blobs")
        meta_fd = open_subdir(root_real, "meta")
        try:
            present: set[str] = set()
            if blobs_fd is not None:
                for entry in os.listdir(blobs_fd):
                    match = _BLOB_NAME.match(entry)
                    try:
                        st = os.lstat(entry, dir_fd=blobs_fd)
                    except OSError:
                        continue
                    if stat.S_ISLNK(st.st_mode):  # never ours: unlink the link itself, never its target
                        unlink_entry(blobs_fd, entry)
                        continue
                    if match is None or not stat.S_ISREG(st.st_mode):
                        continue
                    sha = match.group(1)
                    present.add(sha)
                    if not _due(_read_meta(root_real, sha), now, reason):
                        continue
                    if is_in_use(sha) or _locked_elsewhere(blobs_fd, entry):
                        kept += 1
                        continue
                    size = unlink_entry(blobs_fd, entry)
                    if size is not None:
                        present.discard(sha)
                        removed, freed = removed + 1, freed + size
            if meta_fd is not None:
                for entry in os.listdir(meta_fd):
                    match = _META_NAME.match(entry)
                    if match is None or match.group(1) not in present:
                        try:
                            st = os.lstat(entry, dir_fd=meta_fd)
                        except OSError:
                            continue
                        if match is not None or stat.S_ISLNK(st.st_mode):
                            unlink_entry(meta_fd, entry)
        finally:
            for fd in (blobs_fd, meta_fd):
                if fd is not None:
                    os.close(fd)
    report = CleanupReport(removed=removed, bytes=freed, kept_in_use=kept)
    if removed:
        _emit("attachment.cleaned", {"count": removed, "bytes": freed}, {"reason": reason})
    return report


def _run(root: str | os.PathLike[str] | None, reason: _Reason) -> CleanupReport:
    root_real = _prepare(root, create=False)
    if root_real is None:
        return CleanupReport()
    with _swept_lock:  # a cleanup does all a first-use sweep would
        _swept.add(root_real)
    return _collect(root_real, reason)


def cleanup(root: str | os.PathLike[str] | None = None) -> CleanupReport:
    """Remove the staged files whose TTL has passed (not persisted ones, not ones :func:`in_use`)."""
    return _run(root, "ttl")


def force_cleanup(root: str | os.PathLike[str] | None = None) -> CleanupReport:
    """Remove every staged file not :func:`in_use`, persisted ones too."""
    return _run(root, "forced")


def sweep(root: str | os.PathLike[str] | None = None) -> CleanupReport:
    """Remove what crashed processes left: temporary copies older than 60 s, expired and unrecorded blobs.

    Runs by itself at the first use of a root in a process (:func:`stage`, :func:`cleanup`).
    """
    return _run(root, "sweep")
