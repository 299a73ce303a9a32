"""The package version, read from the installed distribution's metadata."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

#: The official SDK version whose public API this package mirrors (and sends as ``clientInfo.version``).
SDK_VERSION = "0.163.0"


def _package_version() -> str:
    try:
        return version("codex-actors")
    except PackageNotFoundError:  # pragma: no cover - only when run from an uninstalled tree
        return "0+unknown"


__version__ = _package_version()
