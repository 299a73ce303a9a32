"""``codex-actors install``, all offline: a local bare repository stands in for upstream openai/codex (a
``rust-v0.163.0`` tag, a tiny ``codex-rs/`` tree and files outside it), and a fake ``cargo`` on PATH builds a
script that says which patches it was built with.

* ``--from-source``: the sparse checkout holds only the pinned paths; patches apply in order, outside the
  submodule; the binary is installed and engine resolution finds it before the wheel's; a second build reuses the
  cache (cargo is not run again); a patch that does not apply fails naming it; no cargo, a clear error.
* ``--check``: passes on a clean install; fails on a tampered binary (one byte changed, even with its size and
  mtime kept) and on a dirty submodule; ``--vendor-only`` (the CI step) looks at the submodule alone.
* ``--prebuilt``: the release archive from a local server is checked against the pin and installed; with no
  server it fails fast with a clear message; without the flag no socket is ever opened.
"""

from __future__ import annotations

import hashlib
import http.server
import io
import os
import shutil
import socket
import subprocess
import tarfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from codex_actors import CodexConfig
from codex_actors._binary import ENGINE_PIN, installed_engine, pinned_engine_path, resolve_engine_binary
from codex_actors._cli import main
from codex_actors._source_build import InstallError, check, from_source, prebuilt

FAKE_CARGO = """#!/bin/sh
# A fake cargo: "builds" a script that prints the version and the patched line of src/main.rs.
echo "cargo $*" >> "$FAKE_CARGO_LOG"
mkdir -p "$CARGO_TARGET_DIR/release"
line=$(cat src/main.rs)
printf '#!/bin/sh\\necho "codex-cli 0.163.0 (%s)"\\n' "$line" > "$CARGO_TARGET_DIR/release/codex"
chmod +x "$CARGO_TARGET_DIR/release/codex"
"""

PATCH_1 = """--- a/codex-rs/src/main.rs
+++ b/codex-rs/src/main.rs
@@ -1 +1 @@
-upstream
+patched once
"""
PATCH_2 = """--- a/codex-rs/src/main.rs
+++ b/codex-rs/src/main.rs
@@ -1 +1 @@
-patched once
+patched twice
"""


def git(*args: str, cwd: Path) -> str:
    done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True)
    return done.stdout


@pytest.fixture
def upstream(tmp_path: Path) -> Path:
    """A bare repository like openai/codex at the pinned tag."""
    work = tmp_path / "upstream-work"
    for name, text in {
        "README.md": "the repository root\n",
        "docs/guide.md": "not pinned\n",
        "codex-rs/Cargo.toml": "[workspace]\n",
        "codex-rs/src/main.rs": "upstream\n",
        "codex-rs/scripts/release.sh": "echo release\n",
    }.items():
        (work / name).parent.mkdir(parents=True, exist_ok=True)
        (work / name).write_text(text)
    git("init", "-q", "-b", "main", cwd=work)
    git("-c", "user.name=t", "-c", "user.email=t@t", "add", "-A", cwd=work)
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "v", cwd=work)
    git("tag", ENGINE_PIN.tag, cwd=work)
    bare = tmp_path / "codex.git"
    git("clone", "-q", "--bare", str(work), str(bare), cwd=tmp_path)
    return bare


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A checkout of this project (patches/), a fake cargo on PATH, and an install folder of its own."""
    root = tmp_path / "project"
    (root / "patches" / "codex-rs").mkdir(parents=True)
    tools = tmp_path / "tools"
    tools.mkdir()
    (tools / "cargo").write_text(FAKE_CARGO)
    (tools / "cargo").chmod(0o755)
    monkeypatch.setenv("PATH", f"{tools}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_CARGO_LOG", str(tmp_path / "cargo.log"))
    monkeypatch.setenv("CODEX_ACTORS_ENGINE_DIR", str(tmp_path / "engine"))
    yield root


def cargo_runs(tmp_path: Path) -> int:
    log = tmp_path / "cargo.log"
    return len(log.read_text().splitlines()) if log.exists() else 0


def test_a_source_build_checks_out_sparse_applies_patches_in_order_installs_and_reuses_its_cache(
    project: Path, upstream: Path, tmp_path: Path
) -> None:
    (project / "patches" / "codex-rs" / "0001-once.patch").write_text(PATCH_1)
    (project / "patches" / "codex-rs" / "0002-twice.patch").write_text(PATCH_2)
    built = from_source(project, url=str(upstream), say=lambda line: None)
    vendor = project / "vendor" / "codex"
    checked_out = sorted(
        str(p.relative_to(vendor)) for p in vendor.rglob("*") if p.is_file() and ".git" not in p.parts
    )
    assert checked_out == ["codex-rs/Cargo.toml", "codex-rs/scripts/release.sh", "codex-rs/src/main.rs"]
    assert (vendor / "codex-rs" / "src" / "main.rs").read_text() == "upstream\n"  # the submodule is not edited
    out = subprocess.run([str(built), "--version"], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "codex-cli 0.163.0 (patched twice)"
    assert installed_engine() == built
    assert resolve_engine_binary(CodexConfig()) == built  # found before the wheel's
    assert check(project) == []
    assert cargo_runs(tmp_path) == 1
    again: list[str] = []
    assert from_source(project, url=str(upstream), say=again.append) == built
    assert cargo_runs(tmp_path) == 1 and "cache reused" in again[-1]
    (project / "patches" / "codex-rs" / "0002-twice.patch").unlink()  # an input changed: built again
    from_source(project, url=str(upstream), say=lambda line: None)
    assert cargo_runs(tmp_path) == 2


def test_a_patch_that_does_not_apply_fails_naming_it(project: Path, upstream: Path) -> None:
    (project / "patches" / "codex-rs" / "0001-twice.patch").write_text(PATCH_2)  # needs 0001-once first
    with pytest.raises(InstallError, match=r"patch 0001-twice\.patch does not apply"):
        from_source(project, url=str(upstream), say=lambda line: None)


def test_no_cargo_is_a_clear_error(project: Path, upstream: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(InstallError, match="Rust toolchain is not found"):
        from_source(project, url=str(upstream))


def test_check_fails_on_a_tampered_binary_and_on_a_dirty_submodule(
    project: Path, upstream: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    built = from_source(project, url=str(upstream), say=lambda line: None)
    assert main(["install", "--check", "--project", str(project)]) == 0
    stat = built.stat()
    data = bytearray(built.read_bytes())
    data[-2] ^= 1  # one byte, same size
    built.write_bytes(bytes(data))
    os.utime(built, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # and the same mtime
    assert main(["install", "--check", "--project", str(project)]) == 1
    assert "was changed" in capsys.readouterr().err
    (project / "vendor" / "codex" / "codex-rs" / "src" / "main.rs").write_text("edited by hand\n")
    assert main(["install", "--vendor-only", "--project", str(project)]) == 1
    assert "vendor/codex has local changes" in capsys.readouterr().err


def test_check_passes_on_the_pinned_wheel_and_opens_no_socket(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CODEX_ACTORS_ENGINE_DIR", str(tmp_path / "nothing-installed"))

    def no_socket(*args: object, **kwargs: object) -> None:
        raise AssertionError("a socket was opened")

    monkeypatch.setattr(socket, "socket", no_socket)
    monkeypatch.setattr(socket, "create_connection", no_socket)
    assert main(["install", "--project", str(tmp_path)]) == 0
    assert main(["install", "--vendor-only", "--project", str(tmp_path)]) == 0


def archive_of(binary: Path) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz", compresslevel=1) as tar:
        tar.add(binary, arcname="codex-x86_64-unknown-linux-musl")
    return buffer.getvalue()


def serve(body: bytes) -> tuple[http.server.HTTPServer, str]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/codex.tar.gz"


def test_prebuilt_installs_the_release_checked_against_the_pin_and_refuses_another(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CODEX_ACTORS_ENGINE_DIR", str(tmp_path / "engine"))
    wheel = pinned_engine_path()
    if hashlib.sha256(wheel.read_bytes()).hexdigest() not in ENGINE_PIN.sha256.values():
        pytest.skip("the installed wheel is not the pinned x86_64 binary")
    server, url = serve(archive_of(wheel))
    try:
        installed = prebuilt(url=url)
    finally:
        server.shutdown()
        server.server_close()
    assert installed == installed_engine()
    assert check(tmp_path) == []
    fake = tmp_path / "fake-codex"
    fake.write_bytes(b"#!/bin/sh\necho not the engine\n")
    server, url = serve(archive_of(fake))
    try:
        with pytest.raises(InstallError, match="not the pinned"):
            prebuilt(url=url)
    finally:
        server.shutdown()
        server.server_close()


def test_prebuilt_without_a_network_fails_fast_with_a_clear_message(tmp_path: Path) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(InstallError, match=r"cannot download .* \(is the network reachable\?\)"):
        prebuilt(url=f"http://127.0.0.1:{port}/codex.tar.gz", timeout_s=5)


def test_the_pin_lives_in_one_place_and_the_package_metadata_echoes_it() -> None:
    import importlib.metadata

    metadata = importlib.metadata.metadata("codex-actors")
    requires = [r.replace(" ", "") for r in metadata.get_all("Requires-Dist") or []]
    assert f"{ENGINE_PIN.package}=={ENGINE_PIN.version}" in requires
    urls = dict(url.split(", ", 1) for url in metadata.get_all("Project-URL") or [])
    assert urls["Engine source"] == f"https://github.com/openai/codex/tree/{ENGINE_PIN.tag}"
    gitmodules = (Path(__file__).resolve().parents[2] / ".gitmodules").read_text()
    assert f"branch = {ENGINE_PIN.tag}" in gitmodules and "path = vendor/codex" in gitmodules
    assert ENGINE_PIN.sparse_paths == ("codex-rs/**", "codex-rs/scripts/**")


def test_what_goes_wrong_in_a_source_build_is_said(
    project: Path, upstream: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from_source(project, url=str(upstream), say=lambda line: None)
    vendor = project / "vendor" / "codex"
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "--allow-empty", "-m", "later", cwd=vendor)
    with pytest.raises(InstallError, match=r"not the pinned rust-v0\.163\.0"):
        from_source(project, url=str(upstream))
    git("checkout", "-q", ENGINE_PIN.tag, cwd=vendor)
    (vendor / "codex-rs" / "Cargo.toml").write_text("edited\n")
    with pytest.raises(InstallError, match="has local changes"):
        from_source(project, url=str(upstream))
    git("checkout", "-q", "--", ".", cwd=vendor)
    (project / "patches" / "codex-rs" / "0001-once.patch").write_text(PATCH_1)  # an input changed: a new build
    tools = tmp_path / "tools"
    (tools / "cargo").write_text("#!/bin/sh\nexit 3\n")
    with pytest.raises(InstallError, match="cargo build failed"):
        from_source(project, url=str(upstream))
    (tools / "cargo").write_text("#!/bin/sh\nexit 0\n")  # "succeeds" but builds nothing (the cache gone too)
    shutil.rmtree(project / "_build")
    with pytest.raises(InstallError, match="made no"):
        from_source(project, url=str(upstream))
    monkeypatch.setenv("PATH", str(tools))  # cargo, but no git
    with pytest.raises(InstallError, match="git is not installed"):
        from_source(project / "elsewhere", url=str(upstream))
    with pytest.raises(InstallError, match="git clone"):
        monkeypatch.setenv("PATH", f"{tools}{os.pathsep}/usr/bin{os.pathsep}/bin")
        from_source(project / "elsewhere", url=str(tmp_path / "no-such-repository"))


def test_the_command_line_says_what_failed(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}/codex.tar.gz"
    assert main(["install", "--prebuilt", "--url", url, "--project", str(project)]) == 1
    assert "cannot download" in capsys.readouterr().err
    assert main(["install", "--from-source", "--source-url", "/no/such/repo", "--project", str(project)]) == 1
    assert "git clone" in capsys.readouterr().err
    with pytest.raises(InstallError, match="no pinned sha256 for riscv64"):
        prebuilt(target="riscv64-unknown-linux-gnu")


def test_an_archive_without_the_engine_and_an_unreadable_install_are_said(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CODEX_ACTORS_ENGINE_DIR", str(tmp_path / "engine"))
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        info = tarfile.TarInfo("README")
        tar.addfile(info, io.BytesIO(b""))
    server, url = serve(buffer.getvalue())
    try:
        with pytest.raises(InstallError, match="holds no codex binary"):
            prebuilt(url=url)
    finally:
        server.shutdown()
        server.server_close()
    (tmp_path / "engine").mkdir()
    (tmp_path / "engine" / "codex.json").write_text("{}")  # a record, but no binary
    problems = check(tmp_path)
    assert len(problems) == 1 and "unreadable" in problems[0]
