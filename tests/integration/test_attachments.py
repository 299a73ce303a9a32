"""Attachments on the REAL engine + scripted model: staged files as turn input, checked, held, reported.

* A staged PNG given as ``LocalImageInput(staged)``, as ``ImageInput(staged)`` or alone reaches the model as an
  ``input_image`` (the scripted model's recorded request says so).
* Refused before any request: a staged file that is not an image, given as an image; a ``LocalImageInput``
  whose file is missing, a directory, or not an image (neither the engine nor the official SDK says a word).
* In flight: ``force_cleanup`` during a turn that uses a staged file keeps it; after the turn, it goes.
* Telemetry: ``attachment.staged`` and ``attachment.cleaned`` reach the handlers and the metrics.
"""

from __future__ import annotations

import base64
import threading
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import REGISTRY

from codex_actors import ApprovalMode, Codex, ImageInput, LocalImageInput, TextInput, files, telemetry
from codex_actors.errors import InvalidInputError
from codex_actors.testing import Gate, OfflineEngine, message, reply
from tests.support.images import png


def images_sent(offline: OfflineEngine, index: int = -1) -> list[str]:
    """The ``image_url`` of each ``input_image`` of the last user message in model request ``index``."""
    users = [item for item in offline.model.requests[index].input if item.get("role") == "user"]
    return [
        str(part.get("image_url"))
        for part in users[-1].get("content") or []
        if isinstance(part, dict) and part.get("type") == "input_image"
    ]


def test_a_staged_png_reaches_the_model_as_an_image(offline: OfflineEngine, tmp_path: Path) -> None:
    staged = files.stage(png(), "dot.png", root=tmp_path / "staging")
    assert staged.mime_type == "image/png" and staged.is_image
    offline.model.enqueue(message("one"), message("two"), message("three"))
    with Codex(offline.config) as codex:
        thread = codex.thread_start(approval_mode=ApprovalMode.deny_all)
        thread.run([TextInput("what is this?"), LocalImageInput(staged)])
        thread.run([ImageInput(staged)])
        thread.run([staged])
    encoded = base64.b64encode(png()).decode()
    for index in range(3):
        (url,) = images_sent(offline, index)
        assert url.startswith("data:image/png;base64,") and url.endswith(encoded), index


def test_what_is_not_an_image_is_refused_before_any_request(offline: OfflineEngine, tmp_path: Path) -> None:
    text = files.stage(b"just words", "notes.png", root=tmp_path / "staging")
    assert text.mime_mismatch is not None and not text.is_image
    (tmp_path / "words.png").write_text("not an image")
    cases: list[tuple[Any, str]] = [
        (LocalImageInput(text), "not an image"),
        ([text], "not an image"),
        (LocalImageInput(str(tmp_path / "missing.png")), "cannot read the local image"),
        ([TextInput("x"), LocalImageInput(str(tmp_path))], "not a regular file|cannot read"),
        (LocalImageInput(str(tmp_path / "words.png")), "is not an image"),
    ]
    with Codex(offline.config) as codex:
        thread = codex.thread_start(approval_mode=ApprovalMode.deny_all)
        for value, says in cases:
            with pytest.raises(InvalidInputError, match=says) as raised:
                thread.run(value)
            assert raised.value.field.startswith("input"), value
        with pytest.raises(InvalidInputError) as raised:  # the field names the item
            thread.run([TextInput("x"), LocalImageInput(str(tmp_path / "missing.png"))])
        assert raised.value.field == "input[1].path"
    assert offline.model.requests == []


def test_a_staged_file_is_kept_while_a_turn_uses_it(offline: OfflineEngine, tmp_path: Path) -> None:
    root = tmp_path / "staging"
    staged = files.stage(png(), "dot.png", root=root)
    gate = Gate()
    offline.model.enqueue(reply(message("looking"), gate, message("done")))
    with Codex(offline.config) as codex:
        thread = codex.thread_start(approval_mode=ApprovalMode.deny_all)
        results: list[Any] = []
        runner = threading.Thread(target=lambda: results.append(thread.run([LocalImageInput(staged)])))
        runner.start()
        try:
            gate.wait_reached()
            during = files.force_cleanup(root)
            assert (during.removed, during.kept_in_use) == (0, 1)
            assert Path(staged.path).exists()
        finally:
            gate.open()
            runner.join(30)
        assert results and results[0].final_response == "done"
    after = files.force_cleanup(root)
    assert after.removed == 1 and not Path(staged.path).exists()


def test_staging_and_cleaning_reach_the_handlers_and_the_metrics(tmp_path: Path) -> None:
    seen: list[tuple[str, dict[str, float], dict[str, Any]]] = []
    telemetry.attach("attachments", ["attachment.staged", "attachment.cleaned"], lambda *e: seen.append(e))

    def sample(name: str, **labels: str) -> float:
        return REGISTRY.get_sample_value(name, labels) or 0.0

    before = sample("codex_attachments_staged_total", outcome="deduplicated")
    try:
        root = tmp_path / "staging"
        files.stage(png(), "a.png", root=root)
        files.stage(png(), "b.png", root=root)
        files.force_cleanup(root)
    finally:
        telemetry.detach("attachments")
    names = [name for name, _, _ in seen]
    assert names == ["attachment.staged", "attachment.staged", "attachment.cleaned"]
    assert [metadata["deduplicated"] for _, _, metadata in seen[:2]] == [False, True]
    assert seen[2][1]["count"] == 1 and seen[2][2]["reason"] == "forced"
    assert sample("codex_attachments_staged_total", outcome="deduplicated") == before + 1
    assert sample("codex_attachments_cleaned_total", reason="forced") >= 1
