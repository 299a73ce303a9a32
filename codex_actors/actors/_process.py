"""The engine's OS process: spawning it, keeping a bounded tail of its stderr, and stopping it for sure.

Nothing here knows JSON-RPC. :class:`EngineProcess` is owned by the port actor; its stderr drain is one daemon
thread that keeps only the last ``stderr_tail_bytes`` (default 256 KiB), read back without ANSI colour codes.

Logs (``codex_actors.engine``): the start at INFO (``pid``, the redacted ``argv``, ``cwd``; never the
environment), the exit at INFO when it was asked to stop and at WARNING when it exited on its own (``pid``,
``exit_code``, ``stderr_tail``), at WARNING when it was killed for not answering (:meth:`EngineProcess.kill`);
and at DEBUG every stderr line on ``codex_actors.engine.stderr``.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import select
import shlex
import signal
import struct
import subprocess
import termios
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

from .._binary import EngineLaunch, build_launch
from .._config import CodexConfig
from .._logs import ENGINE, STDERR, redact_argv, strip_ansi
from ._liveness import Watchdog
from ._options import DEFAULT_STDERR_TAIL_BYTES, RuntimeOptions

__all__ = ["DEFAULT_STDERR_TAIL_BYTES", "EngineProcess", "StderrTail"]


class StderrTail:
    """The last ``limit`` bytes written to stderr; thread-safe."""

    __slots__ = ("_buf", "_limit", "_lock", "truncated")

    def __init__(self, limit: int = DEFAULT_STDERR_TAIL_BYTES) -> None:
        self._limit = limit
        self._buf = bytearray()
        self._lock = threading.Lock()
        self.truncated = False

    def feed(self, chunk: bytes) -> None:
        """Append a chunk, forgetting the oldest bytes past the limit."""
        with self._lock:
            self._buf += chunk
            excess = len(self._buf) - self._limit
            if excess > 0:
                del self._buf[:excess]
                self.truncated = True

    def text(self, max_chars: int | None = None) -> str:
        """The tail decoded as UTF-8 (lossy) without ANSI escapes, optionally only its last ``max_chars``."""
        with self._lock:
            data = bytes(self._buf)
        text = strip_ansi(data.decode("utf-8", errors="replace"))
        return text if max_chars is None else text[-max_chars:]

    def summary(self, lines: int = 40, max_chars: int = 2000) -> str:
        """The last ``lines`` lines, at most ``max_chars`` characters: what error messages carry."""
        return "\n".join(self.text().splitlines()[-lines:])[-max_chars:]


#: The engine's stdout pipe is grown to this (Linux; the default is 64 KiB): a burst of notifications is then
#: read in fewer, larger reads, and each read is decoded in one call.
PIPE_SIZE = 1024 * 1024


def _grow_pipe(stream: object) -> None:
    set_size = getattr(fcntl, "F_SETPIPE_SZ", None)
    fileno = getattr(stream, "fileno", None)
    if set_size is None or fileno is None:  # pragma: no cover - not Linux
        return
    with contextlib.suppress(OSError):  # over /proc/sys/fs/pipe-max-size, or not a pipe: keep the default
        fcntl.fcntl(fileno(), set_size, PIPE_SIZE)


def _ignore_chunk(_chunk: bytes) -> None:  # pragma: no cover - replaced before the reader starts
    return None


def _nothing() -> None:  # pragma: no cover - replaced before the reader starts
    return None


#: SIGKILL's bit in the pending-signal masks of /proc/<pid>/status.
_SIGKILL_BIT = 1 << (signal.SIGKILL - 1)

#: A stderr "line" logged at DEBUG is cut here when no newline comes (the tail keeps it all the same).
_MAX_LOGGED_LINE = 64 * 1024


def _exit_text(code: int) -> str:
    if code < 0:
        with contextlib.suppress(ValueError):
            return f"{code} ({signal.Signals(-code).name})"
    return str(code)


class EngineProcess:
    """One ``codex app-server`` child process with piped stdio, in its own session (process group).

    Two daemon threads serve it, from :meth:`start_reading` on: the stdout reader, which hands every chunk it
    reads to its owner, and the stderr drain. Both wait
    in ``poll()`` on their pipe and on a wake-up pipe, so :meth:`stop` can end them even if a stray grandchild
    keeps the engine's pipes open. The reader's wait has the timeout of its :class:`Watchdog`, if given.
    """

    def __init__(
        self,
        launch: EngineLaunch,
        *,
        read_size: int = 256 * 1024,
        stderr_tail_bytes: int = DEFAULT_STDERR_TAIL_BYTES,
    ) -> None:
        self.stderr_tail = StderrTail(stderr_tail_bytes)
        self._on_stdout: Callable[[bytes], None] = _ignore_chunk
        self._on_stdout_end: Callable[[], None] = _nothing
        self._read_size = read_size
        #: Bytes written to the engine's stdin so far.
        self.written = 0
        self._write_lock = threading.Lock()
        self._popen = subprocess.Popen(
            list(launch.argv),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=launch.cwd,
            env=launch.env,
            bufsize=0,
            start_new_session=True,
        )
        _grow_pipe(self._popen.stdout)
        self._wake_r, self._wake_w = os.pipe()
        self._stopped = False
        self._watchdog: Watchdog | None = None
        self._killed = False
        pid = self._popen.pid
        argv = redact_argv(launch.argv)
        ENGINE.info(
            "engine %d started: %s", pid, shlex.join(argv), extra={"pid": pid, "argv": argv, "cwd": launch.cwd}
        )
        self._stdout_thread = threading.Thread(
            target=self._read_stdout, name=f"codex-port-reader-{pid}", daemon=True
        )
        self._stderr_thread = threading.Thread(
            target=self._drain_stderr, name=f"codex-port-stderr-{pid}", daemon=True
        )

    @classmethod
    def launch(cls, config: CodexConfig, options: RuntimeOptions) -> EngineProcess:
        """Start the engine ``config`` describes, with ``options``' read size and stderr tail.

        Nothing reads its output until :meth:`start_reading`: it waits in the pipes meanwhile.
        """
        return cls(build_launch(config), read_size=options.read_size, stderr_tail_bytes=options.stderr_tail_bytes)

    def start_reading(
        self,
        on_stdout: Callable[[bytes], None],
        on_stdout_end: Callable[[], None],
        watchdog: Watchdog | None = None,
    ) -> None:
        """Start the stderr drain, then the stdout reader.

        ``on_stdout`` gets every chunk read, and ``on_stdout_end`` is called once when stdout ends. Until this
        is called, the engine's output waits in its pipes. With a ``watchdog``, the reader waits for output at
        most its :meth:`~Watchdog.wait_s`, tells it of every chunk and of every wait that passed in silence.
        """
        self._on_stdout = on_stdout
        self._on_stdout_end = on_stdout_end
        self._watchdog = watchdog
        self._stderr_thread.start()  # first: the reader may want to join it at once if the engine exits at once
        self._stdout_thread.start()

    @property
    def pid(self) -> int:
        """The engine's process id."""
        return self._popen.pid

    def poll(self) -> int | None:
        """The exit status if the engine has exited, else ``None``."""
        return self._popen.poll()

    def wait_exit(self, timeout: float) -> int | None:
        """Wait up to ``timeout`` seconds for the exit status; ``None`` if still running."""
        try:
            return self._popen.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def write(self, data: bytes) -> None:
        """Write all of ``data`` to stdin (raises ``OSError``/``ValueError`` once the pipe is gone).

        :attr:`written` counts the bytes written so far (from one thread: the port's).
        """
        stdin = self._popen.stdin
        assert stdin is not None
        view = memoryview(data)
        while view:
            with self._write_lock:  # the count and the pipe agree for consumed_input()
                written = stdin.write(view) or 0
                self.written += written
            view = view[written:]

    def unread_input(self) -> int:
        """Bytes written to the engine's stdin that it has not read (still in the pipe); 0 if unknown."""
        stdin = self._popen.stdin
        try:
            assert stdin is not None
            count = fcntl.ioctl(stdin.fileno(), termios.FIONREAD, b"\0\0\0\0")
        except (AssertionError, OSError, ValueError):
            return 0
        return int(struct.unpack("i", count)[0])

    def dying(self) -> bool:
        """Whether the engine is being killed: a SIGKILL pending, or its main thread gone (Linux; else False).

        A killed engine with many threads takes a while to go, and meanwhile its stdin still takes what is
        written (one of its threads may even read it); nothing written then is acted on.
        """
        try:
            status = Path(f"/proc/{self._popen.pid}/status").read_text()
        except OSError:
            return False
        for line in status.splitlines():
            key, _, value = line.partition(":")
            if key == "State" and value.split()[:1] in (["Z"], ["X"]):
                return True
            if key in ("SigPnd", "ShdPnd") and int(value.strip(), 16) & _SIGKILL_BIT:
                return True
        return False

    def consumed_input(self) -> int:
        """How many bytes of what was written the engine read from its stdin. Call it once the engine has exited.

        A dead engine reads nothing more and a write to it fails, so this is final then: every byte past it was
        never read (a request that starts there never reached the engine). Conservative: if the unread count
        cannot be told, everything written counts as read.
        """
        with self._write_lock:
            return self.written - self.unread_input()

    def kill(self) -> None:
        """SIGKILL the engine's process group now (it stopped answering); never blocks. :meth:`stop` reaps it."""
        self._killed = True
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self._popen.pid, signal.SIGKILL)

    def _chunks(self, fd: int, watchdog: Watchdog | None = None) -> Iterator[bytes]:
        poller = select.poll()
        poller.register(fd, select.POLLIN)
        poller.register(self._wake_r, select.POLLIN)
        while True:
            wait_s = None if watchdog is None else watchdog.wait_s()
            events = poller.poll(None if wait_s is None else wait_s * 1000.0)
            if not events:  # only with a watchdog: that long without a byte
                assert watchdog is not None
                watchdog.silence()
                continue
            if watchdog is not None:
                watchdog.heard()
            if any(ready == self._wake_r for ready, _ in events):
                return
            try:
                chunk = os.read(fd, self._read_size)
            except OSError:
                return
            if not chunk:
                return
            yield chunk

    def _read_stdout(self) -> None:
        stdout = self._popen.stdout
        assert stdout is not None
        try:
            for chunk in self._chunks(stdout.fileno(), self._watchdog):
                self._on_stdout(chunk)
        finally:
            self._on_stdout_end()

    def _drain_stderr(self) -> None:
        stderr = self._popen.stderr
        assert stderr is not None
        partial = b""
        for chunk in self._chunks(stderr.fileno()):
            self.stderr_tail.feed(chunk)
            if partial or STDERR.isEnabledFor(logging.DEBUG):
                partial = self._log_stderr(partial + chunk)
        if partial:
            self._log_stderr(partial + b"\n")

    def _log_stderr(self, data: bytes) -> bytes:
        """Log each complete line of ``data`` at DEBUG; the incomplete rest, to be continued."""
        *lines, rest = data.split(b"\n")
        if len(rest) > _MAX_LOGGED_LINE:
            lines.append(rest)
            rest = b""
        pid = self._popen.pid
        for raw in lines:
            line = strip_ansi(raw.decode("utf-8", errors="replace")).rstrip()
            if line:
                STDERR.debug("engine %d stderr: %s", pid, line, extra={"pid": pid})
        return rest

    def join_stderr(self, timeout: float) -> None:
        """Wait for the stderr drain to reach EOF (so the tail is complete)."""
        thread = self._stderr_thread
        if thread.ident is not None and threading.current_thread() is not thread:
            thread.join(timeout)

    def stop(self, *, grace: float = 2.0, term_grace: float = 1.0, drain: float = 0.5) -> int:
        """Stop the engine for sure and release every resource; returns the exit status.

        Close stdin (the engine exits on EOF) and wait ``grace`` seconds; then SIGTERM and wait ``term_grace``;
        then SIGKILL the whole process group. The child is always reaped. The reader threads get ``drain``
        seconds to read what is left; then they are woken, joined, and every pipe is closed. Idempotent.
        """
        if self._stopped:
            return self._popen.wait()
        self._stopped = True
        on_its_own = self._popen.poll() is not None
        stdin = self._popen.stdin
        if stdin is not None:
            with contextlib.suppress(OSError, ValueError):
                stdin.close()
        code = self.wait_exit(grace)
        signalled = code is None
        if code is None:
            with contextlib.suppress(ProcessLookupError):
                self._popen.send_signal(signal.SIGTERM)
            code = self.wait_exit(term_grace)
        if code is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self._popen.pid, signal.SIGKILL)
            code = self._popen.wait()
        # Killed by a signal nobody here sent (a kill -9 racing the close): it did not exit because it was asked.
        on_its_own = on_its_own or (code < 0 and not signalled)
        current = threading.current_thread()
        threads = [
            t for t in (self._stdout_thread, self._stderr_thread) if t.ident is not None and t is not current
        ]
        for thread in threads:
            thread.join(drain)
        os.write(self._wake_w, b"x")
        for thread in threads:
            thread.join()
        for stream in (self._popen.stdout, self._popen.stderr):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()
        os.close(self._wake_r)
        os.close(self._wake_w)
        self._log_exit(code, on_its_own=on_its_own)
        return code

    def _log_exit(self, code: int, *, on_its_own: bool) -> None:
        if self._killed:
            on_its_own = False
        level = logging.WARNING if on_its_own or self._killed else logging.INFO
        if not ENGINE.isEnabledFor(level):
            return
        pid = self._popen.pid
        tail = self.stderr_tail.summary()
        extra = {"pid": pid, "exit_code": code, "stderr_tail": tail}
        if self._killed:
            ENGINE.warning(
                "engine %d killed: it stopped answering, exit code %s; stderr tail:\n%s",
                pid,
                _exit_text(code),
                tail or "(empty)",
                extra=extra,
            )
        elif on_its_own:
            ENGINE.warning(
                "engine %d exited on its own, exit code %s; stderr tail:\n%s",
                pid,
                _exit_text(code),
                tail or "(empty)",
                extra=extra,
            )
        else:
            ENGINE.info("engine %d stopped, exit code %s", pid, _exit_text(code), extra=extra)
