"""Measuring what a piece of code leaves behind: threads, open file descriptors, child processes."""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass

import psutil


@dataclass(frozen=True)
class Snapshot:
    threads: frozenset[str]
    thread_count: int
    fds: int
    children: frozenset[int]


def snapshot() -> Snapshot:
    me = psutil.Process()
    return Snapshot(
        threads=frozenset(t.name for t in threading.enumerate()),
        thread_count=threading.active_count(),
        fds=len(os.listdir("/proc/self/fd")),
        children=frozenset(p.pid for p in me.children(recursive=True)),
    )


def assert_nothing_leaked(before: Snapshot, *, settle: float = 5.0) -> None:
    """Wait up to `settle` seconds for the state to come back to `before`; fail with what is left."""
    deadline = time.monotonic() + settle
    while True:
        now = snapshot()
        extra_threads = now.thread_count - before.thread_count
        extra_fds = now.fds - before.fds
        extra_children = now.children - before.children
        if extra_threads <= 0 and extra_fds <= 0 and not extra_children:
            return
        if time.monotonic() > deadline:
            raise AssertionError(
                f"leaked: {extra_threads} threads {sorted(now.threads - before.threads)}, "
                f"{extra_fds} fds, children {sorted(extra_children)}"
            )
        time.sleep(0.05)
