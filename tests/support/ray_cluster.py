"""A local Ray cluster for the tests: on 127.0.0.1 only, one per session, and no Ray process left after it.

Import this module before ``ray`` is imported: it sets the environment Ray reads at import (and its processes
inherit) to keep it off the network:

* ``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0``: otherwise Ray turns ``127.0.0.1`` into the node's "reachable" address
  (found by a route lookup towards 8.8.8.8) and binds its servers there.
* ``RAY_USAGE_STATS_ENABLED=0``: no usage report. Ray's dashboard process still starts (with only its
  usage-stats module) and reads ``~/ray_bootstrap_config.yaml``; when that file is missing it probes the cloud
  metadata address (169.254.169.254, and DNS for metadata.google.internal). So the cluster's processes get a
  throwaway ``HOME`` holding an empty one (Ray also writes its auth token there).
* no dashboard, no metrics export port, no log streaming to the driver.

``ray_cluster`` (session-scoped) starts the cluster in a fresh temp dir; after the last test that uses it
(``ray_cluster_stops_after_its_last_test``, or at the session's end) it is shut down, and the test fails if any
process it started (raylet, GCS, dashboard, log monitor, workers, the engines of hosted threads) is left.
"""

from __future__ import annotations

import os
import shutil
import signal
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil
import pytest

#: What keeps Ray on 127.0.0.1 (see the module docstring); set when this module is imported.
LOOPBACK_ENV = {
    "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",
    "RAY_USAGE_STATS_ENABLED": "0",
    "RAY_USAGE_STATS_PROMPT_ENABLED": "0",
}
os.environ.update(LOOPBACK_ENV)


def _ray_missing() -> str | None:
    try:
        import ray  # noqa: F401 (after the environment above)
    except ImportError as exc:
        return f"ray is not importable ({exc}); pip install -e '.[ray]'"
    return None


#: Why the Ray tests are skipped, or ``None`` when ``ray`` is importable.
RAY_MISSING = _ray_missing()

ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class RayCluster:
    """A running local cluster: its temp dir (sessions, logs) and the processes that were there before it."""

    temp_dir: Path
    session_dir: Path
    home: Path
    before: frozenset[int]

    @property
    def logs_dir(self) -> Path:
        """The session's log folder (every Ray process's and every worker's logs)."""
        return self.session_dir / "logs"


def _short_temp_dir() -> Path:
    """A fresh temp dir with a short path (Ray puts unix sockets under it: their paths are limited)."""
    base = tempfile.gettempdir()
    return Path(tempfile.mkdtemp(prefix="ca-ray-", dir=base if len(base) <= 40 else "/tmp")).resolve()


def start_cluster(num_cpus: int = 4) -> RayCluster:
    """``ray.init`` a fresh local cluster on 127.0.0.1 (see the module docstring)."""
    import ray

    before = frozenset(psutil.pids())
    temp_dir = _short_temp_dir()
    home = temp_dir / "home"
    home.mkdir()
    (home / "ray_bootstrap_config.yaml").write_text("{}\n", encoding="utf-8")
    saved = {name: os.environ.get(name) for name in ("HOME", "PYTHONPATH")}
    # The cluster's processes inherit these: the throwaway HOME, and the repo on the path (the workers import the
    # test modules whose remote functions they run).
    os.environ["HOME"] = str(home)
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), saved["PYTHONPATH"]]))
    try:
        context = ray.init(
            address="local",
            num_cpus=num_cpus,
            include_dashboard=False,
            _node_ip_address="127.0.0.1",
            log_to_driver=False,
            configure_logging=False,
            _temp_dir=str(temp_dir),
        )
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
    info: dict[str, Any] = getattr(context, "address_info")  # noqa: B009 (a RayContext's, not BaseContext's)
    assert info["node_ip_address"] == "127.0.0.1", info
    return RayCluster(temp_dir, Path(info["session_dir"]), home, before)


def _ours(cluster: RayCluster) -> list[psutil.Process]:
    """The live processes this cluster started: descendants of this process, or anything naming its temp dir."""
    me = os.getpid()
    found: dict[int, psutil.Process] = {}
    for process in psutil.process_iter():
        if process.pid in cluster.before or process.pid == me:
            continue
        try:
            if process.status() == psutil.STATUS_ZOMBIE:
                continue
            mine = any(parent.pid == me for parent in process.parents())
            if not mine:
                text = " ".join(process.cmdline())
                mine = str(cluster.temp_dir) in text or str(cluster.temp_dir) in str(process.environ())
            if mine:
                found[process.pid] = process
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return list(found.values())


def stop_cluster(cluster: RayCluster, settle_s: float = 30.0) -> list[str]:
    """``ray.shutdown()``, then wait for every process of the cluster to be gone; what is left (killed now)."""
    import ray

    ray.shutdown()
    deadline = time.monotonic() + settle_s
    left = _ours(cluster)
    while left and time.monotonic() < deadline:
        time.sleep(0.1)
        left = _ours(cluster)
    names = []
    for process in left:
        try:
            names.append(f"{process.pid} {' '.join(process.cmdline())[:120]}")
            os.kill(process.pid, signal.SIGKILL)
        except (psutil.NoSuchProcess, ProcessLookupError):
            continue
    for _ in range(50):  # a file a Ray process wrote while it stopped may land after a first pass
        shutil.rmtree(cluster.temp_dir, ignore_errors=True)
        if not cluster.temp_dir.exists():
            break
        time.sleep(0.1)
    return names


#: The session's cluster while it runs (stopped after the last test that uses it).
_RUNNING: list[RayCluster] = []


def _finish(cluster: RayCluster) -> None:
    """Stop ``cluster`` if it still runs, and fail if it left a process behind."""
    if cluster not in _RUNNING:
        return
    _RUNNING.remove(cluster)
    left = stop_cluster(cluster)
    assert not left, f"Ray processes left after ray.shutdown(): {left}"


@pytest.fixture(scope="session", name="ray_cluster")
def ray_cluster_fixture() -> Iterator[RayCluster]:
    """The session's local Ray cluster; at the end, no process of it may be left."""
    if RAY_MISSING:
        pytest.skip(RAY_MISSING)
    cluster = start_cluster()
    _RUNNING.append(cluster)
    yield cluster
    _finish(cluster)


@pytest.fixture(autouse=True)
def ray_cluster_stops_after_its_last_test(request: pytest.FixtureRequest) -> Iterator[None]:
    """After the session's last test that uses ``ray_cluster``: stop it then, not at the session's end.

    A module using the cluster imports this fixture too. The rest of the suite then runs with no Ray process in
    the background (its idle workers come and go: a child-process or fd count of another test would see them).
    """
    yield
    if not _RUNNING:
        return
    items = request.session.items
    rest = items[items.index(request.node) + 1 :] if request.node in items else []
    if not any("ray_cluster" in getattr(item, "fixturenames", ()) for item in rest):
        _finish(_RUNNING[0])
