"""The limits and timeouts of one runtime (its engine port, its requests, its engine process)."""

from __future__ import annotations

from dataclasses import dataclass

from .._protocol.framing import DEFAULT_MAX_LINE_BYTES

__all__ = ["DEFAULT_STDERR_TAIL_BYTES", "RuntimeOptions"]

#: Bytes of the engine's stderr kept by default (the rest is dropped as it arrives).
DEFAULT_STDERR_TAIL_BYTES = 256 * 1024


@dataclass(frozen=True, slots=True)
class RuntimeOptions:
    """Limits and timeouts of one runtime. The defaults suit long-lived processes."""

    #: Default seconds a request waits for its reply.
    request_timeout: float = 120.0
    #: Seconds for the process to start and answer ``initialize``.
    connect_timeout: float = 60.0
    #: Longest line accepted from the engine; longer ones are dropped and reported.
    max_line_bytes: int = DEFAULT_MAX_LINE_BYTES
    #: Bytes of the engine's stderr kept for error messages.
    stderr_tail_bytes: int = DEFAULT_STDERR_TAIL_BYTES
    #: Bytes asked for per read of the engine's stdout.
    read_size: int = 1024 * 1024
    #: On close: seconds to wait after closing stdin, then after SIGTERM, before SIGKILL.
    close_grace: float = 2.0
    term_grace: float = 1.0
