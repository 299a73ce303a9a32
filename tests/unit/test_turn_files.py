"""A turn's local images: checked before the turn (missing, a directory, a FIFO, not an image: refused, naming
the item), and the staged ones held while it runs (by their paths; other paths are left alone)."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from codex_actors import files
from codex_actors._turn_files import check_local_images, holding_local_images
from codex_actors.errors import InvalidInputError
from tests.support.images import png


def image(path: str) -> dict[str, str]:
    return {"type": "localImage", "path": path}


def test_a_real_image_passes_and_other_items_are_not_looked_at(tmp_path: Path) -> None:
    (tmp_path / "dot.png").write_bytes(png())
    check_local_images([{"type": "text", "text": "x"}, image(str(tmp_path / "dot.png")), {"type": "image"}])


def fifo(folder: Path) -> Path:
    os.mkfifo(folder / "fifo")
    return folder / "fifo"


def written(name: str, data: bytes) -> Callable[[Path], Path]:
    def make(folder: Path) -> Path:
        (folder / name).write_bytes(data)
        return folder / name

    return make


@pytest.mark.parametrize(
    ("make", "says"),
    [
        (lambda folder: folder / "missing.png", "cannot read the local image"),
        (lambda folder: folder, "not a regular file"),
        (fifo, "not a regular file"),
        (written("t.png", b"words"), "not an image"),
        (written("e.png", b""), "got unknown"),
        (written("p.pdf", b"%PDF-1.4 ..."), "got application/pdf"),
    ],
    ids=["missing", "directory", "fifo", "text", "empty", "pdf"],
)
def test_what_is_not_a_readable_image_is_refused_naming_the_item(
    tmp_path: Path, make: Callable[[Path], Path], says: str
) -> None:
    with pytest.raises(InvalidInputError, match=says) as raised:
        check_local_images([{"type": "text", "text": "x"}, image(str(make(tmp_path)))])
    assert raised.value.field == "input[1].path"


def test_the_staged_images_of_a_turn_are_held_while_it_runs(tmp_path: Path) -> None:
    root = tmp_path / "staging"
    staged = files.stage(png(), "dot.png", root=root)
    other = tmp_path / "plain.png"
    other.write_bytes(png())
    gone = root / "blobs" / ("0" * 64 + ".png")  # shaped like a staged copy, but not there
    items = [image(staged.path), image(str(other)), image(str(gone)), {"type": "text", "text": "x"}]
    with holding_local_images(items):
        assert files.is_in_use(staged.sha256)
        assert files.force_cleanup(root).kept_in_use == 1
    assert not files.is_in_use(staged.sha256)
    assert files.force_cleanup(root).removed == 1
    assert other.exists()
