"""The mechanics under :mod:`codex_actors.files`: MIME sniffing, display names, the root's locks, safe deletion.

Nothing here knows about :class:`~codex_actors.files.StagedFile`; the public module builds on these pieces.

Safety rules kept here:

* A display name is only ever a label: :func:`sanitize_name` turns anything into one safe basename, and no file
  is ever named after it (blobs are named by their hash).
* :func:`unlink_entry` deletes one directory entry of one of the root's own subdirectories, through a directory
  descriptor opened without following symlinks, after checking the directory's real path is inside the root's.
  A symlink is unlinked itself, never followed.
"""

from __future__ import annotations

import codecs
import errno
import fcntl
import mimetypes
import os
import re
import stat
import threading
import unicodedata
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = [
    "BLOB_EXTENSIONS",
    "SUBDIRS",
    "Sniffer",
    "blob_extension",
    "is_inside",
    "name_mime",
    "open_subdir",
    "reconcile_mime",
    "root_lock",
    "sanitize_name",
    "unlink_entry",
]

#: The root's own subdirectories: the only places anything is ever written or deleted.
SUBDIRS = ("blobs", "meta", "tmp")

#: How the bytes' own type names a blob (so the engine can tell an image by its name); unrecognised: ``.bin``.
BLOB_EXTENSIONS: dict[str | None, str] = {
    "image/png": ".png",
    "image/jpeg": ".jpg",
    "image/gif": ".gif",
    "image/webp": ".webp",
    "application/pdf": ".pdf",
    "text/plain": ".txt",
    None: ".bin",
}

#: Types recognised from magic bytes: a name claiming one of them is checked against the bytes.
_MAGIC_TYPES = frozenset(t for t in BLOB_EXTENSIONS if t not in (None, "text/plain"))

#: Application types that are text: a UTF-8 file named ``x.json`` is ``application/json``, with no mismatch.
_TEXTUAL_APPLICATION = frozenset(
    {
        "application/json",
        "application/xml",
        "application/javascript",
        "application/ecmascript",
        "application/x-sh",
        "application/x-csh",
        "application/x-tex",
        "application/x-latex",
        "application/toml",
        "application/yaml",
        "application/x-yaml",
        "application/sql",
        "application/x-python",
        "application/x-httpd-php",
        "application/rtf",
        "application/x-ndjson",
        "application/n-triples",
    }
)

#: The built-in table only (not the machine's mime.types), plus a few the standard library lacks.
_NAME_TYPES = mimetypes.MimeTypes()
for _ext, _type in {
    ".webp": "image/webp",
    ".md": "text/markdown",
    ".markdown": "text/markdown",
    ".yaml": "application/yaml",
    ".yml": "application/yaml",
    ".toml": "application/toml",
    ".jsonl": "application/x-ndjson",
    ".ndjson": "application/x-ndjson",
    ".log": "text/plain",
    ".rs": "text/x-rust",
    ".go": "text/x-go",
    ".ts": "text/x-typescript",
}.items():
    _NAME_TYPES.add_type(_type, _ext)

#: The longest display name, in UTF-8 bytes (a common file system limit).
MAX_NAME_BYTES = 255

_UNSAFE_CHARS = re.compile(r'[<>:"|?*]')


class Sniffer:
    """Recognises a file's type from its bytes, fed in chunks: the magic types, or UTF-8 text without NULs."""

    def __init__(self) -> None:
        self._head = bytearray()
        self._decoder = codecs.getincrementaldecoder("utf-8")()
        self._text = True
        self._size = 0

    def feed(self, chunk: bytes | memoryview) -> None:
        """Take the next chunk of the bytes."""
        if not chunk:
            return
        self._size += len(chunk)
        if len(self._head) < 16:
            self._head += bytes(chunk[: 16 - len(self._head)])
        if self._text:
            data = bytes(chunk)
            if b"\x00" in data:
                self._text = False
                return
            try:
                self._decoder.decode(data, final=False)
            except UnicodeDecodeError:
                self._text = False

    def result(self) -> str | None:
        """The bytes' type (``None``: not recognised, or empty)."""
        head = bytes(self._head)
        if head.startswith(b"\x89PNG\r\n\x1a\n"):
            return "image/png"
        if head.startswith(b"\xff\xd8\xff"):
            return "image/jpeg"
        if head.startswith((b"GIF87a", b"GIF89a")):
            return "image/gif"
        if head.startswith(b"RIFF") and head[8:12] == b"WEBP":
            return "image/webp"
        if head.startswith(b"%PDF-"):
            return "application/pdf"
        if self._size and self._text:
            try:
                self._decoder.decode(b"", final=True)
            except UnicodeDecodeError:
                self._text = False
                return None
            return "text/plain"
        return None


def name_mime(name: str) -> str | None:
    """The type a display name's extension claims (``None``: none known)."""
    mime, _ = _NAME_TYPES.guess_type(name, strict=False)
    return mime


def _is_textual(mime: str) -> bool:
    return (
        mime.startswith("text/")
        or mime in _TEXTUAL_APPLICATION
        or mime.endswith(("+json", "+xml"))
        or mime == "image/svg+xml"
    )


def reconcile_mime(detected: str | None, claimed: str | None, name: str) -> tuple[str, str | None]:
    """The type to use, and a message when the bytes and the name disagree (``None``: they agree).

    Recognised bytes win over the name (a PNG named ``x.pdf`` is a PNG, and that is reported). UTF-8 text takes
    the name's type when the name says a text type (``x.json``: ``application/json``). Unrecognised bytes take
    the name's type, unless the name claims a type the bytes would have been recognised as: then they are
    ``application/octet-stream`` (a file named ``x.png`` that is not a PNG is not trusted to be one).
    """
    if detected is not None and detected != "text/plain":
        if claimed is not None and claimed != detected:
            return detected, f"{name!r}: the bytes are {detected} but the name says {claimed}; using {detected}"
        return detected, None
    if detected == "text/plain":
        if claimed is None or _is_textual(claimed):
            return claimed or detected, None
        return detected, f"{name!r}: the bytes are text/plain but the name says {claimed}; using text/plain"
    if claimed in _MAGIC_TYPES:
        return (
            "application/octet-stream",
            f"{name!r}: the name says {claimed} but the bytes are not {claimed}; using application/octet-stream",
        )
    return claimed or "application/octet-stream", None


def blob_extension(detected: str | None) -> str:
    """The blob's extension: from the bytes' own type only, so the same bytes always make the same blob."""
    return BLOB_EXTENSIONS.get(detected, ".bin")


def _truncate_utf8(text: str, limit: int) -> str:
    encoded = text.encode("utf-8")
    if len(encoded) <= limit:
        return text
    return encoded[:limit].decode("utf-8", errors="ignore")


def sanitize_name(name: str) -> str:
    r"""One safe display basename for ``name``: its last path component, without control characters.

    Both ``/`` and ``\`` separate components; NUL and other control, format and surrogate characters go; the
    characters Windows refuses become ``_``; leading dots and surrounding spaces go (so ``..`` is empty); the
    result is NFC, at most 255 UTF-8 bytes (the extension kept). An empty result is ``""``: the caller names it.
    """
    text = re.split(r"[/\\]", name)[-1]
    text = "".join(ch for ch in text if unicodedata.category(ch) not in ("Cc", "Cf", "Cs", "Co", "Cn"))
    text = _UNSAFE_CHARS.sub("_", unicodedata.normalize("NFC", text))
    while True:  # ".. .." is "..", then ""
        stripped = text.strip().lstrip(".")
        if stripped == text:
            break
        text = stripped
    if len(text.encode("utf-8")) > MAX_NAME_BYTES:
        stem, dot, ext = text.rpartition(".")
        if dot and stem and 0 < len(ext.encode("utf-8")) <= 16:
            suffix = dot + ext
            text = _truncate_utf8(stem, MAX_NAME_BYTES - len(suffix.encode("utf-8"))).rstrip() + suffix
        else:
            text = _truncate_utf8(text, MAX_NAME_BYTES).rstrip()
    return text


def is_inside(path: str, root_real: str) -> bool:
    """Whether ``path``'s real path is ``root_real`` or below it (``root_real`` already a real path)."""
    real = os.path.realpath(path)
    return real == root_real or real.startswith(root_real.rstrip(os.sep) + os.sep)


_THREAD_LOCKS: dict[str, threading.RLock] = {}
_THREAD_LOCKS_GUARD = threading.Lock()


@contextmanager
def root_lock(root_real: str) -> Iterator[None]:
    """Hold the root's lock: a per-root thread lock in this process, and ``flock`` on ``<root>/lock`` across.

    Reentrant within one thread (the file lock is taken by the outermost holder only).
    """
    with _THREAD_LOCKS_GUARD:
        lock = _THREAD_LOCKS.setdefault(root_real, threading.RLock())
    with lock:
        depth = getattr(_HELD, root_real, 0)
        if depth:
            setattr(_HELD, root_real, depth + 1)
            try:
                yield
            finally:
                setattr(_HELD, root_real, depth)
            return
        fd = os.open(os.path.join(root_real, "lock"), os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            setattr(_HELD, root_real, 1)
            try:
                yield
            finally:
                setattr(_HELD, root_real, 0)
        finally:
            os.close(fd)  # releases the flock


class _Held(threading.local):
    pass


_HELD = _Held()


def open_subdir(root_real: str, sub: str) -> int | None:
    """A descriptor of ``<root>/<sub>``, opened without following a symlink (``None``: missing or not ours).

    ``None`` too when the directory's real path is not directly inside the root's (it was swapped for a link).
    """
    if sub not in SUBDIRS:
        raise ValueError(f"not a staging subdirectory: {sub!r}")
    path = os.path.join(root_real, sub)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return None
    if os.path.realpath(path) != path:
        os.close(fd)
        return None
    return fd


def unlink_entry(dir_fd: int, entry: str) -> int | None:
    """Delete one entry of an open staging subdirectory if it is a regular file or a symlink (the link itself).

    Returns the size removed (0 for a link), or ``None`` when nothing was removed (missing, a directory, or a
    name that is not one plain component).
    """
    if not entry or entry in (".", "..") or "/" in entry or "\x00" in entry:
        return None
    try:
        st = os.lstat(entry, dir_fd=dir_fd)
    except OSError:
        return None
    if stat.S_ISLNK(st.st_mode):
        size = 0
    elif stat.S_ISREG(st.st_mode):
        size = st.st_size
    else:
        return None
    try:
        os.unlink(entry, dir_fd=dir_fd)
    except FileNotFoundError:
        return None
    except OSError as exc:  # pragma: no cover - permissions
        if exc.errno in (errno.EACCES, errno.EPERM):
            return None
        raise
    return size
