"""The tool registry: answers ``item/tool/call``, the engine asking the client to run one of its own tools.

The engine sends ``{threadId, turnId, callId, tool, arguments}`` and waits for
``{"contentItems": [...], "success": bool}``, which becomes the tool's output in the model's next request. The
registry finds the tool (the thread's own, given on ``thread_start``/``thread_resume``, then the client's,
``CodexConfig.tools``), and hands the call to its :class:`~._calls.CallRunner`: the arguments are validated by the
tool's schema and the handler runs there, off this actor's thread, at most ``max_parallel_tool_calls`` at once,
each within the tool's ``timeout_s``. The answer is sent from the runner's ``done`` callback, so the registry
itself never waits: a thousand slow calls cost it a thousand messages.

Whatever goes wrong becomes a failed call (``success: false``) whose text tells the model what happened, and
a :class:`~._messages.HandlerEvent` for the telemetry actor; nothing is killed and the next call is served:

==================== ====================================================================================
kind                 when
==================== ====================================================================================
``unknown_tool``     no tool of that name is registered for the thread or the client
``invalid_arguments`` the tool's schema refuses the arguments (the message says which and why)
``raised``           the handler raised (the message names the exception; the traceback is logged)
``timed_out``        the handler did not finish within its ``timeout_s`` (a coroutine is cancelled; a plain
                     function cannot be stopped: it is abandoned and keeps its slot until it returns)
``invalid_result``   the handler returned something that is not a tool output (not JSON, see ``tool_output``)
==================== ====================================================================================
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any

import msgspec

from .._tool import InvalidArgumentsError, Tool, ToolContext, tool_output
from ..errors import TransportClosedError
from ._calls import CallRunner, Finished, Outcome, Raised, TimedOut
from ._messages import HandlerEvent, HandleServerRequest
from ._services import ServiceSetup
from ._supervisor import ChildContext, SupervisedActor
from ._telemetry import telemetry_event, tool_metadata

__all__ = ["ToolRegistry"]

logger = logging.getLogger("codex_actors.tools")


class _ToolCall(msgspec.Struct, rename="camel"):
    """The params of ``item/tool/call`` (all optional: a malformed call is still answered)."""

    tool: str = "?"
    thread_id: str | None = None
    turn_id: str = ""
    call_id: str = ""
    arguments: Any = None


class ToolRegistry(SupervisedActor):
    """Answers client-side tool calls with the thread's or the client's tools, run by its ``CallRunner``."""

    use_daemon_thread = True

    def __init__(self, context: ChildContext | None = None, setup: ServiceSetup | None = None) -> None:
        super().__init__(context)
        self.setup = setup
        self.runner: CallRunner | None = None

    def on_start(self) -> None:
        """Make the runner the handlers run on (its threads start with the first call)."""
        if self.setup is not None:
            self.runner = CallRunner("tools", self.setup.config.max_parallel_tool_calls, self.setup.timers)

    def on_stop(self) -> None:
        """Close the runner: calls still waiting for a slot are answered as failed."""
        self._close()
        super().on_stop()

    def on_failure(
        self,
        exception_type: type[BaseException] | None,
        exception_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        """Close the runner, as on a stop."""
        self._close()
        super().on_failure(exception_type, exception_value, traceback)

    def _close(self) -> None:
        runner, self.runner = self.runner, None
        if runner is not None:
            runner.close()

    def on_receive(self, message: Any) -> Any:
        """Answer one ``item/tool/call``: find the tool, run it on the runner, answer when it ends."""
        if not isinstance(message, HandleServerRequest):
            raise TypeError(f"ToolRegistry got an unknown message: {message!r}")
        request, connection = message.request, message.connection

        def answer(items: list[dict[str, Any]], success: bool) -> None:
            with contextlib.suppress(TransportClosedError):
                connection.reply(request.id, {"contentItems": items, "success": success})

        try:
            call = msgspec.json.decode(request.params, type=_ToolCall)
        except (msgspec.DecodeError, msgspec.ValidationError):
            call = _ToolCall()
        tools = self._tools(call.thread_id)
        found = tools.get(call.tool)
        runner = self.runner
        started = time.monotonic()
        self._emit("tool.start", call)
        if found is None or runner is None:
            if found is None:
                text = f"no client-side tool named {call.tool!r} is registered"
                if tools:
                    text += f"; the tools are: {', '.join(sorted(tools))}"
            else:
                text = "the client's tool registry is not running"
            self._event("unknown_tool", call, text)
            self._emit("tool.failure", call, started, "unknown_tool")
            answer(_text(text), False)
            return None
        context = ToolContext(call.thread_id or "", call.turn_id, call.call_id, call.tool)
        fn = _handler(found, call.arguments, context)

        def done(outcome: Outcome) -> None:
            self._done(found, call, outcome, answer, started)

        runner.run(fn, (), timeout_s=found.timeout_s, done=done)
        return None

    def _tools(self, thread_id: str | None) -> dict[str, Tool]:
        """The tools a call of ``thread_id`` may use: the client's, with the thread's own over them."""
        tools: dict[str, Tool] = {}
        if self.setup is None:
            return tools
        for one in self.setup.config.tools:
            tools[one.name] = one
        services = self.setup.thread_services(thread_id)
        if services is not None:
            tools.update(services.tools)
        return tools

    def _done(
        self,
        found: Tool,
        call: _ToolCall,
        outcome: Outcome,
        answer: Callable[[list[dict[str, Any]], bool], None],
        started: float,
    ) -> None:
        """The call ended (on a runner thread): answer it, and tell telemetry how it ended."""
        name = found.name

        def failed(reason: str, text: str) -> None:
            self._event(reason, call, text)
            self._emit("tool.failure", call, started, reason)
            answer(_text(text), False)

        match outcome:
            case Finished(value=value):
                try:
                    items, success = tool_output(value)
                except Exception as exc:
                    failed("invalid_result", f"tool {name!r} failed: {exc}")
                    return
                if success:
                    self._emit("tool.success", call, started)
                else:
                    self._emit("tool.failure", call, started, "reported")
                answer(items, success)
            case Raised(error=InvalidArgumentsError() as error):
                failed("invalid_arguments", str(error))
            case Raised(error=error):
                text = f"tool {name!r} failed: {type(error).__name__}: {error}"
                logger.warning(
                    "tool %r raised %s",
                    name,
                    type(error).__name__,
                    exc_info=error,
                    extra={"tool": name, "thread_id": call.thread_id},
                )
                failed("raised", text)
            case TimedOut(seconds=seconds):
                logger.warning("tool %r timed out after %g s", name, seconds, extra={"tool": name})
                failed("timed_out", f"tool {name!r} did not finish within {seconds:g} s and was stopped")

    def _emit(self, name: str, call: _ToolCall, started: float | None = None, reason: str | None = None) -> None:
        """Tell telemetry ``tool.start``, ``tool.success`` or ``tool.failure`` (with ``reason``) of ``call``."""
        if self.setup is None:
            return
        metadata = tool_metadata(call.tool, "client", None, call.thread_id, call.turn_id, call.call_id)
        if reason is not None:
            metadata["reason"] = reason
        if started is None:
            self.setup.telemetry(telemetry_event(name, metadata))
        else:
            self.setup.telemetry(telemetry_event(name, metadata, duration_s=time.monotonic() - started))

    def _event(self, kind: str, call: _ToolCall, detail: str) -> None:
        if self.setup is not None:
            self.setup.telemetry(HandlerEvent("tools", kind, call.tool, call.thread_id, detail))


def _text(text: str) -> list[dict[str, Any]]:
    return [{"type": "inputText", "text": text}]


def _handler(found: Tool, arguments: Any, context: ToolContext) -> Callable[[], Any]:
    """What the runner calls: validate the arguments (there, not here: a validator is user code), then the tool.

    A coroutine function for an ``async`` tool (the runner runs it on its loop), a plain one otherwise.
    """
    if found.is_async:

        async def run_async() -> Any:
            args, kwargs = found.bind(arguments, context)
            return await found.fn(*args, **kwargs)

        return run_async

    def run() -> Any:
        args, kwargs = found.bind(arguments, context)
        return found.fn(*args, **kwargs)

    return run
