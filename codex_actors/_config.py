"""``CodexConfig``: how to launch and identify the engine (the ``openai-codex`` fields), and how long to wait."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from prometheus_client import CollectorRegistry

from ._config_layers import flatten, merge
from ._mcp import McpServer, check_servers
from ._tool import Tool
from ._version import SDK_VERSION
from .approvals import ApprovalPolicyLike

__all__ = [
    "DEFAULT_APPROVAL_TIMEOUT_S",
    "DEFAULT_HANDSHAKE_TIMEOUT_S",
    "DEFAULT_HEARTBEAT_INTERVAL_S",
    "DEFAULT_HEARTBEAT_TIMEOUT_S",
    "DEFAULT_MAX_LINE_BYTES",
    "DEFAULT_MAX_PARALLEL_TOOL_CALLS",
    "DEFAULT_MAX_RESTARTS",
    "DEFAULT_REQUEST_TIMEOUT_S",
    "DEFAULT_RESTART_WINDOW_S",
    "DEFAULT_THREAD_IDLE_TIMEOUT_S",
    "ENVIRONMENT",
    "CodexConfig",
    "engine_config",
    "resolve",
]

#: Seconds a request waits for its answer, by default.
DEFAULT_REQUEST_TIMEOUT_S = 120.0
#: Seconds an idle thread's actor runs before it hibernates, by default.
DEFAULT_THREAD_IDLE_TIMEOUT_S = 60.0
#: Seconds of silence from the engine after which it is asked whether it still answers, by default.
DEFAULT_HEARTBEAT_INTERVAL_S = 15.0
#: Seconds the engine has to answer that question before it is taken for hung, by default.
DEFAULT_HEARTBEAT_TIMEOUT_S = 30.0
#: Seconds a restarted engine has to answer ``initialize``, by default.
DEFAULT_HANDSHAKE_TIMEOUT_S = 10.0
#: Engine restarts allowed within the restart window, by default (failed restart attempts count).
DEFAULT_MAX_RESTARTS = 3
#: The sliding window of the restart limit, in seconds, by default.
DEFAULT_RESTART_WINDOW_S = 5.0
#: The longest line accepted from the engine, by default (256 MiB: far above anything the engine writes).
DEFAULT_MAX_LINE_BYTES = 256 * 1024 * 1024
#: Tool calls run at once across a client's threads, by default (the others wait their turn).
DEFAULT_MAX_PARALLEL_TOOL_CALLS = 8
#: Seconds an approval policy has to decide before the request is declined, by default.
DEFAULT_APPROVAL_TIMEOUT_S = 600.0


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

    And the limits that keep a long-lived process from hanging (see ``docs/04-testing-strategy.md``, the fault
    matrix):

    * ``turn_timeout_s`` (default ``None``: real turns may run for hours): a turn still running after this many
      seconds is interrupted and fails with :class:`~codex_actors.errors.TurnTimeoutError`.
    * ``heartbeat_interval_s`` (default 15) and ``heartbeat_timeout_s`` (default 30): after this long without a
      word from the engine, it is sent a cheap request; if it still says nothing within the timeout it is taken
      for hung, killed and restarted like a crashed one, and what was in flight fails with
      :class:`~codex_actors.errors.EngineHungError`. ``heartbeat_interval_s=None`` turns the check off.
    * ``handshake_timeout_s`` (default 10): seconds a *restarted* engine has to answer ``initialize`` (the first
      start of a client has a longer bound); a restart that does not answer in time is a failed restart.
    * ``max_restarts`` (default 3) within ``restart_window_s`` (default 5): the engine restarts allowed, failed
      restart attempts included; past them the client gives up with :class:`~codex_actors.errors.EngineCrashed`
      naming the real cause.
    * ``engines`` (default 1): how many engine processes serve this client (an engine pool, see
      ``docs/scaling.md``). New threads go to the engine with the fewest threads in use (or the next one, when it
      answers "overloaded"), and a thread stays on its engine; one engine's crash restarts that engine alone and
      resumes only its threads. The engines share one ``CODEX_HOME``: the engine refuses a second writer of a
      thread itself. ``max_restarts`` counts per engine.
    * ``max_line_bytes`` (default 256 MiB): the longest line read from the engine. A longer one is dropped
      (memory stays bounded while it streams past), and what it belonged to fails at once with
      :class:`~codex_actors.errors.LineTooLongError`.

    And the client's services (see ``docs/tools-and-approvals.md``), for every thread it starts:

    * ``tools``: :func:`~codex_actors.tool` functions the model may call, announced on every ``thread/start``
      and answered by the client; ``max_parallel_tool_calls`` (default 8) of them run at once.
    * ``approval_policy``: decides every approval request (commands, file changes, permissions, MCP tool
      calls) of this client's threads; a policy that raises or takes longer than ``approval_timeout_s``
      (default 600) declines. ``None`` keeps the official behaviour.
    * ``mcp_servers``: ``{name: McpServer(...)}``, the MCP servers the engine starts for this client.

    And its telemetry (see ``docs/telemetry.md``):

    * ``metrics`` (default ``True``): report Prometheus metrics; ``metrics_registry`` the prometheus-client
      ``CollectorRegistry`` they go to (``None``: the global ``prometheus_client.REGISTRY``).

    And the engine's own configuration (see ``docs/configuration.md``):

    * ``api_key``: the engine is logged in with it when the client starts (``account/login/start``, type
      ``apiKey``: ``codex app-server`` ignores ``CODEX_API_KEY``/``OPENAI_API_KEY`` in its environment). Never
      logged, never in ``repr`` (nor are the values of ``env``). ``CODEX_API_KEY`` fills it when unset.
    * ``base_url``: the engine's ``openai_base_url``. ``CODEX_URL`` fills it when unset.
    * ``config``: a nested mapping of engine settings, each leaf a ``--config dotted.key=<TOML>`` flag, before
      ``config_overrides`` (which win). A value TOML cannot hold (``None``, NaN) or a key that looks like a secret
      (it would be on the command line) is a ``ValueError`` naming the key.
    """

    def __repr__(self) -> str:
        """The fields, with ``api_key`` and the values of ``env`` masked."""
        shown = []
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if field.name == "api_key" and value is not None:
                value = "***"
            elif field.name == "env" and value:
                value = {name: "***" for name in value}
            shown.append(f"{field.name}={value!r}")
        return f"CodexConfig({', '.join(shown)})"

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
    turn_timeout_s: float | None = None
    heartbeat_interval_s: float | None = DEFAULT_HEARTBEAT_INTERVAL_S
    heartbeat_timeout_s: float = DEFAULT_HEARTBEAT_TIMEOUT_S
    handshake_timeout_s: float = DEFAULT_HANDSHAKE_TIMEOUT_S
    max_restarts: int = DEFAULT_MAX_RESTARTS
    restart_window_s: float = DEFAULT_RESTART_WINDOW_S
    max_line_bytes: int = DEFAULT_MAX_LINE_BYTES
    engines: int = 1
    tools: Sequence[Tool] = ()
    approval_policy: ApprovalPolicyLike | None = None
    mcp_servers: Mapping[str, McpServer] | None = None
    max_parallel_tool_calls: int = DEFAULT_MAX_PARALLEL_TOOL_CALLS
    approval_timeout_s: float = DEFAULT_APPROVAL_TIMEOUT_S
    metrics: bool = True
    metrics_registry: CollectorRegistry | None = None
    api_key: str | None = None
    base_url: str | None = None
    config: Mapping[str, Any] | None = None

    def __post_init__(self) -> None:
        positive = ("request_timeout_s", "heartbeat_timeout_s", "handshake_timeout_s", "restart_window_s")
        for name in (*positive, "approval_timeout_s"):
            _check_positive(name, getattr(self, name))
        for name in ("turn_timeout_s", "heartbeat_interval_s"):
            value = getattr(self, name)
            if value is not None:
                _check_positive(name, value)
        idle = self.thread_idle_timeout_s
        if idle is not None and not idle >= 0:
            raise ValueError(f"thread_idle_timeout_s must be >= 0 or None, got {idle!r}")
        for name, low in (
            ("max_restarts", 0),
            ("max_line_bytes", 1),
            ("max_parallel_tool_calls", 1),
            ("engines", 1),
        ):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ValueError(f"{name} must be an int >= {low}, got {value!r}")
        if self.engines > MAX_ENGINES:
            raise ValueError(f"engines must be at most {MAX_ENGINES}, got {self.engines!r}")
        if not isinstance(self.metrics, bool):
            raise TypeError(f"metrics must be a bool, got {self.metrics!r}")
        if self.metrics_registry is not None and not isinstance(self.metrics_registry, CollectorRegistry):
            raise TypeError(
                f"metrics_registry must be a prometheus_client CollectorRegistry, got {self.metrics_registry!r}"
            )
        for name in ("api_key", "base_url"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, str) or not value.strip()):
                raise ValueError(f"{name} must be a non-empty string or None")
        if self.config is not None:
            if not isinstance(self.config, Mapping):
                raise TypeError(f"config must be a mapping (nested for tables), got {type(self.config).__name__}")
            flatten(self.config)  # refuses, naming the key, what cannot become --config (None, NaN, secrets)
        if self.mcp_servers is not None:
            self.mcp_servers = check_servers(self.mcp_servers, "mcp_servers")


def _check_positive(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0 or value == float("inf"):
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")


#: The most engine processes one client may run (``CodexConfig.engines``).
MAX_ENGINES = 64


def with_engines(config: CodexConfig | None, engines: int | None) -> CodexConfig | None:
    """``config`` with ``engines`` engines (``Codex(config, engines=N)``); unchanged for ``None``."""
    if engines is None:
        return config
    return dataclasses.replace(config or CodexConfig(), engines=engines)


#: The environment variables that fill a ``CodexConfig`` field the caller left unset.
ENVIRONMENT: Mapping[str, str] = {"api_key": "CODEX_API_KEY", "base_url": "CODEX_URL"}


def resolve(config: CodexConfig, environ: Mapping[str, str]) -> CodexConfig:
    """``config`` over the environment layer: each :data:`ENVIRONMENT` variable fills its field if unset.

    An explicit argument always wins:

    >>> resolve(CodexConfig(), {"CODEX_URL": "http://127.0.0.1:9/v1"}).base_url
    'http://127.0.0.1:9/v1'
    >>> resolve(CodexConfig(base_url="http://mine"), {"CODEX_URL": "http://theirs"}).base_url
    'http://mine'
    >>> resolve(CodexConfig(), {"CODEX_API_KEY": "sk-from-env"})
    CodexConfig(..., api_key='***', ...)
    """
    filled: dict[str, Any] = {
        field: environ[variable]
        for field, variable in ENVIRONMENT.items()
        if getattr(config, field) is None and environ.get(variable)
    }
    return dataclasses.replace(config, **filled) if filled else config


def engine_config(config: CodexConfig) -> dict[str, Any]:
    """What ``config`` sets in the engine's own config (flattened to ``--config``, before ``config_overrides``).

    ``base_url`` is the engine's ``openai_base_url``, under ``config`` (whose own key wins, as a later layer):

    >>> engine_config(CodexConfig(base_url="http://127.0.0.1:9/v1", config={"features": {"goals": True}}))
    {'openai_base_url': 'http://127.0.0.1:9/v1', 'features': {'goals': True}}
    """
    return merge({"openai_base_url": config.base_url}, config.config)
