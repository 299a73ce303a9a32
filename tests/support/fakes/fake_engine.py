#!/usr/bin/env python3
"""A scriptable stand-in for `codex app-server` on stdio, for faults the real engine cannot be made to show.

It answers `initialize` like the real engine, then obeys test methods:

  test/echo            reply with the params
  test/malformed       write a non-JSON line and a non-object one, then reply {"ok": true} (in one write)
  test/huge            write one line of params.size bytes (default 20 MB), then reply {"ok": true}
  test/huge-reply      reply with a result of params.size bytes; with params.idLast the id comes after it
  test/split           write the reply one byte at a time
  test/die             write params.stderr to stderr and exit with params.code (default 3), no reply
  test/hang            never reply (but go on answering everything else)
  test/freeze          stop reading and writing altogether, as a hung engine does (only a signal ends it)
  test/server-request  send a server request (params.method) and reply with what the client answered
  test/notify          write params.count notifications of params.method with params.params, then reply
  test/flood           write params.count item/agentMessage/delta notifications for a turn, then turn/completed
  test/scatter         write params.count item/agentMessage/delta notifications of params.threadId, each for
                       another turn id that no turn/start named, then reply {"ok": true}
  test/interleave      write params.count item/agentMessage/delta notifications cycling over params.threads
                       (delta = the index), then the reply, all in one write
  account/login/start  chatgpt / chatgptDeviceCode: answer with a login id; with FAKE_ENGINE_LOGIN_DELAY set,
                       wait that many seconds, then send account/login/completed with success=true;
                       FAKE_ENGINE_LOGIN=bad answers with the wrong shape
  account/login/cancel answer {"status":"canceled"} and send account/login/completed with success=false
  thread/start         answer like the real engine (a new thread id each time)
  turn/start           answer like the real engine, then play a turn: turn/started, FAKE_ENGINE_FLOOD
                       item/agentMessage/delta notifications (default 3), item/completed, turn/completed;
                       FAKE_ENGINE_EVENTS_FIRST=1 plays the turn before answering; FAKE_ENGINE_HUGE_ITEM=N
                       makes the first turn's item/completed carry a message of N bytes, with threadId and
                       turnId before it (FAKE_ENGINE_HUGE_LAYOUT=first, the default) or after it (=last)
  model/list           with FAKE_ENGINE_ERRORS (a JSON list of JSON-RPC error objects): answer each call with
                       the next error, then {"data": []} (neither the real engine, whose -32001 needs a full
                       queue, nor any other method can be made to send a chosen error)

Everything else is answered with a -32600 error, like the real engine's unknown-variant answer.
Environment: FAKE_ENGINE_IGNORE_EOF=1 keeps running after stdin closes; FAKE_ENGINE_IGNORE_TERM=1 ignores
SIGTERM (so only SIGKILL stops it); FAKE_ENGINE_INIT=garbage|empty|die changes the initialize answer;
FAKE_ENGINE_LATER_INIT=hang|die does the same for every process but the first (a restarted engine never answers
``initialize``, or exits with code 7 at it): the first process creates the file FAKE_ENGINE_MARKER, later ones
find it; FAKE_ENGINE_PIDS names a file each process appends its pid to (one line per spawn);
FAKE_ENGINE_VERSION is the version in its user agent (default 0.163.0; an older one exercises version gating);
FAKE_ENGINE_REFUSE (comma-separated methods) answers those with the -32600 unknown-variant error;
FAKE_ENGINE_OVERLOAD_RESUMES=N answers the first N ``thread/resume`` of each thread (per process) with the
engine's ``-32001 Server overloaded`` (otherwise a resume is answered like a start);
FAKE_ENGINE_OVERLOAD_STARTS names a file: the process that creates it (the first of a pool to start) answers every
``thread/start`` with ``-32001``, the others answer them.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from typing import Any

out = sys.stdout.buffer


def send(obj: object) -> None:
    out.write(json.dumps(obj).encode() + b"\n")
    out.flush()


def read_message() -> dict[str, Any] | None:
    line = sys.stdin.buffer.readline()
    if not line:
        return None
    message: dict[str, Any] = json.loads(line)
    return message


_counter = iter(range(1, 1 << 62))


def next_thread() -> str:
    return f"00000000-0000-7000-8000-{next(_counter):012d}"


def turn(turn_id: str, status: str, items: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {
        "id": turn_id,
        "rootTurnId": turn_id,
        "items": items or [],
        "itemsView": "notLoaded" if status == "inProgress" else "summary",
        "status": status,
        "error": None,
        "startedAt": None,
        "completedAt": None,
        "durationMs": None,
    }


def thread_started(thread_id: str) -> dict[str, Any]:
    thread: dict[str, Any] = {
        "id": thread_id,
        "sessionId": thread_id,
        "forkedFromId": None,
        "preview": "",
        "ephemeral": False,
        "modelProvider": "mock",
        "model": "gpt-5.5",
        "createdAt": 1795535397,
        "updatedAt": 1795535397,
        "status": {"type": "idle"},
        "path": None,
        "cwd": "/tmp",
        "cliVersion": "0.163.0",
        "source": "vscode",
        "turns": [],
    }
    return {
        "thread": thread,
        "model": "gpt-5.5",
        "modelProvider": "mock",
        "cwd": "/tmp",
        "approvalPolicy": "never",
        "approvalsReviewer": "user",
        "sandbox": {"type": "readOnly", "networkAccess": False},
    }


def play_turn(thread_id: str, turn_id: str, deltas: int, huge: int = 0) -> None:
    def line(method: str, params: dict[str, Any]) -> bytes:
        return json.dumps({"method": method, "params": params, "emittedAtMs": 1}).encode() + b"\n"

    message = {"type": "agentMessage", "id": "msg_1", "text": "x" * deltas, "phase": None}
    out.write(line("turn/started", {"threadId": thread_id, "turn": turn(turn_id, "inProgress")}))
    delta = line(
        "item/agentMessage/delta", {"threadId": thread_id, "turnId": turn_id, "itemId": "msg_1", "delta": "x"}
    )
    full, rest = divmod(deltas, 512)
    block = delta * 512
    for _ in range(full):
        out.write(block)
    out.write(delta * rest)
    if huge:
        big = {"type": "agentMessage", "id": "msg_2", "text": "y" * huge, "phase": None}
        ids = {"threadId": thread_id, "turnId": turn_id}
        if os.environ.get("FAKE_ENGINE_HUGE_LAYOUT", "first") == "last":
            out.write(json.dumps({"params": {"item": big, **ids}, "method": "item/completed"}).encode() + b"\n")
        else:
            out.write(line("item/completed", {**ids, "item": big}))
    completed = {"threadId": thread_id, "turnId": turn_id, "completedAtMs": 1, "item": message}
    out.write(line("item/completed", completed))
    out.write(line("turn/completed", {"threadId": thread_id, "turn": turn(turn_id, "completed", [message])}))
    out.flush()


def init_mode() -> str | None:
    """FAKE_ENGINE_INIT, or FAKE_ENGINE_LATER_INIT for every process after the first (see the module docstring)."""
    later = os.environ.get("FAKE_ENGINE_LATER_INIT")
    marker = os.environ.get("FAKE_ENGINE_MARKER")
    if later is None or marker is None:
        return os.environ.get("FAKE_ENGINE_INIT")
    try:
        with open(marker, "x"):
            return os.environ.get("FAKE_ENGINE_INIT")  # the first process
    except FileExistsError:
        return later


def first_of_pool(marker: str | None) -> bool:
    """Whether this process is the first to claim ``marker`` (``None``: no marker, False)."""
    if marker is None:
        return False
    try:
        with open(marker, "x"):
            return True
    except FileExistsError:
        return False


def main() -> int:
    pids = os.environ.get("FAKE_ENGINE_PIDS")
    if pids is not None:
        with open(pids, "a") as spawned:
            spawned.write(f"{os.getpid()}\n")
    mode = init_mode()
    if os.environ.get("FAKE_ENGINE_IGNORE_TERM") == "1":
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    next_server_id = 0
    scripted_errors = os.environ.get("FAKE_ENGINE_ERRORS")
    errors: list[dict[str, Any]] | None = None if scripted_errors is None else json.loads(scripted_errors)
    version = os.environ.get("FAKE_ENGINE_VERSION", "0.163.0")
    refused = set(filter(None, os.environ.get("FAKE_ENGINE_REFUSE", "").split(",")))
    overloaded_resumes = int(os.environ.get("FAKE_ENGINE_OVERLOAD_RESUMES", "0"))
    resumes: dict[str, int] = {}
    overloaded_starts = first_of_pool(os.environ.get("FAKE_ENGINE_OVERLOAD_STARTS"))
    huge_item = int(os.environ.get("FAKE_ENGINE_HUGE_ITEM", "0"))
    while True:
        msg = read_message()
        if msg is None:
            if os.environ.get("FAKE_ENGINE_IGNORE_EOF") == "1":
                while True:
                    time.sleep(60)
            return 0
        method = msg.get("method")
        mid = msg.get("id")
        params = msg.get("params") or {}
        if mid is None:
            continue  # a notification (initialized)
        if method in refused:
            send({"id": mid, "error": {"code": -32600, "message": f"Invalid request: unknown variant `{method}`"}})
        elif method == "initialize":
            if mode == "hang":  # stuck: reads nothing more, answers nothing (SIGTERM still ends it)
                while True:
                    time.sleep(60)
            if mode == "garbage":
                out.write(b"this is not json\n")
                out.flush()
            elif mode == "die":
                sys.stderr.write("fake engine: refusing to start\n")
                return 7
            elif mode == "empty":
                send({"id": mid, "result": {}})
            else:
                send({"method": "configWarning", "params": {"summary": "fake"}, "emittedAtMs": 1})
                send(
                    {
                        "id": mid,
                        "result": {
                            "userAgent": f"fake_engine/{version} (test)",
                            "codexHome": "/nonexistent",
                            "platformFamily": "unix",
                            "platformOs": "linux",
                        },
                    }
                )
        elif method == "account/login/start":
            login_id = f"login-{next_thread()}"
            if os.environ.get("FAKE_ENGINE_LOGIN") == "bad":
                send({"id": mid, "result": {"type": "somethingElse"}})
            elif params.get("type") == "chatgptDeviceCode":
                result = {"type": "chatgptDeviceCode", "loginId": login_id}
                result |= {"verificationUrl": "https://device.invalid/verify", "userCode": "ABCD-1234"}
                send({"id": mid, "result": result})
            else:
                result = {"type": "chatgpt", "loginId": login_id, "authUrl": "https://auth.invalid/start"}
                send({"id": mid, "result": result})
            delay = os.environ.get("FAKE_ENGINE_LOGIN_DELAY")
            if delay is not None:
                time.sleep(float(delay))
                completed = {"loginId": login_id, "success": True, "error": None}
                send({"method": "account/login/completed", "params": completed})
        elif method == "account/login/cancel":
            send({"id": mid, "result": {"status": "canceled"}})
            error = "Login server error: Login was not completed"
            completed = {"loginId": params.get("loginId"), "success": False, "error": error}
            send({"method": "account/login/completed", "params": completed})
        elif method == "thread/start" and overloaded_starts:
            send({"id": mid, "error": {"code": -32001, "message": "Server overloaded; retry later."}})
        elif method == "thread/start":
            send({"id": mid, "result": thread_started(next_thread())})
        elif method == "thread/resume":
            thread_id = params.get("threadId", "thr")
            resumes[thread_id] = resumes.get(thread_id, 0) + 1
            if resumes[thread_id] <= overloaded_resumes:
                send({"id": mid, "error": {"code": -32001, "message": "Server overloaded; retry later."}})
            else:
                send({"id": mid, "result": thread_started(thread_id)})
        elif method == "model/list" and errors is not None:
            if errors:
                send({"id": mid, "error": errors.pop(0)})
            else:
                send({"id": mid, "result": {"data": []}})
        elif method == "turn/start":
            thread_id = params.get("threadId", "thr")
            turn_id = f"turn-{next_thread()}"
            deltas = int(os.environ.get("FAKE_ENGINE_FLOOD", "3"))
            huge, huge_item = huge_item, 0  # the first turn only
            if os.environ.get("FAKE_ENGINE_EVENTS_FIRST") == "1":  # the whole turn, then its turn/start reply
                play_turn(thread_id, turn_id, deltas, huge)
                time.sleep(0.2)
                send({"id": mid, "result": {"turn": turn(turn_id, "inProgress")}})
            else:
                send({"id": mid, "result": {"turn": turn(turn_id, "inProgress")}})
                play_turn(thread_id, turn_id, deltas, huge)
        elif method == "test/echo":
            send({"id": mid, "result": params})
        elif method == "test/malformed":
            reply = json.dumps({"id": mid, "result": {"ok": True}}).encode() + b"\n"
            out.write(b"{this is not json at all\n[1, 2, 3]\n" + reply)  # one write: no client can cut it
            out.flush()
        elif method == "test/huge":
            size = int(params.get("size", 20 * 1024 * 1024))
            payload = b'{"method":"huge","params":{"blob":"' + b"x" * size + b'"}}\n'
            out.write(payload)
            out.flush()
            send({"id": mid, "result": {"ok": True}})
        elif method == "test/huge-reply":
            result = {"text": "y" * int(params.get("size", 2 * 1024 * 1024))}
            send({"result": result, "id": mid} if params.get("idLast") else {"id": mid, "result": result})
        elif method == "test/split":
            data = json.dumps({"id": mid, "result": {"split": True}}).encode() + b"\n"
            for i in range(len(data)):
                out.write(data[i : i + 1])
                out.flush()
        elif method == "test/die":
            sys.stderr.write(str(params.get("stderr", "fake engine: dying on request")) + "\n")
            sys.stderr.flush()
            os._exit(int(params.get("code", 3)))
        elif method == "test/hang":
            pass
        elif method == "test/freeze":
            while True:
                time.sleep(60)
        elif method == "test/server-request":
            send({"id": next_server_id, "method": params.get("method", "item/tool/call"), "params": {}})
            next_server_id += 1
            answer = read_message()
            send({"id": mid, "result": {"answer": answer}})
        elif method == "test/notify":
            for _ in range(int(params.get("count", 1))):
                send({"method": params["method"], "params": params.get("params", {}), "emittedAtMs": 1})
            send({"id": mid, "result": {"ok": True}})
        elif method == "test/scatter":
            thread_id = params.get("threadId", "thr_1")
            template = {"threadId": thread_id, "turnId": "", "itemId": "msg_1", "delta": "x"}
            for start in range(0, int(params.get("count", 1000)), 1024):
                lines = []
                for index in range(start, min(start + 1024, int(params.get("count", 1000)))):
                    template["turnId"] = f"unknown-{index}"
                    lines.append(json.dumps({"method": "item/agentMessage/delta", "params": template}).encode())
                out.write(b"\n".join(lines) + b"\n")
            send({"id": mid, "result": {"ok": True}})
        elif method == "test/interleave":
            threads = params["threads"]
            lines = [
                json.dumps(
                    {
                        "method": "item/agentMessage/delta",
                        "params": {
                            "threadId": threads[index % len(threads)],
                            "turnId": "turn_1",
                            "itemId": "msg_1",
                            "delta": str(index),
                        },
                    }
                ).encode()
                + b"\n"
                for index in range(int(params["count"]))
            ]
            out.write(b"".join(lines) + json.dumps({"id": mid, "result": {"ok": True}}).encode() + b"\n")
            out.flush()
        elif method == "test/flood":
            count = int(params.get("count", 1000))
            thread_id = params.get("threadId", "thr_1")
            turn_id = params.get("turnId", "turn_1")
            send({"id": mid, "result": {"ok": True}})
            line = (
                json.dumps(
                    {
                        "method": "item/agentMessage/delta",
                        "params": {"threadId": thread_id, "turnId": turn_id, "itemId": "msg_1", "delta": "x"},
                    }
                ).encode()
                + b"\n"
            )
            batch = line * 256
            full, rest = divmod(count, 256)
            for _ in range(full):
                out.write(batch)
            out.write(line * rest)
            done = {
                "method": "turn/completed",
                "params": {"threadId": thread_id, "turn": {"id": turn_id, "items": [], "status": "completed"}},
            }
            out.write(json.dumps(done).encode() + b"\n")
            out.flush()
        else:
            send(
                {
                    "id": mid,
                    "error": {"code": -32600, "message": f"Invalid request: unknown variant `{method}`"},
                }
            )


if __name__ == "__main__":
    sys.exit(main())
