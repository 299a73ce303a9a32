"""Finding and verifying the engine binary, and building the argv and environment it is launched with.

The pin (the engine version and the sha256 of each binary this project has checked) lives here and only here.
Launching follows the official SDK: ``[bin, --config kv ..., "app-server", "--listen", "stdio://"]`` (the
``--config`` values: ``CodexConfig.base_url`` and ``config`` flattened, then ``config_overrides``),
``os.environ`` overlaid with ``CodexConfig.env``, and the pinned wheel's helper directory (``rg``) prepended to
``PATH`` only when the pinned binary is used.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import subprocess
from dataclasses import dataclass
from pathlib import Path

from ._config import CodexConfig, engine_config
from ._config_layers import flatten

__all__ = [
    "ENGINE_DIR_ENV",
    "ENGINE_PIN",
    "EngineInfo",
    "EngineLaunch",
    "EnginePin",
    "build_launch",
    "engine_info",
    "installed_engine",
    "installed_engine_dir",
    "pinned_engine_path",
    "platform_key",
    "resolve_engine_binary",
    "sha256_of",
]


@dataclass(frozen=True, slots=True)
class EnginePin:
    """The engine this project is built and tested against: the wheel, and the source it is built from."""

    package: str
    version: str
    #: sha256 of the binary, by the wheel's target triple (``codex-package.json`` ``target``).
    sha256: dict[str, str]
    #: The codex-rs source: its repository, the tag of this version, and the paths a sparse checkout holds.
    repository: str
    tag: str
    sparse_paths: tuple[str, ...]


ENGINE_PIN = EnginePin(
    package="openai-codex-cli-bin",
    version="0.163.0",
    sha256={
        "x86_64-unknown-linux-musl": ("399ff69c431c066e40de318fba45c2b07f45a76b19939d247ee4828fc70c4215"),
    },
    repository="https://github.com/openai/codex.git",
    tag="rust-v0.163.0",
    sparse_paths=("codex-rs/**", "codex-rs/scripts/**"),
)

#: The environment variable naming where a source-built (or prebuilt) engine is installed.
ENGINE_DIR_ENV = "CODEX_ACTORS_ENGINE_DIR"


def platform_key() -> str:
    """The machine's platform, as the build and install folders name it: ``linux-x86_64``."""
    return f"{platform.system().lower()}-{platform.machine().lower()}"


def installed_engine_dir() -> Path:
    """Where ``codex-actors install`` puts an engine for this platform (found before the wheel's).

    ``$CODEX_ACTORS_ENGINE_DIR``, else ``$XDG_DATA_HOME/codex-actors/engine/<platform>``, else
    ``~/.local/share/codex-actors/engine/<platform>``.
    """
    chosen = os.environ.get(ENGINE_DIR_ENV)
    if chosen:
        return Path(chosen)
    data = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(data) / "codex-actors" / "engine" / platform_key()


def installed_engine() -> Path | None:
    """The engine ``codex-actors install`` installed, if its record still describes it (size and mtime).

    The record (``codex.json``) holds its sha256 too: ``codex-actors install --check`` verifies that.
    """
    folder = installed_engine_dir()
    binary, record = folder / "codex", folder / "codex.json"
    try:
        recorded = json.loads(record.read_text(encoding="utf-8"))
        info = binary.stat()
    except (OSError, ValueError):
        return None
    if not isinstance(recorded, dict) or not os.access(binary, os.X_OK):
        return None
    if (recorded.get("size"), recorded.get("mtime_ns")) != (info.st_size, info.st_mtime_ns):
        return None
    return binary


_MISSING_RUNTIME = (
    "Unable to locate the pinned Codex runtime. Install the published SDK build with its "
    f"{ENGINE_PIN.package} dependency, or set CodexConfig.codex_bin explicitly."
)


def pinned_engine_path() -> Path:
    """The binary shipped by the pinned ``openai-codex-cli-bin`` wheel.

    Raises ``FileNotFoundError`` when the wheel is not installed or is broken.
    """
    try:
        from codex_cli_bin import bundled_codex_path
    except ImportError as exc:
        raise FileNotFoundError(_MISSING_RUNTIME) from exc
    return Path(bundled_codex_path())


def _pinned_path_dirs() -> tuple[Path, ...]:
    try:
        from codex_cli_bin import bundled_path_dir
    except ImportError:  # pragma: no cover - the wheel is a hard dependency
        return ()
    path_dir = bundled_path_dir()
    return () if path_dir is None else (Path(path_dir),)


def resolve_engine_binary(config: CodexConfig) -> Path:
    """The engine to launch: ``config.codex_bin``, else an installed one, else the pinned wheel's.

    ``config.codex_bin`` must exist and be executable; an engine ``codex-actors install`` built from source or
    fetched (:func:`installed_engine`) comes before the wheel's binary.
    """
    if config.codex_bin is None:
        return installed_engine() or pinned_engine_path()
    path = Path(config.codex_bin)
    if not path.exists():
        raise FileNotFoundError(
            f"Codex binary not found at {path}. Set CodexConfig.codex_bin to a valid binary path."
        )
    if not path.is_file() or not os.access(path, os.X_OK):
        raise FileNotFoundError(
            f"Codex binary at {path} is not an executable file. Set CodexConfig.codex_bin to a valid binary path."
        )
    return path


@dataclass(frozen=True, slots=True)
class EngineLaunch:
    """Everything ``subprocess.Popen`` needs to start one engine."""

    argv: tuple[str, ...]
    env: dict[str, str]
    cwd: str | None


def _prepend_path(env: dict[str, str], dirs: tuple[Path, ...]) -> None:
    if not dirs:
        return
    first = [str(d) for d in dirs]
    rest = [p for p in env.get("PATH", "").split(os.pathsep) if p and p not in first]
    env["PATH"] = os.pathsep.join([*first, *rest])


def build_launch(config: CodexConfig) -> EngineLaunch:
    """The argv, env and cwd for ``codex app-server --listen stdio://`` as ``config`` asks."""
    env = dict(os.environ)
    if config.env:
        env.update(config.env)
    # The engine colours its stderr log even into a pipe; NO_COLOR (honoured by 0.163.0) keeps the stderr tail in
    # errors and logs plain. Its shell commands get NO_COLOR=1 from the engine anyway. A value given wins.
    env.setdefault("NO_COLOR", "1")
    if config.launch_args_override is not None:
        return EngineLaunch(tuple(config.launch_args_override), env, config.cwd)
    binary = resolve_engine_binary(config)
    if config.codex_bin is None:
        _prepend_path(env, _pinned_path_dirs())
    argv = [str(binary)]
    for override in (*flatten(engine_config(config)), *config.config_overrides):
        argv += ["--config", override]
    argv += ["app-server", "--listen", "stdio://"]
    return EngineLaunch(tuple(argv), env, config.cwd)


@dataclass(frozen=True, slots=True)
class EngineInfo:
    """What ``codex-actors doctor`` reports about one binary."""

    path: Path
    version: str | None
    sha256: str
    target: str | None
    expected_sha256: str | None

    @property
    def matches_pin(self) -> bool:
        """True when the version is the pinned one and the sha256 is the pinned one for its target."""
        if self.version != ENGINE_PIN.version:
            return False
        if self.expected_sha256 is not None:
            return self.sha256 == self.expected_sha256
        return self.sha256 in ENGINE_PIN.sha256.values()


def sha256_of(path: Path) -> str:
    """The sha256 of the file at ``path``, read in blocks."""
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _version_of(path: Path) -> str | None:
    try:
        out = subprocess.run(
            [str(path), "--version"], capture_output=True, text=True, timeout=30, check=False
        ).stdout
    except (OSError, subprocess.TimeoutExpired):
        return None
    parts = out.split()
    return parts[-1] if parts else None


def _target_of(path: Path) -> str | None:
    manifest = path.parent.parent / "codex-package.json"
    try:
        target = json.loads(manifest.read_text(encoding="utf-8")).get("target")
    except (OSError, ValueError):
        return None
    return target if isinstance(target, str) else None


def engine_info(path: Path | None = None) -> EngineInfo:
    """Version, sha256 and pin status of ``path`` (default: the pinned binary)."""
    binary = pinned_engine_path() if path is None else path
    target = _target_of(binary)
    return EngineInfo(
        path=binary,
        version=_version_of(binary),
        sha256=sha256_of(binary),
        target=target,
        expected_sha256=None if target is None else ENGINE_PIN.sha256.get(target),
    )
