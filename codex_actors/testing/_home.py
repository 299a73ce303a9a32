"""An isolated, offline ``CODEX_HOME`` pointed at a :class:`~codex_actors.testing.ScriptedModel`.

The settings are exactly the ones that keep the engine on 127.0.0.1: the scripted model as the provider (no
retries, no WebSocket), no analytics, no plugin sync, no endless reconnecting. It is also hermetic: the engine
runs the model's commands as login shells, so it gets a throwaway ``HOME`` (nothing of the machine's own shell
profile runs) and passes only a core environment (``HOME``, ``PATH``, ``SHELL``, ``USER``, temp dirs) to them.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

from .._config import CodexConfig
from .._toml import literal
from ._scripted_model import ScriptedModel
from ._sse import ReplyLike

__all__ = [
    "DEFAULT_MODEL",
    "SHELL_HOME",
    "OfflineEngine",
    "offline_config",
    "offline_env",
    "offline_toml",
    "write_offline_home",
]

#: A bundled model slug with the classic tools (``exec_command``, ``apply_patch``, ...) and known metadata.
DEFAULT_MODEL = "gpt-5.5"
#: The folder inside an offline ``CODEX_HOME`` that is the engine's (and its shells') empty ``HOME``.
SHELL_HOME = "shell-home"

_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


def offline_toml(
    *,
    model_url: str,
    model: str = DEFAULT_MODEL,
    extra_toml: str = "",
    features: Mapping[str, bool] | None = None,
) -> str:
    """The text of the offline ``config.toml`` (see :func:`write_offline_home`)."""
    feature_lines = ""
    for name, enabled in (features or {}).items():
        if not _BARE_KEY.match(name):
            raise ValueError(f"not a feature name: {name!r}")
        feature_lines += f"{name} = {'true' if enabled else 'false'}\n"
    extra = extra_toml.strip("\n")
    extra = f"{extra}\n\n" if extra else ""
    return (
        f"model = {literal(model)}\n"
        'model_provider = "mock"\n'
        "\n"
        f"{extra}"
        "[analytics]\n"
        "enabled = false\n"
        "\n"
        "[features]\n"
        "plugins = false\n"
        "unbounded_connection_retries = false\n"
        f"{feature_lines}"
        "\n"
        "[shell_environment_policy]\n"
        'inherit = "core"\n'
        "\n"
        "[model_providers.mock]\n"
        'name = "mock"\n'
        f"base_url = {literal(model_url)}\n"
        'wire_api = "responses"\n'
        "request_max_retries = 0\n"
        "stream_max_retries = 0\n"
        "supports_websockets = false\n"
    )


def write_offline_home(
    codex_home: str | Path,
    *,
    model_url: str,
    model: str = DEFAULT_MODEL,
    extra_toml: str = "",
    features: Mapping[str, bool] | None = None,
) -> Path:
    """Create ``codex_home`` (if needed) with a ``config.toml`` that keeps the engine offline; return the home.

    * ``model_url``: the scripted model's :attr:`~codex_actors.testing.ScriptedModel.url`.
    * ``model``: the engine's model slug. The default has the classic tools and known metadata; an unknown
      slug still works but the engine then reports "Model metadata ... not found".
    * ``extra_toml``: more settings, placed after the top-level keys and before the tables, so it may hold
      top-level keys (``approval_policy = "never"``) and new tables, but not ``[analytics]``, ``[features]``,
      ``[shell_environment_policy]`` or ``[model_providers.mock]``, which are written already.
    * ``features``: more ``[features]`` flags, e.g. ``{"goals": True}``.

    Give the home a path outside the system temp dir to spare the engine's PATH-alias warning on stderr.
    """
    home = Path(codex_home)
    (home / SHELL_HOME).mkdir(parents=True, exist_ok=True)
    text = offline_toml(model_url=model_url, model=model, extra_toml=extra_toml, features=features)
    (home / "config.toml").write_text(text, encoding="utf-8")
    return home


def offline_env(codex_home: str | Path) -> dict[str, str]:
    """The environment for an offline engine: ``CODEX_HOME``, a throwaway ``HOME``, no managed config, quiet logs.

    ``HOME`` (and zsh's ``ZDOTDIR``) is the empty ``shell-home`` folder that :func:`write_offline_home` makes
    inside ``codex_home``; ``BASH_ENV`` and ``ENV`` are emptied, so no shell the engine starts reads a startup
    file of the machine's.
    """
    shell_home = str(Path(codex_home) / SHELL_HOME)
    return {
        "CODEX_HOME": str(codex_home),
        "HOME": shell_home,
        "ZDOTDIR": shell_home,
        "BASH_ENV": "",
        "ENV": "",
        "CODEX_APP_SERVER_DISABLE_MANAGED_CONFIG": "1",
        "RUST_LOG": "warn",
    }


def offline_config(
    model: ScriptedModel,
    codex_home: str | Path,
    *,
    cwd: str | Path | None = None,
    engine_model: str = DEFAULT_MODEL,
    extra_toml: str = "",
    features: Mapping[str, bool] | None = None,
    **config_fields: Any,
) -> CodexConfig:
    """Write the offline home for ``model`` (see :func:`write_offline_home`) and return a matching CodexConfig.

    The config's ``env`` is :func:`offline_env` (laid under any ``env`` given in ``config_fields``), its ``cwd``
    is ``cwd``, and its other fields come from ``config_fields`` (e.g. ``codex_bin=...``).
    """
    home = write_offline_home(
        codex_home,
        model_url=model.url,
        model=engine_model,
        extra_toml=extra_toml,
        features=features,
    )
    env = {**offline_env(home), **(config_fields.pop("env", None) or {})}
    return CodexConfig(cwd=None if cwd is None else str(cwd), env=env, **config_fields)


class OfflineEngine:
    """Everything for one offline engine run, cleaned up on exit: a home, a workspace and a started model.

    ::

        with OfflineEngine("hello") as offline:
            ...  # run the engine with offline.config; offline.model holds the script and the requests

    ``root`` is the folder that gets ``codex-home/`` and ``workspace/``; when not given, a fresh temp dir is made
    and removed on exit (a given ``root`` is left in place). Either is used resolved (symlinks followed), as the
    engine reports paths. Other arguments are those of
    :class:`ScriptedModel` and :func:`offline_config`.
    """

    def __init__(
        self,
        *replies: ReplyLike,
        default: ReplyLike | None = None,
        root: str | Path | None = None,
        engine_model: str = DEFAULT_MODEL,
        extra_toml: str = "",
        features: Mapping[str, bool] | None = None,
        **config_fields: Any,
    ) -> None:
        self.model = ScriptedModel(*replies, default=default)
        self._root = None if root is None else Path(root).resolve()
        self._owns_root = root is None
        self._settings: dict[str, Any] = {
            "engine_model": engine_model,
            "extra_toml": extra_toml,
            "features": features,
            **config_fields,
        }
        self._config: CodexConfig | None = None

    @property
    def root(self) -> Path:
        """The folder holding the home and the workspace."""
        if self._root is None:
            raise RuntimeError("OfflineEngine is not entered")
        return self._root

    @property
    def codex_home(self) -> Path:
        """The isolated ``CODEX_HOME``."""
        return self.root / "codex-home"

    @property
    def workspace(self) -> Path:
        """An empty folder to work in: the config's ``cwd``."""
        return self.root / "workspace"

    @property
    def home(self) -> Path:
        """The engine's throwaway ``HOME`` (empty; its shells read no profile of the machine's)."""
        return self.codex_home / SHELL_HOME

    @property
    def config(self) -> CodexConfig:
        """The :class:`CodexConfig` for an engine using this home and model."""
        if self._config is None:
            raise RuntimeError("OfflineEngine is not entered")
        return self._config

    @property
    def env(self) -> dict[str, str]:
        """The offline environment (:func:`offline_env`) for running ``codex`` yourself."""
        return offline_env(self.codex_home)

    def __enter__(self) -> OfflineEngine:
        if self._root is None:
            # Resolved: the engine reports real paths (a symlinked temp dir is followed), and so do we.
            self._root = Path(tempfile.mkdtemp(prefix="codex-actors-offline-")).resolve()
        try:
            self.workspace.mkdir(parents=True, exist_ok=True)
            self.model.start()
            self._config = offline_config(self.model, self.codex_home, cwd=self.workspace, **self._settings)
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the model and remove the temp dir (if this object made it). Idempotent."""
        self.model.close()
        if self._owns_root and self._root is not None:
            shutil.rmtree(self._root, ignore_errors=True)
