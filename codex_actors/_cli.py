"""The ``codex-actors`` command: ``demo``, ``doctor`` and ``metrics``.

``demo`` runs a turn offline (no API key); ``doctor`` checks that the engine is the pinned one; ``metrics`` serves
the process's Prometheus metrics (``--turns N`` runs offline turns first, ``--once`` prints them and exits).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path

from ._binary import ENGINE_PIN, build_launch, engine_info
from ._config import ENVIRONMENT, CodexConfig, resolve
from ._logs import redact_argv

__all__ = ["main"]


def _doctor(args: argparse.Namespace) -> int:
    try:
        info = engine_info(None if args.codex_bin is None else Path(args.codex_bin))
    except FileNotFoundError as exc:
        print(f"engine: not found ({exc})")
        return 2
    print(f"engine:   {info.path}")
    print(f"version:  {info.version or 'unknown'} (pinned: {ENGINE_PIN.version})")
    print(f"target:   {info.target or 'unknown'}")
    print(f"sha256:   {info.sha256}")
    print(f"expected: {info.expected_sha256 or 'no pin for this target'}")
    print(f"matches pin: {'yes' if info.matches_pin else 'NO'}")
    _print_config(resolve(CodexConfig(), os.environ))
    return 0 if info.matches_pin else 1


def _print_config(config: CodexConfig) -> None:
    """The effective configuration of a default client here (the environment layer applied), secrets masked."""
    print("effective configuration (CodexConfig() in this environment):")
    for field, variable in ENVIRONMENT.items():
        value = getattr(config, field)
        source = f" (from {variable})" if value is not None else f" (unset; {variable} would fill it)"
        shown = "***" if field == "api_key" and value is not None else value
        print(f"  {field}: {shown!r}{source}")
    try:
        argv = build_launch(config).argv
    except FileNotFoundError as exc:
        print(f"  launch: the engine is not found ({exc})")
        return
    print(f"  launch: {shlex.join(redact_argv(argv))}")


def _demo(args: argparse.Namespace) -> int:
    from ._demo import run_demo

    return run_demo(sys.stdout, timeout=args.timeout)


def _install(args: argparse.Namespace) -> int:
    from ._source_build import InstallError, check, from_source, prebuilt

    project = Path(args.project).resolve()
    try:
        if args.from_source:
            from_source(project, url=args.source_url)
        elif args.prebuilt:
            installed = prebuilt(url=args.url)
            print(f"installed {installed}")
    except InstallError as exc:
        print(f"codex-actors install: {exc}", file=sys.stderr)
        return 1
    problems = check(project, vendor_only=args.vendor_only)
    for problem in problems:
        print(f"codex-actors install: {problem}", file=sys.stderr)
    if not problems:
        print("ok: " + ("vendor/codex is unchanged" if args.vendor_only else "the engine matches the pin"))
    return 1 if problems else 0


def _metrics(args: argparse.Namespace) -> int:
    import threading

    from ._demo import metric_lines
    from ._sync_api import Codex
    from .telemetry import start_metrics_server
    from .testing import OfflineEngine, message

    with start_metrics_server(args.port, args.addr) as server:
        print(f"metrics: {server.url}", flush=True)
        if args.turns:
            with OfflineEngine(default=message("done")) as offline, Codex(offline.config) as codex:
                thread = codex.thread_start()
                for _ in range(args.turns):
                    thread.run("hello")
            print(f"ran {args.turns} offline turns (real engine, scripted model)", flush=True)
        if args.once:
            for line in metric_lines(("codex_",)):
                print(line)
            return 0
        with contextlib.suppress(KeyboardInterrupt):
            threading.Event().wait()  # serve until interrupted
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv`` and run the subcommand; returns the exit code."""
    parser = argparse.ArgumentParser(prog="codex-actors", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser("demo", help="run a turn on the real engine against a scripted model, offline")
    demo.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for each event")
    demo.set_defaults(run=_demo)
    doctor = commands.add_parser("doctor", help="check that the engine is the pinned one")
    doctor.add_argument("--codex-bin", help="check this binary instead of the pinned wheel's")
    doctor.set_defaults(run=_doctor)
    install = commands.add_parser("install", help="check the engine against the pin, or build or fetch it")
    install.add_argument("--check", action="store_true", help="only check (the default)")
    install.add_argument("--vendor-only", action="store_true", help="check only that vendor/codex is unchanged")
    install.add_argument("--from-source", action="store_true", help="build the engine from the pinned source")
    install.add_argument("--source-url", default=ENGINE_PIN.repository, help="the codex repository to clone")
    install.add_argument("--prebuilt", action="store_true", help="download the upstream release (network)")
    install.add_argument("--url", help="with --prebuilt: the archive's URL (default: the release of the pin)")
    install.add_argument("--project", default=".", help="the checkout holding vendor/ and patches/")
    install.set_defaults(run=_install)
    metrics = commands.add_parser("metrics", help="serve this process's Prometheus metrics over HTTP")
    metrics.add_argument("--port", type=int, default=9464, help="the port (0: any free one)")
    metrics.add_argument("--addr", default="127.0.0.1", help="the address to listen on (default: loopback)")
    metrics.add_argument("--turns", type=int, default=0, help="first run this many offline turns, for data")
    metrics.add_argument("--once", action="store_true", help="print the metrics and exit instead of serving")
    metrics.set_defaults(run=_metrics)
    args = parser.parse_args(argv)
    code: int = args.run(args)
    return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
