"""The contract scenarios: each written once, as ``fn(sdk, rig)``, and run through both SDKs.

``sdk`` is the SDK's module (``openai_codex`` or ``codex_actors``); only its public names are used, plus
``rig.raw`` (a request below the public API) and ``rig.bind_thread`` (a ``Thread`` for an id) where the public API
cannot reach a case. ``rig.call(label, fn, ...)`` records what a call returned or raised. See
``contract/harness.py`` for the rig and the transcript, ``docs/fixtures.md`` for the whole story.
"""

from __future__ import annotations

from types import ModuleType

from codex_actors.testing import message, reply

from .harness import Rig, scenario


@scenario
def thread_start_default_blocking_run(sdk: ModuleType, rig: Rig) -> None:
    """thread_start() with its defaults (auto_review), then a blocking run() of a one-message turn."""
    rig.model.enqueue(message("Hello from the scripted model."))
    with sdk.Codex(rig.config()) as codex:
        thread = rig.call("thread_start", codex.thread_start)
        rig.call("run", thread.run, "hello")
