"""``ScriptedModel``: a Responses-API server on 127.0.0.1 that answers the Codex engine from a script.

The engine is real; only the model is mocked. Each ``POST /v1/responses`` takes the next queued reply
(first in, first out) and is recorded. When the script has run out the server answers HTTP 400 with a JSON
error saying so (or the ``default`` reply, if one was given) and records the request as unexpected, so a test
can assert that nothing unscripted was asked.
"""

from __future__ import annotations

import contextlib
import json
import socket
import socketserver
import sys
import threading
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, TypeAlias

from ._sse import Delay, HttpError, IdAllocator, Reply, ReplyLike, as_reply

__all__ = ["RecordedRequest", "ScriptedModel"]

Json: TypeAlias = dict[str, Any]

_TOOL_OUTPUT_TYPES = ("function_call_output", "custom_tool_call_output")


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    """One HTTP request the scripted model received (header names lower-cased; ``body`` is parsed JSON or None)."""

    method: str
    path: str
    headers: dict[str, str]
    body: Any
    raw: bytes

    def header(self, name: str) -> str | None:
        """A header's value by case-insensitive name, or None."""
        return self.headers.get(name.lower())

    @property
    def input(self) -> list[Json]:
        """The ``input`` list of a Responses request (the conversation the engine sends); empty if none."""
        if isinstance(self.body, dict):
            value = self.body.get("input")
            if isinstance(value, list):
                return [item for item in value if isinstance(item, dict)]
        return []

    def message_texts(self, role: str = "user") -> list[str]:
        """The texts of the input's ``message`` items of ``role`` (e.g. the user's prompt is the last one)."""
        texts: list[str] = []
        for item in self.input:
            if item.get("type") != "message" or item.get("role") != role:
                continue
            content = item.get("content")
            if isinstance(content, str):
                texts.append(content)
            elif isinstance(content, list):
                texts.extend(
                    part["text"]
                    for part in content
                    if isinstance(part, dict) and isinstance(part.get("text"), str)
                )
        return texts

    def tool_outputs(self) -> list[Json]:
        """The input's tool results (``function_call_output`` and ``custom_tool_call_output`` items), in order."""
        return [item for item in self.input if item.get("type") in _TOOL_OUTPUT_TYPES]

    def tool_output(self, call_id: str | None = None) -> str:
        """The text the engine sent back for a tool call: the last one, or the one for ``call_id``.

        Raises :class:`LookupError` if the request carries no such output.
        """
        outputs = self.tool_outputs()
        if call_id is not None:
            outputs = [item for item in outputs if item.get("call_id") == call_id]
        if not outputs:
            which = f" for call_id {call_id!r}" if call_id is not None else ""
            raise LookupError(f"request {self.method} {self.path} carries no tool output{which}")
        return _output_text(outputs[-1].get("output"))


def _output_text(output: Any) -> str:
    if isinstance(output, str):
        return output
    if isinstance(output, list):
        return "".join(
            part["text"] for part in output if isinstance(part, dict) and isinstance(part.get("text"), str)
        )
    if isinstance(output, dict) and isinstance(output.get("content"), str):
        return str(output["content"])
    return json.dumps(output)


class ScriptedModel:
    """A scripted Responses-API model server on ``127.0.0.1`` (an ephemeral port), run on a daemon thread.

    Use it as a context manager (``with ScriptedModel() as model:``) or call :meth:`start` and :meth:`close`.
    Point the engine at :attr:`url` (see :func:`~codex_actors.testing.write_offline_home`), queue replies with
    :meth:`enqueue`, and read what the engine sent in :attr:`requests` (or :meth:`wait_for_requests`).

    Endpoints: ``POST /v1/responses`` answers the next reply; ``GET /v1/models`` a stub list; a WebSocket
    attempt (``GET /v1/responses``) 426, so the built-in provider falls back to HTTP at once; anything else 404
    (recorded as unexpected).
    """

    def __init__(self, *replies: ReplyLike, default: ReplyLike | None = None) -> None:
        self._cond = threading.Condition()
        self._queue: deque[Reply | HttpError] = deque()
        self._ids = IdAllocator()
        self._default = as_reply(default) if default is not None else None
        self._requests: list[RecordedRequest] = []
        self._unexpected: list[RecordedRequest] = []
        self._model_requests: list[RecordedRequest] = []
        self._closing = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._closed = False
        if replies:
            self.enqueue(*replies)

    # -- lifecycle ----------------------------------------------------------------------------------------------

    def start(self) -> ScriptedModel:
        """Bind ``127.0.0.1:0`` and serve on a daemon thread; returns self. Calling it again does nothing."""
        with self._cond:
            if self._closed:
                raise RuntimeError("ScriptedModel is closed; create a new one")
            if self._server is not None:
                return self
            server = _Server(self)
            thread = threading.Thread(
                target=server.serve_forever,
                kwargs={"poll_interval": 0.05},
                name=f"scripted-model:{server.server_address[1]}",
                daemon=True,
            )
            self._server, self._thread = server, thread
        thread.start()
        return self

    def close(self) -> None:
        """Stop serving, cut open streams, join every thread and close every socket. Idempotent."""
        with self._cond:
            if self._closed:
                return
            self._closed = True
            server, thread = self._server, self._thread
        self._closing.set()
        if server is None or thread is None:
            return
        server.shutdown()
        handlers = server.abort_connections()
        server.server_close()
        thread.join(timeout=5)
        for handler in handlers:
            handler.join(timeout=5)

    def __enter__(self) -> ScriptedModel:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    @property
    def port(self) -> int:
        """The TCP port (the model must be started)."""
        if self._server is None:
            raise RuntimeError("ScriptedModel is not started; use `with ScriptedModel() as model:`")
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        """The base URL to give the engine: ``http://127.0.0.1:PORT/v1``."""
        return f"http://127.0.0.1:{self.port}/v1"

    # -- the script ---------------------------------------------------------------------------------------------

    def enqueue(self, *replies: ReplyLike) -> list[Reply | HttpError]:
        """Queue replies, each answering one ``POST /v1/responses`` in order.

        Each argument is a :class:`~codex_actors.testing.Reply`, an :class:`~codex_actors.testing.HttpError`, a
        single step (a one-step reply) or a str (a plain message). Returns the queued replies with their ids
        filled in, so ``model.enqueue(exec_command("ls"))[0].call_ids`` tells the call id the engine will see.
        """
        converted = [as_reply(value) for value in replies]
        with self._cond:  # ids follow queue order even when several threads enqueue
            resolved = [value.resolve(self._ids) for value in converted]
            self._queue.extend(resolved)
        return resolved

    @property
    def pending(self) -> int:
        """How many queued replies have not been asked for yet."""
        with self._cond:
            return len(self._queue)

    # -- what was asked -----------------------------------------------------------------------------------------

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request received so far, in arrival order (a copy)."""
        with self._cond:
            return list(self._requests)

    @property
    def model_requests(self) -> list[RecordedRequest]:
        """The model requests (``POST /v1/responses``) so far, in order: one per reply taken.

        With the offline home these are all the requests; the built-in provider also sends a WebSocket attempt
        (``GET /v1/responses``, answered 426) before each, which only :attr:`requests` shows.
        """
        with self._cond:
            return list(self._model_requests)

    @property
    def unexpected_requests(self) -> list[RecordedRequest]:
        """Requests that found no scripted reply (answered 400) or hit an unknown path (answered 404)."""
        with self._cond:
            return list(self._unexpected)

    def wait_for_requests(self, count: int, timeout: float = 5.0) -> list[RecordedRequest]:
        """Block until at least ``count`` model requests arrived and return :attr:`model_requests`.

        Raises :class:`TimeoutError` if they did not arrive within ``timeout`` seconds.
        """
        with self._cond:
            if not self._cond.wait_for(lambda: len(self._model_requests) >= count, timeout):
                got = [f"{r.method} {r.path}" for r in self._requests]
                raise TimeoutError(
                    f"expected {count} model requests within {timeout} s, "
                    f"got {len(self._model_requests)} (all requests: {got})"
                )
            return list(self._model_requests)

    def assert_done(self) -> None:
        """Raise :class:`AssertionError` if replies are still queued or any request was unexpected."""
        with self._cond:
            pending, unexpected = len(self._queue), list(self._unexpected)
        problems = []
        if pending:
            problems.append(f"{pending} scripted repl{'y' if pending == 1 else 'ies'} never asked for")
        if unexpected:
            problems.append(f"unexpected requests: {[f'{r.method} {r.path}' for r in unexpected]}")
        if problems:
            raise AssertionError("; ".join(problems))

    # -- used by the handler ------------------------------------------------------------------------------------

    def _record(self, request: RecordedRequest, *, unexpected: bool = False) -> None:
        with self._cond:
            self._requests.append(request)
            if unexpected:
                self._unexpected.append(request)
            self._cond.notify_all()

    def _take(self, request: RecordedRequest) -> tuple[Reply | HttpError | None, int]:
        """Record a model request and pop its reply (None when the script has run out), with its number."""
        with self._cond:
            self._requests.append(request)
            self._model_requests.append(request)
            number = len(self._model_requests)
            if self._queue:
                answer: Reply | HttpError | None = self._queue.popleft()
            elif self._default is not None:
                answer = self._default.resolve(self._ids)
            else:
                answer = None
                self._unexpected.append(request)
            self._cond.notify_all()
            return answer, number

    def __repr__(self) -> str:
        state = "closed" if self._closed else ("serving " + self.url if self._server else "not started")
        return f"<ScriptedModel {state}, {self.pending} pending, {len(self.model_requests)} model requests>"


class _Server(ThreadingHTTPServer):
    """A ThreadingHTTPServer that knows its model and its open connections (so close() can cut them)."""

    daemon_threads = True
    #: The listen backlog: hundreds of turns at once open hundreds of connections in a burst (the default, 5,
    #: would have the kernel refuse some, and the engine, which does not retry offline, fail their turns).
    request_queue_size = 1024

    def __init__(self, model: ScriptedModel) -> None:
        self.model = model
        self._active: dict[threading.Thread, socket.socket] = {}
        self._active_lock = threading.Lock()
        super().__init__(("127.0.0.1", 0), _Handler)

    def server_bind(self) -> None:
        """Bind without HTTPServer's ``socket.getfqdn`` (a name lookup): stay hermetic and fast."""
        socketserver.TCPServer.server_bind(self)
        self.server_name = "127.0.0.1"
        self.server_port = int(self.server_address[1])

    def process_request(self, request: Any, client_address: Any) -> None:
        thread = threading.Thread(
            target=self._serve_connection,
            args=(request, client_address),
            name="scripted-model-request",
            daemon=True,
        )
        with self._active_lock:
            self._active[thread] = request
        thread.start()

    def _serve_connection(self, request: Any, client_address: Any) -> None:
        try:
            self.process_request_thread(request, client_address)
        finally:
            with self._active_lock:
                self._active.pop(threading.current_thread(), None)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Stay quiet about connections the engine dropped (or close() cut); report anything else."""
        if not isinstance(sys.exc_info()[1], OSError):
            super().handle_error(request, client_address)

    def abort_connections(self) -> list[threading.Thread]:
        """Shut down every open connection's socket; return their handler threads (to join)."""
        with self._active_lock:
            active = list(self._active.items())
        for _thread, sock in active:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        return [thread for thread, _sock in active]


class _Handler(BaseHTTPRequestHandler):
    """Serves one connection: one request, then ``Connection: close`` (an SSE body ends with the connection).

    The status line says HTTP/1.1: the engine's WebSocket client rejects a 426 from an HTTP/1.0 server
    ("HTTP version must be 1.1 or higher") and then retries for seconds before falling back.
    """

    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        """Stay quiet: the model records requests instead of logging them to stderr."""

    # -- dispatch -----------------------------------------------------------------------------------------------

    def do_GET(self) -> None:
        """``/v1/models``: a stub list; ``/v1/responses`` (a WebSocket attempt): 426; else 404."""
        recorded = self._read_request()
        model = self.server.model
        path = _route(self.path)
        if path.endswith("/responses") or self.headers.get("upgrade", "").lower() == "websocket":
            model._record(recorded)
            self._send_json(426, _error("WebSockets are not supported here; use HTTP", "upgrade_required"))
        elif path.endswith("/models"):
            model._record(recorded)
            self._send_json(200, {"object": "list", "data": [], "models": []})
        else:
            self._not_found(recorded)

    def do_POST(self) -> None:
        """``/v1/responses``: the next scripted reply (400 when the script has run out); else 404."""
        recorded = self._read_request()
        model = self.server.model
        if not _route(self.path).endswith("/responses"):
            self._not_found(recorded)
            return
        answer, number = model._take(recorded)
        if answer is None:
            message = (
                f"ScriptedModel: the script ran out: no reply queued for model request #{number} "
                f"({self.command} {self.path}); enqueue() more replies or pass default="
            )
            self._send_json(400, _error(message, "script_exhausted"))
        elif isinstance(answer, HttpError):
            self._send_bytes(answer.status, answer.body_bytes(), "application/json", answer.headers)
        else:
            self._stream(answer)

    def do_PUT(self) -> None:
        """Unknown: 404, recorded as unexpected."""
        self._not_found(self._read_request())

    do_DELETE = do_PATCH = do_PUT

    # -- helpers ------------------------------------------------------------------------------------------------

    def _read_request(self) -> RecordedRequest:
        self.close_connection = True
        raw = self._read_body()
        body: Any = None
        if raw:
            try:
                body = json.loads(raw)
            except ValueError:
                body = None
        headers = {key.lower(): value for key, value in self.headers.items()}
        return RecordedRequest(self.command, self.path, headers, body, raw)

    def _read_body(self) -> bytes:
        if self.headers.get("transfer-encoding", "").lower() == "chunked":
            chunks: list[bytes] = []
            while True:
                size = int(self.rfile.readline().split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("content-length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _not_found(self, recorded: RecordedRequest) -> None:
        self.server.model._record(recorded, unexpected=True)
        message = f"ScriptedModel: no such endpoint: {self.command} {self.path}"
        self._send_json(404, _error(message, "not_found"))

    def _send_json(self, status: int, payload: Json) -> None:
        self._send_bytes(status, json.dumps(payload).encode(), "application/json", {})

    def _send_bytes(self, status: int, body: bytes, content_type: str, headers: Mapping[str, str]) -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Connection", "close")
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)
            self.wfile.flush()
        except OSError:  # the engine went away, or close() cut the connection
            pass

    def _stream(self, answer: Reply) -> None:
        closing = self.server.model._closing
        try:
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Cache-Control", "no-cache")
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.flush()
            for part in answer.plan():
                if isinstance(part, bytes):
                    self.wfile.write(part)
                    self.wfile.flush()
                elif isinstance(part, Delay):
                    if closing.wait(part.seconds):
                        return
                elif not part.hold(closing):
                    return
        except OSError:  # the engine went away, or close() cut the connection
            pass


def _route(path: str) -> str:
    return path.split("?", 1)[0].rstrip("/")


def _error(message: str, code: str) -> Json:
    return {"error": {"message": message, "type": "scripted_model_error", "code": code}}
