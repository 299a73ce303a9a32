"""``CodexConfig``: how to launch and identify the engine. Same fields and defaults as ``openai-codex``."""

from __future__ import annotations

from dataclasses import dataclass

from ._version import SDK_VERSION

__all__ = ["CodexConfig"]


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
