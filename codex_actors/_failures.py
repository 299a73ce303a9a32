"""Making the errors waiters get: the "not running" error, and a fresh copy of an error for each waiter."""

from __future__ import annotations

from .errors import TransportClosedError

__all__ = ["NOT_RUNNING", "NotSent", "fresh", "not_running", "not_sent"]

#: The message of every "there is no engine" error (never started, closed, or between restarts).
NOT_RUNNING = "Codex process is not running"


def not_running() -> TransportClosedError:
    """A fresh ``TransportClosedError("Codex process is not running")``."""
    return TransportClosedError(NOT_RUNNING)


class NotSent(TransportClosedError):
    """A ``TransportClosedError`` for a request that never reached the engine (it was gone when it got there).

    Such a request is safe to send again: a reply that can (:class:`~codex_actors.actors._reply.Redirect`)
    hands it on to wait for the next engine instead of failing it. Anything else sees a plain
    ``TransportClosedError``.
    """


def not_sent(error: TransportClosedError) -> NotSent:
    """``error`` (the engine's exit error, or "not running"), as a :class:`NotSent`."""
    copy = NotSent(str(error), exit_code=error.exit_code, stderr_tail=error.stderr_tail)
    copy.__cause__ = error.__cause__
    return copy


def fresh(error: BaseException) -> BaseException:
    """A new instance of ``error`` for each waiter it is delivered to.

    One exception object raised in many threads would pile up their tracebacks. Errors other than
    ``TransportClosedError`` and its subclasses are returned as they are.
    """
    if isinstance(error, TransportClosedError):
        copy = type(error)(str(error), exit_code=error.exit_code, stderr_tail=error.stderr_tail)
        copy.__cause__ = error.__cause__
        return copy
    return error
