"""Lines far longer than a pipe's worth, on the REAL engine: a 17 MB answer is one ~17.8 MB line per event."""

from __future__ import annotations

import time

import pytest

from codex_actors import ApprovalMode, Codex
from codex_actors.testing import OfflineEngine, message

pytestmark = pytest.mark.integration

#: A model message of about 17 MB: the engine writes its item/started, item/completed and turn/completed
#: as lines of about 17.8 MB each (above the old 16 MiB cap, under today's 256 MiB default).
SIZE = 17 * 1000 * 1000


@pytest.mark.timeout(300)  # the engine itself spends 20-30 s of CPU on a 17 MB message
def test_a_17_mb_answer_comes_back_whole(offline: OfflineEngine) -> None:
    text = "".join(f"{i:07d}\n" for i in range(SIZE // 8))
    offline.model.enqueue(message(text), message("small"))
    with Codex(offline.config) as codex:
        thread = codex.thread_start(approval_mode=ApprovalMode.deny_all)
        started = time.monotonic()
        result = thread.run("say a lot")
        print(f"17 MB turn: {time.monotonic() - started:.2f} s")
        assert result.final_response == text
        assert thread.run("and now a little").final_response == "small"  # reading went on after it
