"""The limits and timeouts of one runtime (its engine port, its requests, its engine process)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .._config import (
    DEFAULT_HANDSHAKE_TIMEOUT_S,
    DEFAULT_HEARTBEAT_INTERVAL_S,
    DEFAULT_HEARTBEAT_TIMEOUT_S,
    DEFAULT_MAX_LINE_BYTES,
    DEFAULT_MAX_RESTARTS,
    DEFAULT_REQUEST_TIMEOUT_S,
    DEFAULT_RESTART_WINDOW_S,
    DEFAULT_THREAD_IDLE_TIMEOUT_S,
)

if TYPE_CHECKING:
    from .._config import CodexConfig

__all__ = ["DEFAULT_STDERR_TAIL_BYTES", "RuntimeOptions"]

#: Bytes of the engine's stderr kept by default (the rest is dropped as it arrives).
DEFAULT_STDERR_TAIL_BYTES = 256 * 1024


@dataclass(frozen=True, slots=True)
class RuntimeOptions:
    """Limits and timeouts of one runtime. The defaults suit long-lived processes.

    The ones a user sets live in :class:`~codex_actors.CodexConfig` (its ``*_s`` timeouts, the restart limit and
    ``max_line_bytes``); :meth:`for_config` copies them here.
    """

    #: Default seconds a request waits for its reply.
    request_timeout: float = DEFAULT_REQUEST_TIMEOUT_S
    #: Seconds an idle thread actor runs before it hibernates (``None``: never).
    thread_idle_timeout: float | None = DEFAULT_THREAD_IDLE_TIMEOUT_S
    #: ``thread/resume`` after an engine restart: attempts while the engine answers "overloaded", and backoff.
    resume_attempts: int = 8
    resume_initial_delay: float = 0.05
    resume_max_delay: float = 2.0
    #: Seconds a turn may run before it is interrupted and failed (``None``: no limit).
    turn_timeout: float | None = None
    #: Seconds of engine silence before a heartbeat request (``None``: never), and its bound before "hung".
    heartbeat_interval: float | None = DEFAULT_HEARTBEAT_INTERVAL_S
    heartbeat_timeout: float = DEFAULT_HEARTBEAT_TIMEOUT_S
    #: Seconds for the process to start and answer ``initialize`` (a client's first engine).
    connect_timeout: float = 60.0
    #: Seconds for a restarted engine to answer ``initialize``.
    handshake_timeout: float = DEFAULT_HANDSHAKE_TIMEOUT_S
    #: Engine restarts (failed attempts included) allowed within ``restart_window`` seconds.
    max_restarts: int = DEFAULT_MAX_RESTARTS
    restart_window: float = DEFAULT_RESTART_WINDOW_S
    #: Longest line accepted from the engine; longer ones are dropped and reported.
    max_line_bytes: int = DEFAULT_MAX_LINE_BYTES
    #: Engine processes in the pool (``CodexConfig.engines``).
    engines: int = 1
    #: Bytes of the engine's stderr kept for error messages.
    stderr_tail_bytes: int = DEFAULT_STDERR_TAIL_BYTES
    #: Bytes asked for per read of the engine's stdout.
    read_size: int = 1024 * 1024
    #: On close: seconds to wait after closing stdin, then after SIGTERM, before SIGKILL.
    close_grace: float = 2.0
    term_grace: float = 1.0

    def for_config(self, config: CodexConfig) -> RuntimeOptions:
        """These options, with the timeouts the user chose in ``config``."""
        return dataclasses.replace(
            self,
            request_timeout=config.request_timeout_s,
            thread_idle_timeout=config.thread_idle_timeout_s,
            turn_timeout=config.turn_timeout_s,
            heartbeat_interval=config.heartbeat_interval_s,
            heartbeat_timeout=config.heartbeat_timeout_s,
            handshake_timeout=config.handshake_timeout_s,
            max_restarts=config.max_restarts,
            restart_window=config.restart_window_s,
            max_line_bytes=config.max_line_bytes,
            engines=config.engines,
        )
