"""codex_actors.files: staging, dedup, MIME detection, limits, cleanup, in-use protection, safety."""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from codex_actors import files
from codex_actors._staging import sanitize_name
from codex_actors.errors import CodexError
from codex_actors.files import (
    AttachmentError,
    CleanupReport,
    FileTooLargeError,
    StagedFile,
    _set_event_sink,
    cleanup,
    default_root,
    force_cleanup,
    in_use,
    is_in_use,
    stage,
    sweep,
)

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + bytes(range(64))
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(range(32))
GIF = b"GIF89a" + bytes(range(32))
WEBP = b"RIFF\x24\x00\x00\x00WEBPVP8 " + bytes(range(32))
PDF = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n" + b"1 0 obj\n"
BINARY = b"\x00\x01\x02\xff\xfe\xfd" * 8

Event = tuple[str, dict[str, float], dict[str, Any]]


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path / "staging"


@pytest.fixture
def events() -> Iterator[list[Event]]:
    seen: list[Event] = []
    previous = _set_event_sink(lambda event, measurements, metadata: seen.append((event, measurements, metadata)))
    yield seen
    _set_event_sink(previous)


def blobs(root: Path) -> list[str]:
    return sorted(os.listdir(root / "blobs"))


def age(path: Path, seconds: float) -> None:
    then = time.time() - seconds
    os.utime(path, (then, then))


# -- staging ---------------------------------------------------------------------------------------------------


def test_stage_bytes(root: Path) -> None:
    staged = stage(b"hello world\n", "notes.txt", root=root)
    assert staged.sha256 == hashlib.sha256(b"hello world\n").hexdigest()
    assert staged.size == 12
    assert staged.mime_type == "text/plain"
    assert staged.name == "notes.txt"
    assert os.path.isabs(staged.path)
    assert Path(staged.path).parent == (root / "blobs").resolve()
    assert Path(staged.path).name == staged.sha256 + ".txt"
    assert Path(staged.path).read_bytes() == b"hello world\n"
    assert staged.persist is False
    assert staged.expires_at is not None and staged.expires_at > time.time() + 3500
    assert staged.mime_mismatch is None
    assert os.listdir(root / "tmp") == []
    meta = json.loads((root / "meta" / f"{staged.sha256}.json").read_text())
    assert meta["persist"] is False and meta["expires_at"] == pytest.approx(staged.expires_at)


def test_stage_path_and_pathlike(tmp_path: Path, root: Path) -> None:
    source = tmp_path / "shot.png"
    source.write_bytes(PNG)
    by_str = stage(str(source), root=root)
    by_path = stage(source, root=root)
    assert by_str == by_path
    assert by_str.name == "shot.png" and by_str.mime_type == "image/png" and by_str.is_image
    assert by_str.path.endswith(".png")
    assert blobs(root) == [f"{by_str.sha256}.png"]


def test_stage_accepts_bytearray_and_memoryview(root: Path) -> None:
    a = stage(bytearray(b"abc"), root=root)
    b = stage(memoryview(b"abc"), root=root)
    assert a == b and a.size == 3


def test_default_names(root: Path) -> None:
    assert stage(b"text", root=root).name == "attachment.txt"
    assert stage(PNG, root=root).name == "attachment.png"
    assert stage(BINARY, root=root).name == "attachment"
    assert stage(b"x", "..", root=root).name == "attachment.txt"


def test_staging_a_symlink_reads_the_target_into_a_new_regular_file(tmp_path: Path, root: Path) -> None:
    target = tmp_path / "real.pdf"
    target.write_bytes(PDF)
    link = tmp_path / "link.pdf"
    link.symlink_to(target)
    staged = stage(link, root=root)
    assert staged.mime_type == "application/pdf" and staged.name == "link.pdf"
    st = os.lstat(staged.path)
    assert stat.S_ISREG(st.st_mode) and not stat.S_ISLNK(st.st_mode)
    assert os.stat(staged.path).st_ino != os.stat(target).st_ino
    assert target.read_bytes() == PDF


def test_new_root_is_private(tmp_path: Path) -> None:
    root = tmp_path / "a" / "b" / "staging"
    stage(b"x", root=root)
    assert stat.S_IMODE(root.stat().st_mode) == 0o700
    for sub in ("blobs", "meta", "tmp"):
        assert stat.S_IMODE((root / sub).stat().st_mode) == 0o700
    assert stat.S_IMODE(os.stat(next((root / "blobs").iterdir())).st_mode) == 0o600


def test_default_root(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("CODEX_ACTORS_STAGING_ROOT", str(tmp_path / "configured"))
    assert default_root() == tmp_path / "configured"
    staged = stage(b"via env", "e.txt")
    assert Path(staged.path).parent == (tmp_path / "configured" / "blobs").resolve()
    monkeypatch.delenv("CODEX_ACTORS_STAGING_ROOT")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_root() == tmp_path / "xdg" / "codex-actors" / "staging"
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/ignored")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_root() == tmp_path / "home" / ".cache" / "codex-actors" / "staging"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert default_root() == tmp_path / "home" / ".cache" / "codex-actors" / "staging"


# -- dedup -----------------------------------------------------------------------------------------------------


def test_same_bytes_twice_is_one_copy(root: Path, events: list[Event]) -> None:
    first = stage(PNG, "a.png", root=root)
    second = stage(PNG, "b.png", root=root)
    assert first.path == second.path and first.sha256 == second.sha256
    assert (first.name, second.name) == ("a.png", "b.png")
    assert blobs(root) == [f"{first.sha256}.png"]
    assert [e[2]["deduplicated"] for e in events if e[0] == "attachment.staged"] == [False, True]


def test_same_bytes_under_different_names_is_still_one_copy(root: Path) -> None:
    stage(BINARY, "x.zip", root=root)
    stage(BINARY, "x.csv", root=root)
    stage(BINARY, root=root)
    assert len(blobs(root)) == 1


def test_sixteen_threads_one_copy(root: Path) -> None:
    data = os.urandom(256 * 1024)
    barrier = threading.Barrier(16)
    results: list[StagedFile] = []
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            barrier.wait()
            results.append(stage(data, "same.bin", root=root))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(results) == 16 and len(set(results)) == 1
    assert all(r == results[0] for r in results)
    assert blobs(root) == [Path(results[0].path).name]
    assert Path(results[0].path).read_bytes() == data
    assert os.listdir(root / "tmp") == []
    assert os.listdir(root / "meta") == [f"{results[0].sha256}.json"]


_CHILD = """
import sys
from codex_actors.files import stage
root, ready = sys.argv[1], sys.argv[2]
open(ready + "." + sys.argv[3], "w").close()
import os, time
deadline = time.time() + 5
while not all(os.path.exists(ready + "." + n) for n in ("0", "1")) and time.time() < deadline:
    time.sleep(0.005)
data = bytes(range(256)) * 4096
paths = {stage(data, "shared.bin", root=root).path for _ in range(20)}
print(paths.pop())
"""


def test_two_processes_one_copy(tmp_path: Path, root: Path) -> None:
    ready = str(tmp_path / "ready")
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _CHILD, str(root), ready, str(n)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=Path(__file__).resolve().parents[2],
        )
        for n in range(2)
    ]
    outs = [p.communicate(timeout=60) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    paths = {out.strip() for out, _ in outs}
    assert len(paths) == 1
    assert blobs(root) == [Path(paths.pop()).name]
    assert os.listdir(root / "tmp") == []


# -- MIME ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "mime", "ext"),
    [
        (PNG, "image/png", ".png"),
        (JPEG, "image/jpeg", ".jpg"),
        (GIF, "image/gif", ".gif"),
        (b"GIF87a" + b"\x01" * 8, "image/gif", ".gif"),
        (WEBP, "image/webp", ".webp"),
        (PDF, "application/pdf", ".pdf"),
        ("héllo wörld ✓\n".encode(), "text/plain", ".txt"),
    ],
)
def test_mime_from_bytes(root: Path, data: bytes, mime: str, ext: str) -> None:
    staged = stage(data, "noextension", root=root)
    assert (staged.mime_type, staged.detected_mime, staged.name_mime) == (mime, mime, None)
    assert staged.path.endswith(ext) and staged.mime_mismatch is None


@pytest.mark.parametrize(
    ("data", "name", "mime"),
    [
        (BINARY, "archive.zip", "application/zip"),
        (BINARY, "noextension", "application/octet-stream"),
        (b"", "empty", "application/octet-stream"),
        (b"", "empty.csv", "text/csv"),
        (b"a,b\n1,2\n", "table.csv", "text/csv"),
        (b'{"a": 1}', "data.json", "application/json"),
        (b"# Title\n", "README.md", "text/markdown"),
        (b"<svg/>", "icon.svg", "image/svg+xml"),
        (b"latin-1 \xe9t\xe9", "old.txt", "text/plain"),  # not UTF-8: the name is all there is
        (BINARY, "pic.bmp", "image/bmp"),
    ],
)
def test_mime_from_the_name_when_the_bytes_say_no_more(root: Path, data: bytes, name: str, mime: str) -> None:
    staged = stage(data, name, root=root)
    assert staged.mime_type == mime and staged.mime_mismatch is None


def test_text_with_a_nul_is_not_text(root: Path) -> None:
    staged = stage(b"abc\x00def", root=root)
    assert staged.detected_mime is None and staged.mime_type == "application/octet-stream"
    assert staged.path.endswith(".bin")


def test_truncated_utf8_is_not_text(root: Path) -> None:
    assert stage("ok é".encode()[:-1], root=root).detected_mime is None


def test_mismatch_bytes_win_when_recognised(root: Path) -> None:
    staged = stage(PNG, "report.pdf", root=root)
    assert staged.mime_type == "image/png"
    assert (staged.detected_mime, staged.name_mime) == ("image/png", "application/pdf")
    assert staged.mime_mismatch is not None
    assert "image/png" in staged.mime_mismatch and "application/pdf" in staged.mime_mismatch
    assert staged.path.endswith(".png")


def test_mismatch_text_named_as_an_image(root: Path) -> None:
    staged = stage(b"not an image", "photo.png", root=root)
    assert staged.mime_type == "text/plain" and not staged.is_image
    assert staged.mime_mismatch is not None and "image/png" in staged.mime_mismatch


def test_mismatch_unrecognised_bytes_claiming_a_checked_type_are_not_trusted(root: Path) -> None:
    staged = stage(BINARY, "photo.jpg", root=root)
    assert staged.mime_type == "application/octet-stream" and not staged.is_image
    assert staged.name_mime == "image/jpeg" and staged.detected_mime is None
    assert staged.mime_mismatch is not None and "image/jpeg" in staged.mime_mismatch


def test_jpeg_under_jpeg_names_agrees(root: Path) -> None:
    for name in ("a.jpg", "a.jpeg", "A.JPG"):
        assert stage(JPEG, name, root=root).mime_mismatch is None


# -- limits and errors -----------------------------------------------------------------------------------------


def test_errors_are_codex_and_value_errors() -> None:
    assert issubclass(AttachmentError, CodexError) and issubclass(AttachmentError, ValueError)
    assert issubclass(FileTooLargeError, AttachmentError)


def test_bytes_over_the_limit(root: Path) -> None:
    with pytest.raises(FileTooLargeError, match="max_bytes") as info:
        stage(b"x" * 11, root=root, max_bytes=10)
    assert (info.value.size, info.value.max_bytes) == (11, 10)
    assert stage(b"x" * 10, root=root, max_bytes=10).size == 10


def test_path_over_the_limit(tmp_path: Path, root: Path) -> None:
    big = tmp_path / "big.log"
    big.write_bytes(b"y" * 2048)
    with pytest.raises(FileTooLargeError) as info:
        stage(big, root=root, max_bytes=1024)
    assert info.value.size == 2048 and "big.log" in str(info.value)
    assert not (root / "blobs").exists() or blobs(root) == []


def test_default_limit_is_50_mib() -> None:
    assert files.DEFAULT_MAX_BYTES == 50 * 1024 * 1024


def test_never_reads_more_than_max_bytes_plus_one(
    tmp_path: Path, root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file that is larger than its stat said (it grew, or /proc-like) is cut at max_bytes + 1."""
    source = tmp_path / "growing.log"
    source.write_bytes(b"z" * 100_000)
    real_stat, real_read = os.stat, os.read
    read_total = 0

    def lying_stat(path: Any, *args: Any, **kwargs: Any) -> os.stat_result:
        st = real_stat(path, *args, **kwargs)
        if os.fspath(path) == str(source):
            fields = list(st)
            fields[stat.ST_SIZE] = 0
            return os.stat_result(fields)
        return st

    def counting_read(fd: int, n: int) -> bytes:
        nonlocal read_total
        chunk = real_read(fd, n)
        read_total += len(chunk)
        return chunk

    monkeypatch.setattr(os, "stat", lying_stat)
    monkeypatch.setattr(os, "read", counting_read)
    with pytest.raises(FileTooLargeError) as info:
        stage(source, root=root, max_bytes=1000)
    monkeypatch.undo()
    assert info.value.size is None
    assert read_total == 1001  # max_bytes + 1: enough to know it is too large, no more
    assert blobs(root) == [] and os.listdir(root / "tmp") == []


def test_missing_path(tmp_path: Path, root: Path) -> None:
    missing = tmp_path / "nope.png"
    with pytest.raises(AttachmentError, match=r"nope\.png"):
        stage(missing, root=root)


def test_directory(tmp_path: Path, root: Path) -> None:
    with pytest.raises(AttachmentError, match="directory"):
        stage(tmp_path, root=root)


def test_fifo_is_refused_without_blocking(tmp_path: Path, root: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    with pytest.raises(AttachmentError, match="not a regular file"):
        stage(fifo, root=root)


def test_unreadable_path(tmp_path: Path, root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("s")
    real_open = os.open

    def refusing_open(path: Any, flags: int, *args: Any, **kwargs: Any) -> int:
        if os.fspath(path) == str(secret):
            raise PermissionError(13, "Permission denied", str(secret))
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", refusing_open)
    with pytest.raises(AttachmentError, match=r"secret\.txt.*not readable"):
        stage(secret, root=root)


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root reads any file")
def test_unreadable_path_by_mode(tmp_path: Path, root: Path) -> None:  # pragma: no cover - not as root
    secret = tmp_path / "secret.txt"
    secret.write_text("s")
    secret.chmod(0)
    with pytest.raises(AttachmentError, match=r"secret\.txt"):
        stage(secret, root=root)


@pytest.mark.parametrize("ttl", [-1.0, float("nan")])
def test_bad_ttl(root: Path, ttl: float) -> None:
    with pytest.raises(AttachmentError, match="ttl_s"):
        stage(b"x", root=root, ttl_s=ttl)


def test_bad_max_bytes(root: Path) -> None:
    with pytest.raises(AttachmentError, match="max_bytes"):
        stage(b"x", root=root, max_bytes=-1)


def test_root_that_is_a_file(tmp_path: Path) -> None:
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("x")
    with pytest.raises(AttachmentError, match="not a directory"):
        stage(b"x", root=not_a_dir)


def test_a_subdirectory_swapped_for_a_symlink_is_refused(tmp_path: Path, root: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    root.mkdir()
    (root / "blobs").symlink_to(outside, target_is_directory=True)
    with pytest.raises(AttachmentError, match="blobs"):
        stage(b"x", root=root)
    assert list(outside.iterdir()) == []


# -- TTL and cleanup -------------------------------------------------------------------------------------------


def test_ttl_expiry(root: Path, events: list[Event]) -> None:
    staged = stage(b"short-lived", "s.txt", root=root, ttl_s=0.01)
    keeper = stage(b"long-lived", "l.txt", root=root)
    time.sleep(0.03)
    report = cleanup(root)
    assert report == CleanupReport(removed=1, bytes=len(b"short-lived"), kept_in_use=0)
    assert not os.path.exists(staged.path) and os.path.exists(keeper.path)
    assert not (root / "meta" / f"{staged.sha256}.json").exists()
    cleaned = [e for e in events if e[0] == "attachment.cleaned"]
    assert cleaned[-1][1]["count"] == 1 and cleaned[-1][1]["bytes"] == 11
    assert cleaned[-1][2] == {"reason": "ttl"} and "system_time" in cleaned[-1][1]


def test_cleanup_keeps_what_has_not_expired(root: Path) -> None:
    staged = stage(b"fresh", root=root)
    assert cleanup(root) == CleanupReport()
    assert os.path.exists(staged.path)


def test_latest_expiry_wins(root: Path) -> None:
    short = stage(b"shared", root=root, ttl_s=0.01)
    long = stage(b"shared", root=root, ttl_s=3600)
    assert short == long
    assert long.expires_at is not None and short.expires_at is not None and long.expires_at > short.expires_at
    time.sleep(0.03)
    assert cleanup(root).removed == 0 and os.path.exists(long.path)


def test_persist_survives_ttl_but_not_force(root: Path, events: list[Event]) -> None:
    kept = stage(b"keep me", root=root, persist=True, ttl_s=0)
    assert kept.persist and kept.expires_at is None
    time.sleep(0.01)
    assert cleanup(root).removed == 0 and os.path.exists(kept.path)
    report = force_cleanup(root)
    assert report.removed == 1 and report.bytes == 7
    assert not os.path.exists(kept.path) and os.listdir(root / "meta") == []
    assert events[-1][0] == "attachment.cleaned" and events[-1][2] == {"reason": "forced"}


def test_any_persist_wins(root: Path) -> None:
    stage(b"p", root=root, persist=True)
    again = stage(b"p", root=root, ttl_s=0)
    assert again.persist and again.expires_at is None
    assert cleanup(root).removed == 0


def test_cleanup_of_a_missing_root_creates_nothing(tmp_path: Path) -> None:
    missing = tmp_path / "never"
    assert cleanup(missing) == CleanupReport()
    assert force_cleanup(missing) == CleanupReport()
    assert sweep(missing) == CleanupReport()
    assert not missing.exists()


def test_cleanup_uses_the_default_root(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("CODEX_ACTORS_STAGING_ROOT", str(tmp_path / "dflt"))
    staged = stage(b"d", ttl_s=0)
    assert force_cleanup().removed == 1 and not os.path.exists(staged.path)
    assert cleanup() == CleanupReport()


def test_a_cleaned_file_can_be_staged_again(root: Path) -> None:
    first = stage(b"again", root=root)
    force_cleanup(root)
    second = stage(b"again", root=root)
    assert second == first and Path(second.path).read_bytes() == b"again"


# -- in use ----------------------------------------------------------------------------------------------------


def test_in_use_protects_from_cleanup(root: Path) -> None:
    staged = stage(b"busy", root=root, ttl_s=0)
    other = stage(b"idle", root=root, ttl_s=0)
    assert not is_in_use(staged.sha256)
    with in_use(staged) as held:
        assert held == (staged,)
        assert is_in_use(staged.sha256) and not is_in_use(other.sha256)
        assert cleanup(root) == CleanupReport(removed=1, bytes=4, kept_in_use=1)
        assert force_cleanup(root) == CleanupReport(removed=0, bytes=0, kept_in_use=1)
        assert os.path.exists(staged.path) and not os.path.exists(other.path)
    assert not is_in_use(staged.sha256)
    assert force_cleanup(root).removed == 1 and not os.path.exists(staged.path)


def test_in_use_nests_and_counts(root: Path) -> None:
    staged = stage(b"nested", root=root)
    with in_use(staged):
        with in_use(staged, staged):
            assert is_in_use(staged.sha256)
        assert is_in_use(staged.sha256)
        assert force_cleanup(root).kept_in_use == 1
    assert not is_in_use(staged.sha256)


def test_in_use_across_threads(root: Path) -> None:
    staged = stage(b"threads", root=root)
    entered, release = threading.Event(), threading.Event()

    def hold() -> None:
        with in_use(staged):
            entered.set()
            release.wait(5)

    t = threading.Thread(target=hold)
    t.start()
    assert entered.wait(5)
    assert is_in_use(staged.sha256) and force_cleanup(root).kept_in_use == 1
    release.set()
    t.join()
    assert not is_in_use(staged.sha256) and force_cleanup(root).removed == 1


def test_a_shared_lock_held_elsewhere_protects_too(root: Path) -> None:
    """in_use in another process holds a shared flock on the blob: a cleanup here leaves it alone."""
    staged = stage(b"other process", root=root)
    fd = os.open(staged.path, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH)
        assert not is_in_use(staged.sha256)
        assert force_cleanup(root) == CleanupReport(kept_in_use=1)
    finally:
        os.close(fd)
    assert force_cleanup(root).removed == 1


def test_in_use_of_a_removed_file_fails_before_the_turn(root: Path) -> None:
    staged = stage(b"gone", root=root)
    force_cleanup(root)
    with pytest.raises(AttachmentError, match="no longer staged"), in_use(staged):
        pytest.fail("entered")  # pragma: no cover
    assert not is_in_use(staged.sha256)


def test_in_use_of_a_replaced_file_fails(root: Path) -> None:
    staged = stage(b"replaced", root=root)
    force_cleanup(root)
    Path(staged.path).write_bytes(b"different bytes")
    with pytest.raises(AttachmentError), in_use(staged):
        pytest.fail("entered")  # pragma: no cover


def test_in_use_takes_staged_files_only() -> None:
    with pytest.raises(TypeError), in_use("x.png"):  # type: ignore[arg-type]
        pytest.fail("entered")  # pragma: no cover


def test_in_use_releases_when_the_block_raises(root: Path) -> None:
    staged = stage(b"raise", root=root)
    with pytest.raises(RuntimeError), in_use(staged):
        raise RuntimeError("turn failed")
    assert not is_in_use(staged.sha256)


# -- orphan sweep ----------------------------------------------------------------------------------------------


def _plant_root(root: Path) -> None:
    for sub in ("blobs", "meta", "tmp"):
        (root / sub).mkdir(parents=True, exist_ok=True)


def test_first_use_sweeps_what_a_crash_left(root: Path, events: list[Event]) -> None:
    _plant_root(root)
    old_tmp = root / "tmp" / "123-abc.part"
    old_tmp.write_bytes(b"half a file")
    age(old_tmp, 120)
    fresh_tmp = root / "tmp" / "456-def.part"  # another process may be writing it right now
    fresh_tmp.write_bytes(b"being written")
    expired_sha = "a" * 64
    (root / "blobs" / f"{expired_sha}.png").write_bytes(b"expired")
    (root / "meta" / f"{expired_sha}.json").write_text(json.dumps({"persist": False, "expires_at": 1.0}))
    unrecorded = root / "blobs" / f"{'b' * 64}.bin"  # renamed into place, then the process died
    unrecorded.write_bytes(b"no record")
    orphan_meta = root / "meta" / f"{'c' * 64}.json"
    orphan_meta.write_text("{}")
    persisted_sha = "d" * 64
    (root / "blobs" / f"{persisted_sha}.txt").write_bytes(b"persisted")
    (root / "meta" / f"{persisted_sha}.json").write_text(json.dumps({"persist": True, "expires_at": 1.0}))
    foreign = root / "blobs" / "README"  # not a blob name: not ours to judge
    foreign.write_text("x")

    staged = stage(b"new", root=root)

    assert not old_tmp.exists() and fresh_tmp.exists()
    assert sorted(blobs(root)) == sorted([f"{persisted_sha}.txt", Path(staged.path).name, "README"])
    assert not orphan_meta.exists()
    sweeps = [e for e in events if e[0] == "attachment.cleaned"]
    assert len(sweeps) == 1 and sweeps[0][2] == {"reason": "sweep"} and sweeps[0][1]["count"] == 3


def test_sweep_only_once_per_root_per_process_then_explicitly(root: Path) -> None:
    stage(b"first", root=root)
    old_tmp = root / "tmp" / "999-old.part"
    old_tmp.write_bytes(b"x")
    age(old_tmp, 120)
    stage(b"second", root=root)
    assert old_tmp.exists()  # the first use swept already
    report = sweep(root)
    assert report.removed == 1 and report.bytes == 1 and not old_tmp.exists()


def test_sweep_leaves_fresh_stagings_alone(root: Path) -> None:
    staged = stage(b"fresh", root=root)
    assert sweep(root) == CleanupReport()
    assert os.path.exists(staged.path)


# -- safety: symlinks and names --------------------------------------------------------------------------------


def test_symlink_planted_in_blobs_does_not_delete_its_target(tmp_path: Path, root: Path) -> None:
    stage(b"make the root", root=root)
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    planted = root / "blobs" / f"{'e' * 64}.png"
    planted.symlink_to(victim)
    other = root / "blobs" / "anything"
    other.symlink_to(victim)
    (root / "meta" / f"{'e' * 64}.json").symlink_to(victim)
    dir_victim = tmp_path / "victim_dir"
    dir_victim.mkdir()
    (dir_victim / "inside").write_text("x")
    (root / "blobs" / f"{'f' * 64}.bin").symlink_to(dir_victim, target_is_directory=True)
    for run in (cleanup, force_cleanup, sweep):
        run(root)
    assert victim.read_text() == "precious"
    assert (dir_victim / "inside").read_text() == "x"
    assert not os.path.lexists(planted) and not os.path.lexists(other)


def test_symlink_at_the_blob_name_is_replaced_not_written_through(tmp_path: Path, root: Path) -> None:
    stage(b"make the root", root=root)
    victim = tmp_path / "victim.png"
    victim.write_bytes(b"precious")
    sha = hashlib.sha256(PNG).hexdigest()
    (root / "blobs" / f"{sha}.png").symlink_to(victim)
    staged = stage(PNG, root=root)
    assert victim.read_bytes() == b"precious"
    assert stat.S_ISREG(os.lstat(staged.path).st_mode)
    assert Path(staged.path).read_bytes() == PNG


def test_symlink_at_the_meta_name_is_replaced_not_written_through(tmp_path: Path, root: Path) -> None:
    stage(b"make the root", root=root)
    victim = tmp_path / "victim.json"
    victim.write_text("precious")
    sha = hashlib.sha256(b"meta").hexdigest()
    (root / "meta" / f"{sha}.json").symlink_to(victim)
    stage(b"meta", root=root)
    assert victim.read_text() == "precious"
    assert stat.S_ISREG(os.lstat(root / "meta" / f"{sha}.json").st_mode)


def test_lock_file_planted_as_symlink_is_not_followed(tmp_path: Path, root: Path) -> None:
    _plant_root(root)
    victim = tmp_path / "victim.lock"
    (root / "lock").symlink_to(victim)
    with pytest.raises(OSError):
        stage(b"x", root=root)
    assert not victim.exists()


def test_root_given_through_a_symlink(tmp_path: Path) -> None:
    real = tmp_path / "real_root"
    real.mkdir()
    link = tmp_path / "link_root"
    link.symlink_to(real, target_is_directory=True)
    staged = stage(b"x", root=link)
    assert Path(staged.path).parent == (real / "blobs").resolve()
    assert force_cleanup(link).removed == 1


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("../../etc/passwd", "passwd"),
        ("..", ""),
        (".", ""),
        ("...", ""),
        ("a/b\\c.txt", "c.txt"),
        ("C:\\Users\\me\\shot.png", "shot.png"),
        ("evil\x00.png", "evil.png"),
        ("line\nbreak\r.txt", "linebreak.txt"),
        ("\u202etxt.exe", "txt.exe"),
        (".hidden", "hidden"),
        ("  spaced  ", "spaced"),
        ('a<b>c:d"e|f?g*.txt', "a_b_c_d_e_f_g_.txt"),
        ("e\u0301t\u00e9.txt", "\u00e9t\u00e9.txt"),
        ("スクリーンショット.png", "スクリーンショット.png"),
        ("dir/", ""),
    ],
)
def test_sanitize_name(raw: str, clean: str) -> None:
    assert sanitize_name(raw) == clean


def test_sanitize_long_names_keep_the_extension() -> None:
    long = "é" * 300 + ".png"
    clean = sanitize_name(long)
    assert len(clean.encode()) <= 255 and clean.endswith(".png")
    assert len(sanitize_name("x" * 1000).encode()) == 255


def test_a_hostile_name_is_only_a_label(tmp_path: Path, root: Path) -> None:
    staged = stage(PNG, "../../../" + str(tmp_path / "escape.png"), root=root)
    assert staged.name == "escape.png"
    assert Path(staged.path).parent == (root / "blobs").resolve()
    assert not (tmp_path / "escape.png").exists()


# -- telemetry -------------------------------------------------------------------------------------------------


def test_staged_event(root: Path, events: list[Event]) -> None:
    staged = stage(PNG, "s.png", root=root, persist=True)
    event, measurements, metadata = events[-1]
    assert event == "attachment.staged"
    assert measurements["size_bytes"] == staged.size and measurements["system_time"] == pytest.approx(
        time.time(), abs=5
    )
    assert metadata == {
        "sha256": staged.sha256,
        "name": "s.png",
        "mime_type": "image/png",
        "persist": True,
        "deduplicated": False,
    }


def test_no_cleaned_event_when_nothing_was_removed(root: Path, events: list[Event]) -> None:
    stage(b"x", root=root)
    cleanup(root)
    assert [e[0] for e in events] == ["attachment.staged"]


def test_a_raising_sink_does_not_break_staging(root: Path, caplog: pytest.LogCaptureFixture) -> None:
    def broken(event: str, measurements: dict[str, float], metadata: dict[str, Any]) -> None:
        raise RuntimeError("sink down")

    previous = _set_event_sink(broken)
    try:
        with caplog.at_level(logging.WARNING, logger="codex_actors.files"):
            first = stage(b"one", root=root, ttl_s=0)
            stage(b"two", root=root)
            assert force_cleanup(root).removed == 2
        assert os.path.exists(root / "blobs") and not os.path.exists(first.path)
        warnings = [r for r in caplog.records if r.name == "codex_actors.files"]
        assert len(warnings) == 1 and warnings[0].levelno == logging.WARNING
    finally:
        _set_event_sink(previous)


def test_no_sink_no_events(root: Path) -> None:
    previous = _set_event_sink(None)
    try:
        assert stage(b"quiet", root=root).size == 5
    finally:
        _set_event_sink(previous)
