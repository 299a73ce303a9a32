"""``CodexConfig``: how to launch and identify the engine (the ``openai-codex`` fields), and how long to wait."""

from __future__ import annotations

from dataclasses import dataclass

from ._version import SDK_VERSION

__all__ = ["DEFAULT_REQUEST_TIMEOUT_S", "DEFAULT_THREAD_IDLE_TIMEOUT_S", "CodexConfig"]

#: Seconds a request waits for its answer, by default.
DEFAULT_REQUEST_TIMEOUT_S = 120.0
#: Seconds an idle thread's actor runs before it hibernates, by default.
DEFAULT_THREAD_IDLE_TIMEOUT_S = 60.0


@dataclass(slots=True)
class CodexConfig:
    """Configuration for launching and identifying the local Codex engine.

    Most programs need none: ``Codex()`` starts the pinned engine. Fields:

    * ``codex_bin``: an explicit engine binary (must exist and be executable). When unset, the binary of the
      pinned ``openai-codex-cli-bin`` wheel is used and its helper directory is prepended to ``PATH``.
    * ``launch_args_override``: the whole argv, used verbatim (``codex_bin`` and ``config_overrides`` ignored).
    * ``config_overrides``: ``key=value`` strings, each passed as ``--config key=value`` before ``app-server``.
    * ``cwd``: the engine's working directory, which is also the default cwd of new threads.
    * ``env``: variables laid over ``os.environ`` for the engine process.
    * ``client_name``/``client_title``/``client_version``: sent as ``clientInfo`` in ``initialize``.
    * ``experimental_api``: sent as ``capabilities.experimentalApi``.

    Two fields of this SDK's own follow the official ones:

    * ``request_timeout_s`` (default 120): seconds a request waits for the engine's answer before
      ``RequestTimeoutError``. A turn's events are not requests: a turn may run for as long as it takes.
    * ``thread_idle_timeout_s`` (default 60): seconds after which the actor of an idle thread (no turn running,
      nothing waiting) hibernates, giving back its OS thread; the next use revives it, transparently. ``None``
      keeps every thread's actor running until its ``Thread`` is dropped, archived or the client closed.
    """

    codex_bin: str | None = None
    launch_args_override: tuple[str, ...] | None = None
    config_overrides: tuple[str, ...] = ()
    cwd: str | None = None
    env: dict[str, str] | None = None
    client_name: str = "codex_python_sdk"
    client_title: str = "Codex Python SDK"
    client_version: str = SDK_VERSION
    experimental_api: bool = True
    request_timeout_s: float = DEFAULT_REQUEST_TIMEOUT_S
    thread_idle_timeout_s: float | None = DEFAULT_THREAD_IDLE_TIMEOUT_S

    def __post_init__(self) -> None:
        if not self.request_timeout_s > 0:
            raise ValueError(f"request_timeout_s must be > 0, got {self.request_timeout_s!r}")
        idle = self.thread_idle_timeout_s
        if idle is not None and not idle >= 0:
            raise ValueError(f"thread_idle_timeout_s must be >= 0 or None, got {idle!r}")
