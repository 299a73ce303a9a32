"""Hypothesis: whatever name is passed, staging and cleanup never write or delete outside the staging root."""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from codex_actors._staging import reconcile_mime, sanitize_name
from codex_actors.files import cleanup, force_cleanup, stage, sweep

#: Pieces hostile names are made of: traversal, separators, NUL and other controls, odd unicode.
_PIECES = st.sampled_from(
    [
        "..",
        ".",
        "/",
        "\\",
        "\x00",
        "~",
        "../",
        "..\\",
        "/etc/passwd",
        "C:",
        "outside",
        "\u202e",
        "\u200b",
        "é",
        "e\u0301",
        "日本",
        "\U0001f600",
        "\ud800",
        "\n",
        " ",
        ".png",
        ".json",
        "*",
        "?",
        "x" * 100,
    ]
)
names = st.one_of(st.lists(_PIECES, max_size=12).map("".join), st.text(max_size=300))
contents = st.binary(max_size=64) | st.sampled_from([b"\x89PNG\r\n\x1a\n....", b"%PDF-1.4", b"text\n"])


def _snapshot(base: Path, skip: Path) -> dict[str, tuple[str, bytes | str]]:
    """Every entry under base except the root's own tree: kind and content (or link target)."""
    seen: dict[str, tuple[str, bytes | str]] = {}
    for dirpath, dirnames, filenames in os.walk(base):
        current = Path(dirpath)
        dirnames[:] = [d for d in dirnames if current / d != skip]
        for entry in [*dirnames, *filenames]:
            path = current / entry
            rel = str(path.relative_to(base))
            if path.is_symlink():
                seen[rel] = ("link", os.readlink(path))
            elif path.is_dir():
                seen[rel] = ("dir", "")
            else:
                seen[rel] = ("file", path.read_bytes())
    return seen


def _inside(path: str, root: Path) -> bool:
    real, real_root = os.path.realpath(path), os.path.realpath(root)
    return real.startswith(real_root + os.sep)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(name=names, data=contents, persist=st.booleans())
def test_names_never_reach_outside_the_root(name: str, data: bytes, persist: bool) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        root = base / "root"
        sibling = base / "outside"
        sibling.mkdir()
        (sibling / "keep.txt").write_text("precious")
        (sibling / "passwd").write_text("root:x:0:0")
        source = sibling / "source.bin"
        source.write_bytes(data)
        # a planted link in blobs/ pointing at the sibling: cleanups must not follow it
        (root / "blobs").mkdir(parents=True)
        (root / "blobs" / (hashlib.sha256(b"planted").hexdigest() + ".txt")).symlink_to(sibling / "keep.txt")
        before = _snapshot(base, root)

        from_bytes = stage(data, name, root=root, persist=persist, ttl_s=0)
        from_path = stage(source, name, root=root)
        for staged in (from_bytes, from_path):
            assert _inside(staged.path, root)
            assert Path(staged.path).read_bytes() == data
            assert staged.name and staged.name not in (".", "..")
            assert not any(c in staged.name for c in "/\\\x00")
            assert len(staged.name.encode("utf-8")) <= 255
        cleanup(root)
        sweep(root)
        force_cleanup(root)

        assert _snapshot(base, root) == before
        for dirpath, _dirs, filenames in os.walk(root):
            for entry in filenames:
                assert _inside(os.path.join(dirpath, entry), root)


@given(names)
def test_sanitized_names_are_one_safe_component(name: str) -> None:
    clean = sanitize_name(name)
    assert "/" not in clean and "\\" not in clean and "\x00" not in clean
    assert clean not in (".", "..") and not clean.startswith(".")
    assert len(clean.encode("utf-8")) <= 255
    clean.encode("utf-8")  # no lone surrogates
    assert sanitize_name(clean) == clean


@given(
    detected=st.sampled_from(
        [None, "image/png", "image/jpeg", "image/gif", "image/webp", "application/pdf", "text/plain"]
    ),
    claimed=st.sampled_from([None, "image/png", "image/jpeg", "application/pdf", "text/csv", "application/zip"]),
)
def test_recognised_bytes_always_win(detected: str | None, claimed: str | None) -> None:
    mime, mismatch = reconcile_mime(detected, claimed, "name")
    assert mime
    if detected is not None and detected != "text/plain":
        assert mime == detected
        assert (mismatch is None) == (claimed in (None, detected))
    if detected is None and claimed in ("image/png", "image/jpeg", "application/pdf"):
        assert mime == "application/octet-stream" and mismatch is not None
