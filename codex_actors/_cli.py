"""The ``codex-actors`` command: ``demo`` (offline, no API key) and ``doctor`` (is the engine the pinned one?)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from ._binary import ENGINE_PIN, engine_info

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
    return 0 if info.matches_pin else 1


def _demo(args: argparse.Namespace) -> int:
    from ._demo import run_demo

    return run_demo(sys.stdout, timeout=args.timeout)


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
    args = parser.parse_args(argv)
    code: int = args.run(args)
    return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
