"""``codex-actors install``: check the engine against the pin, build it from its pinned source, or fetch it.

The pin is :data:`codex_actors._binary.ENGINE_PIN`: the version, the tag of its source (``rust-v0.163.0`` of
``openai/codex``), the paths a sparse checkout holds, and the sha256 of the prebuilt binary per platform.

* **check** (the default): the engine a client would launch is the pinned one (its version and sha256, or, for an
  engine this command installed, the sha256 it recorded), and ``vendor/codex``, when it is there, has no local
  changes. ``--vendor-only`` checks just the latter (a CI step).
* **from source**: the Rust toolchain is there (``cargo``); ``vendor/codex`` is cloned at the pinned tag with a
  sparse checkout of the pinned paths (or found there at that tag, unchanged); its tree is exported to
  ``_build/native/<platform>/src`` and ``patches/codex-rs/*.patch`` applied there, in name order (the submodule
  itself is never edited); ``cargo build --release`` runs with its target dir cached in
  ``_build/native/<platform>/target``; the binary is installed where engine resolution finds it before the
  wheel's (:func:`codex_actors._binary.installed_engine_dir`), with its sha256 recorded. When neither the tag nor
  a patch changed since the last build, the installed binary is reused and nothing is built.
* **prebuilt** (``--prebuilt``, opt-in): download the upstream release archive, verify the binary's sha256
  against the pin, install it the same way. Nothing else in this module, or the package, opens a socket.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import subprocess
import tarfile
import tempfile
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from pathlib import Path

from ._binary import (
    ENGINE_PIN,
    engine_info,
    installed_engine,
    installed_engine_dir,
    pinned_engine_path,
    platform_key,
    sha256_of,
)
from .errors import CodexError

__all__ = ["InstallError", "check", "from_source", "install_binary", "prebuilt", "vendor_changes"]

#: Where a source build finds the pinned source and the local patches, relative to the project.
VENDOR = Path("vendor") / "codex"
PATCHES = Path("patches") / "codex-rs"
BUILD = Path("_build") / "native"
#: The upstream release archive of the prebuilt engine, by target triple.
RELEASE_URL = "https://github.com/openai/codex/releases/download/{tag}/codex-{target}.tar.gz"


class InstallError(CodexError):
    """``codex-actors install`` could not do what was asked; the message says what and how to fix it."""


def _git(*args: str, cwd: Path | None = None) -> str:
    try:
        done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=600, check=False)
    except FileNotFoundError:
        raise InstallError("git is not installed: a source build needs it") from None
    if done.returncode != 0:
        raise InstallError(f"git {' '.join(args)} failed: {done.stderr.strip() or done.stdout.strip()}")
    return done.stdout


def vendor_changes(project: Path) -> str | None:
    """What is changed in ``vendor/codex`` (``git status --porcelain``), or ``None``: clean, or not there."""
    vendor = project / VENDOR
    if not (vendor / ".git").exists():
        return None
    changed = _git("status", "--porcelain", cwd=vendor).strip()
    return changed or None


def check(project: Path, *, vendor_only: bool = False) -> list[str]:
    """The problems with this install (empty: none): the engine against the pin, ``vendor/codex`` unchanged."""
    problems: list[str] = []
    changed = vendor_changes(project)
    if changed is not None:
        problems.append(
            f"{VENDOR} has local changes (keep changes as patches/codex-rs/*.patch, never in the submodule):\n"
            + changed
        )
    if vendor_only:
        return problems
    folder = installed_engine_dir()
    if (folder / "codex.json").exists():  # an engine this command installed: it must be what it recorded
        binary = folder / "codex"
        try:
            recorded = json.loads((folder / "codex.json").read_text(encoding="utf-8")).get("sha256")
            actual = sha256_of(binary)
        except (OSError, ValueError, AttributeError) as exc:
            return [*problems, f"the installed engine in {folder} is unreadable ({exc}); install it again"]
        if actual != recorded:
            problems.append(
                f"the installed engine {binary} was changed: sha256 {actual}, recorded {recorded}; "
                "run codex-actors install --from-source (or --prebuilt) again"
            )
        return problems
    try:
        info = engine_info(pinned_engine_path())
    except FileNotFoundError as exc:
        return [*problems, str(exc)]
    if not info.matches_pin:
        problems.append(
            f"the engine {info.path} is not the pinned one: version {info.version} (pinned {ENGINE_PIN.version}), "
            f"sha256 {info.sha256} (pinned {info.expected_sha256 or 'none for this platform'})"
        )
    return problems


def install_binary(source: Path, origin: Mapping[str, object]) -> Path:
    """Copy ``source`` to the install folder atomically, and record its sha256, size and ``origin``."""
    folder = installed_engine_dir()
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / "codex"
    with (
        tempfile.NamedTemporaryFile(dir=folder, prefix=".codex-", delete=False) as temporary,
        source.open("rb") as src,
    ):
        shutil.copyfileobj(src, temporary)
    os.chmod(temporary.name, 0o755)
    os.replace(temporary.name, target)
    info = target.stat()
    record = {"sha256": sha256_of(target), "size": info.st_size, "mtime_ns": info.st_mtime_ns, **origin}
    (folder / "codex.json").write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")
    return target


def _checkout(project: Path, url: str) -> str:
    """``vendor/codex`` at the pinned tag, sparse; cloned if missing. Returns the tag's commit."""
    vendor = project / VENDOR
    if not (vendor / ".git").exists():
        vendor.parent.mkdir(parents=True, exist_ok=True)
        _git("clone", "--no-checkout", "--branch", ENGINE_PIN.tag, url, str(vendor))
        _git("sparse-checkout", "set", "--no-cone", *(f"/{path}" for path in ENGINE_PIN.sparse_paths), cwd=vendor)
        _git("checkout", "--quiet", ENGINE_PIN.tag, cwd=vendor)
    commit = _git("rev-parse", f"{ENGINE_PIN.tag}^{{commit}}", cwd=vendor).strip()
    head = _git("rev-parse", "HEAD", cwd=vendor).strip()
    if head != commit:
        raise InstallError(f"{VENDOR} is at {head[:12]}, not the pinned {ENGINE_PIN.tag} ({commit[:12]})")
    changed = vendor_changes(project)
    if changed is not None:
        raise InstallError(f"{VENDOR} has local changes; put them in patches/codex-rs/*.patch:\n{changed}")
    return commit


def from_source(project: Path, *, url: str = ENGINE_PIN.repository, say: Callable[[str], None] = print) -> Path:
    """Build the engine from the pinned source with the local patches, and install it (see the module docs)."""
    cargo = shutil.which("cargo")
    if cargo is None:
        raise InstallError("the Rust toolchain is not found (no cargo on PATH): install it with rustup first")
    commit = _checkout(project, url)
    patches = sorted((project / PATCHES).glob("*.patch"))
    digest = hashlib.sha256(f"{ENGINE_PIN.tag}\n{commit}\n".encode())
    for patch in patches:
        digest.update(patch.name.encode() + b"\n" + patch.read_bytes())
    inputs = digest.hexdigest()
    build = project / BUILD / platform_key()
    stamp = build / "stamp.json"
    installed = installed_engine()
    if installed is not None and stamp.exists():
        built = json.loads(stamp.read_text(encoding="utf-8"))
        record = json.loads((installed.parent / "codex.json").read_text(encoding="utf-8"))
        if built.get("inputs") == inputs and built.get("sha256") == record.get("sha256"):
            say(f"up to date: {installed} (built from {ENGINE_PIN.tag} with {len(patches)} patches; cache reused)")
            return installed
    source = build / "src"
    shutil.rmtree(source, ignore_errors=True)
    source.mkdir(parents=True)
    archive = subprocess.run(
        ["git", "archive", "--format=tar", commit, "codex-rs"],
        cwd=project / VENDOR,
        capture_output=True,
        check=False,
    )
    if archive.returncode != 0:
        raise InstallError(f"git archive of {ENGINE_PIN.tag} failed: {archive.stderr.decode(errors='replace')}")
    with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
        tar.extractall(source, filter="data")
    for patch in patches:
        applied = subprocess.run(
            ["git", "apply", "--verbose", str(patch.resolve())],
            cwd=source,
            capture_output=True,
            text=True,
            check=False,
        )
        if applied.returncode != 0:
            raise InstallError(f"patch {patch.name} does not apply to {ENGINE_PIN.tag}: {applied.stderr.strip()}")
        say(f"applied {patch.name}")
    env = {**os.environ, "CARGO_TARGET_DIR": str(build / "target")}
    say(f"cargo build --release (target dir {build / 'target'})")
    built_run = subprocess.run(
        [cargo, "build", "--release", "--bin", "codex"], cwd=source / "codex-rs", env=env, check=False
    )
    if built_run.returncode != 0:
        raise InstallError(f"cargo build failed (exit code {built_run.returncode})")
    binary = build / "target" / "release" / "codex"
    if not binary.is_file():
        raise InstallError(f"cargo build made no {binary}")
    origin = {"origin": "source", "tag": ENGINE_PIN.tag, "commit": commit, "patches": [p.name for p in patches]}
    target = install_binary(binary, origin)
    record = json.loads((target.parent / "codex.json").read_text(encoding="utf-8"))
    stamp.write_text(json.dumps({"inputs": inputs, "sha256": record["sha256"]}) + "\n", encoding="utf-8")
    say(f"installed {target} (sha256 {record['sha256']})")
    return target


def prebuilt(
    *, target: str = "x86_64-unknown-linux-musl", url: str | None = None, timeout_s: float = 10.0
) -> Path:
    """Download the upstream release archive of ``target``, check its binary against the pin, and install it."""
    expected = ENGINE_PIN.sha256.get(target)
    if expected is None:
        raise InstallError(f"no pinned sha256 for {target}: the pin has {', '.join(ENGINE_PIN.sha256)}")
    address = url or RELEASE_URL.format(tag=ENGINE_PIN.tag, target=target)
    try:
        with urllib.request.urlopen(address, timeout=timeout_s) as response:  # the one network access: opt-in
            data = response.read()
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise InstallError(f"cannot download {address}: {reason} (is the network reachable?)") from None
    with tempfile.TemporaryDirectory() as folder, tarfile.open(fileobj=io.BytesIO(data)) as tar:
        tar.extractall(folder, filter="data")
        binaries = [path for path in Path(folder).rglob("codex*") if path.is_file()]
        if not binaries:
            raise InstallError(f"{address} holds no codex binary")
        actual = sha256_of(binaries[0])
        if actual != expected:
            raise InstallError(f"the downloaded binary's sha256 is {actual}, not the pinned {expected}: refused")
        return install_binary(binaries[0], {"origin": "prebuilt", "tag": ENGINE_PIN.tag, "url": address})
