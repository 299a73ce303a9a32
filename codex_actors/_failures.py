"""Making the errors waiters get: the "not running" error, and a fresh copy of an error for each waiter."""

from __future__ import annotations

from .errors import TransportClosedError

__all__ = ["NOT_RUNNING", "fresh", "not_running"]

#: The message of every "there is no engine" error (never started, closed, or between restarts).
NOT_RUNNING = "Codex process is not running"


def not_running() -> TransportClosedError:
    """A fresh ``TransportClosedError("Codex process is not running")``."""
    return TransportClosedError(NOT_RUNNING)


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
