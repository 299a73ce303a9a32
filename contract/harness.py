"""The contract harness: run one scenario through one SDK, record a normalized transcript, and diff transcripts.

A *scenario* (``contract/scenarios.py``) is a plain function ``fn(sdk, rig)`` written once: ``sdk`` is the SDK's
module (``openai_codex`` or ``codex_actors``) and ``rig`` a :class:`Rig`, the offline world of one run (a
scripted model, an isolated ``CODEX_HOME``, a workspace and a :class:`~codex_actors.testing.WireTap` at the
engine's stdio). The scenario uses the SDK's public API and records what the API returned or raised with
:meth:`Rig.call` / :meth:`Rig.record`.

The *transcript* of a run (:func:`build_transcript`) is a list of records, each with a unique ``key``:

* ``meta``: the scenario, the SDK, the JSON type of the SDK's request ids;
* ``c2s:<method>#<n>`` and ``reply:<method>#<n>``: every line the SDK sent, in order, each request followed by
  the engine's answer to it (request ids replaced by ``<id>``);
* ``s2c:<method>#<n>`` (and ``answer:<method>#<n>``): the engine's notifications and server requests (each
  followed by the SDK's answer), grouped by thread (threads in order of first appearance, the thread-less ones
  first), in arrival order within a group; notifications whose count or content is not deterministic are left
  out (:data:`VOLATILE_METHODS`), those whose order races the rest are compared as a multiset: sorted at the end
  of their thread's group (:data:`MULTISET_METHODS`);
* ``sdk:<label>``: what each recorded call returned (``value``, plain JSON data) or raised (``error``: class
  name, message, JSON-RPC code, retryability);
* ``model``: what the engine asked the scripted model (model, user texts, tool outputs, output format).

Then everything that differs from run to run is normalized (:func:`normalize`): timestamps and durations,
process ids, uuids (numbered by first appearance), the run's temp root, ports, the user agent's platform part,
rollout file dates. :func:`compare` diffs two transcripts leaf by leaf; :func:`load_deviations` reads the
declared deviations ("## Contract deviations" in ``docs/python-parity-checklist.md``) that excuse differences.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import difflib
import enum
import importlib
import json
import re
import shutil
import sys
import tempfile
import threading
import time
import traceback
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any, TypeVar

import msgspec
import openai_codex
import psutil
import pydantic

import codex_actors
from codex_actors.testing import OfflineEngine, RecordedRequest, WireTap

T = TypeVar("T")

ROOT = Path(__file__).resolve().parents[1]
CONTRACT = ROOT / "contract"
FIXTURES = CONTRACT / "fixtures" / "python"
CHECKLIST = ROOT / "docs" / "python-parity-checklist.md"
ARTIFACTS = ROOT / ".ci" / "artifacts" / "contract"
FAKE_ENGINE = ROOT / "tests" / "support" / "fakes" / "fake_engine.py"
DEVIATIONS_HEADING = "## Contract deviations"

OFFICIAL = "openai_codex"
OURS = "codex_actors"
SDK_MODULES: dict[str, ModuleType] = {OFFICIAL: openai_codex, OURS: codex_actors}
MARKER_VAR = "CODEX_CONTRACT_RUN"

#: Engine notifications left out of transcripts (measured: ``docs/fixtures.md``). ``account/rateLimits/updated``
#: comes after model responses in a number and order that vary from run to run (steered and interrupted turns);
#: ``thread/status/changed`` flips (active, idle, notLoaded) race the next request and their number varies (an
#: extra ``idle`` around archive/unarchive in some runs); ``configWarning`` and ``remoteControl/status/changed``
#: describe the machine (whether bubblewrap is on PATH, the host name) and arrive around the handshake;
#: ``warning`` and ``mcpServer/startupStatus/updated`` are start-up and model-metadata notices whose presence
#: depends on the machine's setup and on timing.
VOLATILE_METHODS = frozenset(
    {
        "account/rateLimits/updated",
        "thread/status/changed",
        "remoteControl/status/changed",
        "configWarning",
        "warning",
        "mcpServer/startupStatus/updated",
    }
)

#: Engine notifications compared as a multiset per thread: kept, but sorted (by content) at the end of their
#: thread's group instead of in arrival order, which races the turn's other notifications.
MULTISET_METHODS = frozenset({"thread/readState/changed"})

#: Keys whose values are times or durations (``createdAt``, ``startedAtMs``, ``durationMs``, ``started_at``...).
_TIME_KEY = re.compile(r"(At|Ms|_at|_ms)$|^(timestamp)$")
#: Keys whose values are process ids.
_PID_KEYS = frozenset({"processId", "process_id", "pid"})
#: Keys whose values are random tokens that carry no meaning across runs (a read state's revision, a uuid4).
_TOKEN_KEYS = frozenset({"revision"})
_UUID = re.compile(r"(?<![0-9A-Za-z])[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}(?![0-9A-Za-z])")
_TEXT_RULES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"(127\.0\.0\.1|localhost):\d+"), r"\1:<port>"),
    (re.compile(r"(127\.0\.0\.1|localhost)%3A\d+"), r"\1%3A<port>"),
    # the user agent's "(Debian 12.0.0; x86_64) xterm (" part: platform and terminal of the machine
    (re.compile(r"\([^()\"]*; [^()\"]*\) [^ ()\"]+ \("), "(<platform>) <terminal> ("),
    (re.compile(r"sessions/\d{4}/\d{2}/\d{2}/"), "sessions/<date>/"),
    (re.compile(r"rollout-\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}-"), "rollout-<time>-"),
    (re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z"), "<iso-time>"),
    (re.compile(r"Chunk ID: [0-9a-f]+"), "Chunk ID: <chunk>"),
    (re.compile(r"Wall time: [0-9.]+ seconds"), "Wall time: <seconds> seconds"),
    (re.compile(r"\b(code_challenge|state)=[\w-]+"), r"\1=<nonce>"),
    # A turn's diff names files relative to the enclosing git repository when the workspace lies inside one
    # (a temp dir within a git work tree, on some machines), else relative to the thread's cwd: make every
    # such path relative to the workspace, so a fixture does not depend on where it was harvested.
    (re.compile(r"(?<= )([ab])/(?:[^\s\"\\]*/)?<root>/engine/workspace/"), r"\1/"),
)

# -- scenarios ----------------------------------------------------------------------------------------------------

ScenarioFn = Callable[[ModuleType, "Rig"], None]


@dataclass(frozen=True)
class Scenario:
    """One contract scenario: a function run once per SDK."""

    name: str
    fn: ScenarioFn
    doc: str


SCENARIOS: dict[str, Scenario] = {}


def scenario(fn: ScenarioFn) -> ScenarioFn:
    """Register ``fn`` as a scenario named after the function (names must be unique)."""
    name = fn.__name__
    if name in SCENARIOS:
        raise ValueError(f"duplicate scenario name: {name}")
    doc = (fn.__doc__ or "").strip()
    if not doc:
        raise ValueError(f"scenario {name} needs a docstring saying what it does")
    SCENARIOS[name] = Scenario(name, fn, doc)
    return fn


def all_scenarios() -> dict[str, Scenario]:
    """Every registered scenario, by name (importing ``contract.scenarios`` registers them)."""
    importlib.import_module("contract.scenarios")
    return SCENARIOS


# -- the rig ------------------------------------------------------------------------------------------------------


class Rig:
    """The offline world of one scenario run, for one SDK.

    * :attr:`model`: the scripted model (``rig.model.enqueue(...)``); :attr:`workspace`: the engine's cwd.
    * :meth:`config`: the SDK's ``CodexConfig`` for the real engine, through the wire tap.
    * :meth:`fake_config`: a ``CodexConfig`` launching ``tests/support/fakes/fake_engine.py`` through another
      tap, for what the real engine cannot show.
    * :meth:`call`, :meth:`acall`, :meth:`record`: what the SDK returned or raised goes into the transcript.
    * :meth:`raw`, :meth:`bind_thread`: the two things below the public API that scenarios need (a request the
      public API cannot make, a ``Thread`` for an id).
    """

    def __init__(self, sdk_name: str, scenario_name: str = "") -> None:
        self.sdk_name = sdk_name
        self.sdk = SDK_MODULES[sdk_name]
        self.scenario_name = scenario_name
        self.marker = uuid.uuid4().hex
        self.root = Path(tempfile.mkdtemp(prefix="codex-contract-")).resolve()
        self.offline = OfflineEngine(root=self.root / "engine")
        self.taps: list[WireTap] = []
        self.results: list[dict[str, Any]] = []
        self._labels: Counter[str] = Counter()

    # -- lifecycle

    def __enter__(self) -> Rig:
        try:
            self.offline.__enter__()
            self.tap = self._new_tap(None)
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the model and remove the run's temp root. Idempotent."""
        self.offline.close()
        shutil.rmtree(self.root, ignore_errors=True)

    # -- what scenarios use

    @property
    def model(self) -> Any:
        """The scripted model (a :class:`~codex_actors.testing.ScriptedModel`)."""
        return self.offline.model

    @property
    def workspace(self) -> Path:
        """The engine's working directory (empty at the start)."""
        return self.offline.workspace

    def config(self, **fields: Any) -> Any:
        """The SDK's ``CodexConfig`` for the real engine (offline home, workspace as cwd) through the tap."""
        base = self.offline.config
        env = {**(base.env or {}), MARKER_VAR: self.marker, **fields.pop("env", {})}
        fields.setdefault("cwd", base.cwd)
        fields.setdefault("codex_bin", self.tap.codex_bin)
        return self.sdk.CodexConfig(env=env, **fields)

    def fake_config(self, *, env: dict[str, str] | None = None) -> Any:
        """A ``CodexConfig`` launching ``tests/support/fakes/fake_engine.py`` (with ``env``) through a fresh tap.

        For what the real engine cannot show: EOF, malformed lines, server requests, bad ``initialize`` answers,
        scripted JSON-RPC errors (``FAKE_ENGINE_ERRORS``). Its docstring lists what it does.
        """
        tap = self._new_tap((sys.executable, str(FAKE_ENGINE)))
        return self.sdk.CodexConfig(
            launch_args_override=tap.launch_args(), env={MARKER_VAR: self.marker, **(env or {})}
        )

    def _new_tap(self, command: tuple[str, ...] | None) -> WireTap:
        name = f"engine{len(self.taps) + 1}"
        tap = WireTap(self.root / "taps", command=command, name=name)
        self.taps.append(tap)
        return tap

    def record(self, label: str, value: T) -> T:
        """Put what the SDK returned into the transcript as ``sdk:<label>``; return it."""
        self.results.append({"key": self._key(label), "value": snapshot(value)})
        return value

    def record_error(self, label: str, exc: BaseException) -> None:
        """Put what the SDK raised into the transcript as ``sdk:<label>``."""
        self.results.append({"key": self._key(label), "error": error_data(exc, self.sdk)})

    def call(self, label: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Call ``fn``; record its result (or the exception it raised, then return ``None``).

        The result is typed ``Any``: scenarios are written once for two SDKs whose types differ.
        """
        try:
            value = fn(*args, **kwargs)
        except Exception as exc:
            self.record_error(label, exc)
            return None
        return self.record(label, value)

    async def acall(self, label: str, awaitable: Awaitable[Any]) -> Any:
        """As :meth:`call`, for an awaitable."""
        try:
            value = await awaitable
        except Exception as exc:
            self.record_error(label, exc)
            return None
        return self.record(label, value)

    def raw(self, codex: Any, method: str, params: Any = None) -> Any:
        """A request the public API cannot make, through the SDK's low-level client; the decoded result."""
        if self.sdk is openai_codex:
            return codex._client.request(method, params, response_model=_AnyResult).model_dump()
        return msgspec.json.decode(codex._client.request(method, params))

    def bind_thread(self, codex: Any, thread_id: str) -> Any:
        """A sync ``Thread`` for an existing id, built without a request (both SDKs allow it)."""
        return self.sdk.Thread(codex._client, thread_id)

    def wait_for(self, method: str, *, count: int = 1, timeout: float = 15.0) -> None:
        """Block until the engine sent ``count`` notifications of ``method`` (seen by the main tap)."""
        self.tap.wait_for(method, count=count, timeout=timeout)

    def engines(self) -> list[psutil.Process]:
        """Live processes started for this run (the taps' wrappers and the engines), found by a marker."""
        found = []
        for proc in psutil.process_iter():
            try:
                if proc.status() == psutil.STATUS_ZOMBIE:
                    continue
                if proc.environ().get(MARKER_VAR) == self.marker:
                    found.append(proc)
            except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
                continue
        return found

    def kill_engine(self) -> None:
        """SIGKILL the running real engine (not its wrapper: the wrapper then dies of the same signal)."""
        engines = []
        for proc in self.engines():
            with contextlib.suppress(psutil.Error):
                if "app-server" in proc.cmdline() and "python" not in Path(proc.cmdline()[0]).name:
                    engines.append(proc)
        if len(engines) != 1:
            raise RuntimeError(f"expected one running engine, found {len(engines)}")
        engines[0].kill()
        engines[0].wait(5)

    def _key(self, label: str) -> str:
        self._labels[label] += 1
        count = self._labels[label]
        return f"sdk:{label}" if count == 1 else f"sdk:{label}#{count}"


class _AnyResult(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="allow")


# -- SDK values as plain data -------------------------------------------------------------------------------------

#: Attributes shown for handle-like objects that are neither models nor dataclasses.
_HANDLE_FIELDS = ("thread_id", "id", "login_id", "auth_url", "verification_url", "user_code")


def to_data(value: Any) -> Any:
    """Any SDK value as plain JSON data, the same way for both SDKs.

    Pydantic models: ``model_dump(mode="json", by_alias=True, exclude_none=True)``; msgspec Structs: every field
    by its wire name (what ``msgspec.to_builtins`` gives, defaults included); dataclasses: their public fields;
    notifications: ``method``, the payload's class name and the payload; enums: their value. ``None`` values in
    mappings are left out on both sides (the official dump excludes them; the Structs keep them).
    """
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, enum.Enum):
        return to_data(value.value)
    if hasattr(value, "method") and hasattr(value, "payload") and not isinstance(value, type):
        payload = value.payload
        return {"method": value.method, "payload_type": type(payload).__name__, "payload": to_data(payload)}
    if isinstance(value, pydantic.BaseModel):
        return _strip_none(value.model_dump(mode="json", by_alias=True, exclude_none=True))
    if isinstance(value, msgspec.Struct):
        return _strip_none(_struct_data(value))
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        data = {f.name: to_data(getattr(value, f.name)) for f in dataclasses.fields(value) if f.name[0] != "_"}
        return _strip_none(data)
    if isinstance(value, dict):
        return _strip_none({str(key): to_data(item) for key, item in value.items()})
    if isinstance(value, list | tuple):
        return [to_data(item) for item in value]
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    shown = {name: to_data(getattr(value, name)) for name in _HANDLE_FIELDS if hasattr(value, name)}
    return shown or f"<{type(value).__name__}>"


def _struct_data(value: msgspec.Struct) -> dict[str, Any]:
    """A Struct's fields by wire name, defaults included (``msgspec.to_builtins`` would drop the defaults of a
    Struct with ``omit_defaults``: data the object holds, which pydantic's dump shows), its tag first."""
    config = value.__struct_config__
    data: dict[str, Any] = {}
    if isinstance(config.tag_field, str) and config.tag is not None:
        data[config.tag_field] = config.tag
    for info in msgspec.structs.fields(value):
        data[info.encode_name] = to_data(getattr(value, info.name))
    return data


def _strip_none(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _strip_none(item) for key, item in value.items() if item is not None}
    if isinstance(value, list):
        return [_strip_none(item) for item in value]
    return value


def snapshot(value: Any) -> dict[str, Any]:
    """A returned value: its class name and its data."""
    return {"type": type(value).__name__, "data": to_data(value)}


_ANSI = re.compile(r"\x1b\[[0-9;]*m")
#: Lines of an engine's stderr that depend on the machine: the real engine's log lines (timestamped) and its
#: warning about a CODEX_HOME under the temp dir.
_ENGINE_STDERR = re.compile(r"^(\d{4}-\d{2}-\d{2}T\S+\s+(TRACE|DEBUG|INFO|WARN|ERROR)\b|WARNING: proceeding)")


def _clean_stderr(message: str) -> str:
    """``stderr_tail=...`` in a message without colours and machine-dependent engine log lines."""
    head, sep, tail = message.partition("stderr_tail=")
    if not sep:
        return message
    lines = [line for line in _ANSI.sub("", tail).splitlines() if not _ENGINE_STDERR.match(line)]
    return head + sep + "\n".join(lines)


def error_data(exc: BaseException, sdk: ModuleType) -> dict[str, Any]:
    """A raised exception: class name, message (machine-dependent stderr lines cut), JSON-RPC code and data,
    retryability (the SDK's own ``is_retryable_error``)."""
    message = _clean_stderr(str(exc))
    data: dict[str, Any] = {"type": type(exc).__name__, "message": message}
    code = getattr(exc, "code", None)
    if isinstance(code, int):
        data["code"] = code
        data["data"] = to_data(getattr(exc, "data", None))
    data["retryable"] = bool(sdk.is_retryable_error(exc))
    stripped: dict[str, Any] = _strip_none(data)
    return stripped


# -- the transcript -----------------------------------------------------------------------------------------------


def _json_type(value: Any) -> str:
    return {str: "string", int: "integer"}.get(type(value), type(value).__name__)


def _id_key(value: Any) -> str:
    return json.dumps(value)


def _thread_of(line: dict[str, Any]) -> str | None:
    params = line.get("params")
    if not isinstance(params, dict):
        return None
    if isinstance(params.get("threadId"), str):
        return str(params["threadId"])
    thread = params.get("thread")
    if isinstance(thread, dict) and isinstance(thread.get("id"), str):
        return str(thread["id"])
    return None


def _masked_id(line: dict[str, Any]) -> dict[str, Any]:
    out = {key: value for key, value in line.items() if key != "emittedAtMs"}
    if "id" in out:
        out["id"] = "<id>"
    return out


def _sessions(lines: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """The wire split at each ``initialize`` the SDK sent: one list per engine process (ids restart)."""
    sessions: list[list[dict[str, Any]]] = [[]]
    for record in lines:
        line = record.get("line")
        starts = record["dir"] == "c2s" and isinstance(line, dict) and line.get("method") == "initialize"
        if starts and sessions[-1]:
            sessions.append([])
        sessions[-1].append(record)
    return [session for session in sessions if session]


def wire_records(lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The wire of a run as transcript records (see the module docstring); keys not yet numbered."""
    out: list[dict[str, Any]] = []
    for session in _sessions(lines):
        c2s = [r for r in session if r["dir"] == "c2s"]
        s2c = [r for r in session if r["dir"] == "s2c"]
        c2s_request_ids = {
            _id_key(r["line"]["id"])
            for r in c2s
            if isinstance(r["line"], dict) and "method" in r["line"] and "id" in r["line"]
        }
        replies: dict[str, dict[str, Any]] = {}
        for r in s2c:
            line = r["line"]
            if isinstance(line, dict) and "method" not in line and "id" in line:
                replies.setdefault(_id_key(line["id"]), line)
        answers: dict[str, dict[str, Any]] = {}
        for r in c2s:
            line = r["line"]
            if isinstance(line, dict) and "method" not in line and "id" in line:
                answers.setdefault(_id_key(line["id"]), line)
        server_request_ids: set[str] = set()
        for r in s2c:
            line = r["line"]
            if isinstance(line, dict) and "method" in line and "id" in line:
                server_request_ids.add(_id_key(line["id"]))

        for r in c2s:
            line = r["line"]
            if not isinstance(line, dict):
                out.append({"key": "c2s:<not json>", "message": r.get("raw", line)})
            elif "method" in line:
                method = str(line["method"])
                out.append({"key": f"c2s:{method}", "message": _masked_id(line)})
                if "id" in line:
                    answer = replies.get(_id_key(line["id"]))
                    out.append(
                        {"key": f"reply:{method}", "message": None if answer is None else _masked_id(answer)}
                    )
            elif _id_key(line.get("id")) not in server_request_ids:
                out.append({"key": "c2s:<answer to nothing>", "message": line})

        groups: dict[str | None, list[dict[str, Any]]] = {None: []}
        unordered: dict[str | None, list[dict[str, Any]]] = {}
        for r in s2c:
            line = r["line"]
            if not isinstance(line, dict):
                groups[None].append({"key": "s2c:<not json>", "message": r.get("raw", line)})
                continue
            if "method" not in line:
                if _id_key(line.get("id")) not in c2s_request_ids:
                    groups[None].append({"key": "s2c:<reply to nothing>", "message": line})
                continue
            method = str(line["method"])
            if "id" not in line and method in VOLATILE_METHODS:
                continue
            group = groups.setdefault(_thread_of(line), [])
            if "id" not in line and method in MULTISET_METHODS:
                unordered.setdefault(_thread_of(line), []).append(
                    {"key": f"s2c:{method}", "message": _masked_id(line)}
                )
                continue
            group.append({"key": f"s2c:{method}", "message": _masked_id(line)})
            if "id" in line:
                answer = answers.get(_id_key(line["id"]))
                group.append(
                    {"key": f"answer:{method}", "message": None if answer is None else _masked_id(answer)}
                )
        for thread, group in groups.items():
            out.extend(group)
            out.extend(sorted(unordered.get(thread, []), key=_multiset_order))
    return out


def _multiset_order(record: dict[str, Any]) -> tuple[str, str]:
    """A sort key that does not depend on the run: the method, then the content with uuids blanked."""
    return record["key"], _UUID.sub("<uuid>", json.dumps(record["message"], sort_keys=True))


def model_records(requests: Iterable[RecordedRequest]) -> list[dict[str, Any]]:
    """What the engine asked the scripted model: one record per model request."""
    out = []
    for request in requests:
        body = request.body if isinstance(request.body, dict) else {}
        user = [text for text in request.message_texts("user") if not text.lstrip().startswith("<")]
        outputs = [
            {key: item.get(key) for key in ("type", "call_id", "name", "namespace", "output") if key in item}
            for item in request.tool_outputs()
        ]
        entry: dict[str, Any] = {"model": body.get("model"), "user": user}
        if outputs:
            entry["tool_outputs"] = outputs
        text = body.get("text")
        if isinstance(text, dict) and "format" in text:
            entry["format"] = text["format"]
        out.append({"key": "model:request", "message": entry})
    return out


def build_transcript(
    rig: Rig, *, scenario_name: str, uncaught: BaseException | None = None
) -> list[dict[str, Any]]:
    """The normalized transcript of a finished run."""
    lines: list[dict[str, Any]] = [dict(record) for tap in rig.taps for record in tap.lines()]
    c2s_ids = [
        r["line"]["id"]
        for r in lines
        if r["dir"] == "c2s" and isinstance(r["line"], dict) and "method" in r["line"] and "id" in r["line"]
    ]
    module = rig.sdk
    meta = {
        "key": "meta",
        "scenario": scenario_name,
        "sdk": f"{rig.sdk_name} {module.__version__}",
        "request_id_type": sorted({_json_type(value) for value in c2s_ids}),
    }
    records: list[dict[str, Any]] = [meta, *wire_records(lines), *rig.results]
    if uncaught is not None:
        records.append({"key": "sdk:<uncaught>", "error": error_data(uncaught, module)})
    records.extend(model_records(rig.model.model_requests))
    model = rig.model
    records.append(
        {"key": "model:script", "message": {"unused": model.pending, "unexpected": len(model.unexpected_requests)}}
    )
    return normalize(records, roots=[rig.root])


def _number_keys(records: list[dict[str, Any]]) -> None:
    seen: Counter[str] = Counter()
    for record in records:
        base = record["key"]
        if base == "meta" or base.startswith("sdk:") or re.search(r"#\d+$", base):
            continue  # not a wire record, or numbered already
        seen[base] += 1
        record["key"] = f"{base}#{seen[base]}"


def _is_estimate(usage: dict[str, Any]) -> bool:
    """A token breakdown the engine estimated (after a compaction) rather than one the model reported: no tokens
    in or out, a total counted from the history's text, which holds the machine's paths (so its length varies)."""
    return usage.get("inputTokens") == 0 and usage.get("outputTokens") == 0 and bool(usage.get("totalTokens"))


def _mask_values(value: Any) -> Any:
    if isinstance(value, dict):
        if _is_estimate(value):
            value = {**value, "totalTokens": "<estimate>"}
        out = {}
        for key, item in value.items():
            if item is not None and isinstance(item, int | float | str) and not isinstance(item, bool):
                if _TIME_KEY.search(key):
                    out[key] = "<time>"
                    continue
                if key in _PID_KEYS:
                    out[key] = "<pid>"
                    continue
                if key in _TOKEN_KEYS:
                    out[key] = "<token>"
                    continue
            out[key] = _mask_values(item)
        return out
    if isinstance(value, list):
        return [_mask_values(item) for item in value]
    return value


def normalize(records: list[dict[str, Any]], *, roots: Iterable[Path] = ()) -> list[dict[str, Any]]:
    """Make a transcript the same from run to run (see the module docstring); a new list."""
    records = [dict(record) for record in records]
    _number_keys(records)
    masked = [_mask_values(record) for record in records]
    # Keys sorted first: the engine serializes some maps (readStates, keyed by thread id) in hash order; the
    # ids are UUIDv7 (time-ordered), so sorted by id is creation order, the same in every run.
    text = json.dumps(masked, ensure_ascii=False, sort_keys=True)
    for root in roots:
        for form in sorted({str(root), str(Path(root).resolve())}, key=len, reverse=True):
            text = text.replace(form, "<root>")
        text = text.replace(Path(root).name, "<root>")  # relative forms (a patch's "a/codex-contract-x/...")
    for pattern, replacement in _TEXT_RULES:
        text = pattern.sub(replacement, text)
    names: dict[str, str] = {}
    text = _UUID.sub(lambda m: names.setdefault(m.group(0), f"<uuid:{len(names) + 1}>"), text)
    result: list[dict[str, Any]] = json.loads(text)
    return result


# -- running a scenario -------------------------------------------------------------------------------------------


@dataclass
class Run:
    """One scenario run through one SDK."""

    scenario: str
    sdk: str
    transcript: list[dict[str, Any]]
    seconds: float
    problems: list[str] = field(default_factory=list)
    traceback: str | None = None


#: Threads of the official SDK that outlive a client by design (its module-level turn-start executor).
_EXPECTED_THREADS = ("codex-turn-start",)


def _threads() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if not t.name.startswith(_EXPECTED_THREADS)}


def run_scenario(name: str, sdk_name: str) -> Run:
    """Run scenario ``name`` through ``sdk_name``; its transcript and anything it left behind."""
    found = all_scenarios()[name]
    threads_before = _threads()
    started = time.monotonic()
    uncaught: BaseException | None = None
    shown: str | None = None
    problems: list[str] = []
    with Rig(sdk_name, name) as rig:
        try:
            found.fn(rig.sdk, rig)
        except Exception as exc:
            uncaught, shown = exc, traceback.format_exc()
        problems += _wait_for_exit(rig)
        transcript = build_transcript(rig, scenario_name=name, uncaught=uncaught)
        root = rig.root
    seconds = time.monotonic() - started
    if root.exists():
        problems.append(f"the run's temp dir outlived it: {root}")
    problems += _wait_for_threads(threads_before)
    return Run(name, sdk_name, transcript, seconds, problems, shown)


def _wait_for_exit(rig: Rig, timeout: float = 10.0) -> list[str]:
    deadline = time.monotonic() + timeout
    while left := rig.engines():
        if time.monotonic() > deadline:
            shown = [" ".join(p.cmdline()[:3]) for p in left if p.is_running()]
            for proc in left:
                with contextlib.suppress(psutil.Error):
                    proc.kill()
            return [f"engine processes outlived the scenario (killed): {shown}"]
        time.sleep(0.02)
    return []


def _wait_for_threads(before: set[threading.Thread], timeout: float = 5.0) -> list[str]:
    deadline = time.monotonic() + timeout
    while extra := _threads() - before:
        if time.monotonic() > deadline:
            return [f"threads outlived the scenario: {sorted(t.name for t in extra)}"]
        time.sleep(0.02)
    return []


def run_async(coro_fn: Callable[[], Awaitable[T]]) -> T:
    """Run an async part of a scenario on a fresh event loop."""
    return asyncio.run(coro_fn())  # type: ignore[arg-type]


# -- fixtures -----------------------------------------------------------------------------------------------------


def fixture_path(name: str) -> Path:
    """``contract/fixtures/python/<scenario>.jsonl``."""
    return FIXTURES / f"{name}.jsonl"


def dump_transcript(records: list[dict[str, Any]]) -> str:
    """JSONL: one record per line, keys sorted."""
    return "".join(json.dumps(record, sort_keys=True, ensure_ascii=False) + "\n" for record in records)


def load_fixture(name: str) -> list[dict[str, Any]]:
    """The checked-in transcript of the official SDK for scenario ``name``."""
    text = fixture_path(name).read_text(encoding="utf-8")
    return [json.loads(line) for line in text.splitlines() if line.strip()]


# -- deviations ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Deviation:
    """A declared, deliberate difference: scenario glob, transcript path glob, the reason."""

    scenario: str
    path: str
    reason: str

    def applies_to(self, scenario_name: str) -> bool:
        """Whether the row's scenario glob matches ``scenario_name``."""
        return _glob(self.scenario).fullmatch(scenario_name) is not None

    def matches(self, scenario_name: str, path: str) -> bool:
        """Whether the row excuses a difference at ``path`` in ``scenario_name``."""
        return self.applies_to(scenario_name) and _glob(self.path).fullmatch(path) is not None


def _glob(pattern: str) -> re.Pattern[str]:
    """``*`` matches anything (``/``, ``.`` and ``[`` included); every other character is literal."""
    return re.compile(".*".join(re.escape(part) for part in pattern.split("*")), re.DOTALL)


def load_deviations(text: str | None = None) -> list[Deviation]:
    """The rows of the "## Contract deviations" table of the parity checklist (or of ``text``).

    Columns: scenario (a name or a ``*`` glob), path (a transcript path glob), reason. Backticks are dropped.
    A row without a reason, or with the wrong number of cells, raises ``ValueError``.
    """
    if text is None:
        text = CHECKLIST.read_text(encoding="utf-8")
    lines = text.splitlines()
    try:
        start = next(i for i, line in enumerate(lines) if line.strip() == DEVIATIONS_HEADING)
    except StopIteration:
        return []
    rows: list[Deviation] = []
    header_seen = False
    for line in lines[start + 1 :]:
        if line.startswith("## "):
            break
        stripped = line.strip()
        if not stripped.startswith("|"):
            continue
        cells = [cell.strip().replace("`", "") for cell in stripped.strip("|").split("|")]
        if not header_seen:
            header_seen = True
            if [c.lower() for c in cells] != ["scenario", "path", "reason"]:
                raise ValueError(f"the deviations table needs the columns scenario | path | reason, got {cells}")
            continue
        if all(set(cell) <= set("-: ") for cell in cells):
            continue
        if len(cells) != 3:
            raise ValueError(f"a deviation row needs 3 cells (scenario | path | reason): {line!r}")
        scenario_name, path, reason = cells
        if not scenario_name or not path or not reason:
            raise ValueError(f"a deviation row needs a scenario, a path and a reason: {line!r}")
        rows.append(Deviation(scenario_name, path, reason))
    return rows


# -- comparing ----------------------------------------------------------------------------------------------------

_MISSING = object()


@dataclass(frozen=True)
class Difference:
    """One difference between an expected transcript (the official SDK's) and an actual one."""

    path: str
    kind: str  # "missing", "extra", "changed", "order"
    expected: Any = None
    actual: Any = None

    def describe(self, expected_name: str = OFFICIAL, actual_name: str = OURS) -> str:
        if self.kind == "missing":
            return f"missing  {self.path}  ({expected_name}: {_short(self.expected)}; absent in {actual_name})"
        if self.kind == "extra":
            return f"extra    {self.path}  ({actual_name}: {_short(self.actual)}; absent in {expected_name})"
        if self.kind == "order":
            return (
                f"order    {self.path}  (records in another order: {expected_name} has {self.expected} here, "
                f"{actual_name} {self.actual})"
            )
        shown = f"{expected_name}: {_short(self.expected)} -> {actual_name}: {_short(self.actual)}"
        return f"changed  {self.path}  ({shown})"


def _short(value: Any, limit: int = 160) -> str:
    text = json.dumps(value, ensure_ascii=False, sort_keys=True)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def flatten(value: Any, prefix: str) -> dict[str, Any]:
    """Leaves of ``value`` by path: ``a.b``, ``a[0]``; empty containers are leaves."""
    if isinstance(value, dict) and value:
        out: dict[str, Any] = {}
        for key, item in value.items():
            out.update(flatten(item, f"{prefix}.{key}"))
        return out
    if isinstance(value, list) and value:
        out = {}
        for index, item in enumerate(value):
            out.update(flatten(item, f"{prefix}[{index}]"))
        return out
    return {prefix: value}


def _content(record: dict[str, Any]) -> Any:
    rest = {key: value for key, value in record.items() if key != "key"}
    if set(rest) == {"message"}:
        return rest["message"]
    return rest


#: Transcript paths never compared: the SDK's own name and version.
IGNORED_PATHS = frozenset({"meta.sdk"})


def compare(expected: list[dict[str, Any]], actual: list[dict[str, Any]]) -> list[Difference]:
    """Every difference between two transcripts, leaf by leaf, plus a record-order difference if any."""
    exp = {record["key"]: _content(record) for record in expected}
    act = {record["key"]: _content(record) for record in actual}
    diffs: list[Difference] = []
    for key in exp:
        if key not in act:
            diffs.append(Difference(key, "missing", expected=exp[key]))
    for key in act:
        if key not in exp:
            diffs.append(Difference(key, "extra", actual=act[key]))
    common_exp = [key for key in exp if key in act]
    common_act = [key for key in act if key in exp]
    if common_exp != common_act:
        first = next(i for i, (a, b) in enumerate(zip(common_exp, common_act, strict=True)) if a != b)
        diffs.append(
            Difference(f"order:{common_exp[first]}", "order", expected=common_exp[first], actual=common_act[first])
        )
    for key in common_exp:
        left, right = flatten(exp[key], key), flatten(act[key], key)
        for path, value in left.items():
            if path in IGNORED_PATHS:
                continue
            if path not in right:
                diffs.append(Difference(path, "missing", expected=value))
            elif right[path] != value or type(right[path]) is not type(value):
                diffs.append(Difference(path, "changed", expected=value, actual=right[path]))
        for path, value in right.items():
            if path not in left and path not in IGNORED_PATHS:
                diffs.append(Difference(path, "extra", actual=value))
    return diffs


@dataclass
class Verdict:
    """The outcome of comparing one run with its fixture."""

    scenario: str
    undeclared: list[Difference]
    declared: list[tuple[Difference, Deviation]]
    report: str

    @property
    def ok(self) -> bool:
        return not self.undeclared


def judge(
    name: str,
    expected: list[dict[str, Any]],
    actual: list[dict[str, Any]],
    deviations: Iterable[Deviation] = (),
    *,
    expected_name: str = f"{OFFICIAL} (fixture)",
    actual_name: str = OURS,
) -> Verdict:
    """Compare ``actual`` with ``expected``; differences not excused by a deviation row make it fail."""
    rows = [row for row in deviations if row.applies_to(name)]
    undeclared: list[Difference] = []
    declared: list[tuple[Difference, Deviation]] = []
    for diff in compare(expected, actual):
        row = next((row for row in rows if row.matches(name, diff.path)), None)
        if row is None:
            undeclared.append(diff)
        else:
            declared.append((diff, row))
    report = render_report(name, undeclared, declared, expected, actual, expected_name, actual_name)
    return Verdict(name, undeclared, declared, report)


def render_report(
    name: str,
    undeclared: list[Difference],
    declared: list[tuple[Difference, Deviation]],
    expected: list[dict[str, Any]],
    actual: list[dict[str, Any]],
    expected_name: str,
    actual_name: str,
    *,
    max_diff_lines: int = 400,
) -> str:
    """A readable account: the undeclared differences, the declared ones, then a unified diff of the records."""
    out = [f"contract scenario {name!r}: {actual_name} vs {expected_name}"]
    if undeclared:
        out.append(
            f"{len(undeclared)} difference(s) not declared in {CHECKLIST.relative_to(ROOT)} "
            f'"{DEVIATIONS_HEADING[3:]}":'
        )
        out += ["  " + diff.describe(expected_name, actual_name) for diff in undeclared]
    else:
        out.append("no undeclared differences")
    if declared:
        out.append(f"{len(declared)} declared deviation(s):")
        out += [f"  {diff.describe(expected_name, actual_name)}  [{row.reason}]" for diff, row in declared]
    left = _pretty(expected).splitlines()
    right = _pretty(actual).splitlines()
    diff_lines = list(difflib.unified_diff(left, right, expected_name, actual_name, lineterm="", n=3))
    if diff_lines:
        out.append("unified diff of the normalized transcripts:")
        if len(diff_lines) > max_diff_lines:
            diff_lines = [*diff_lines[:max_diff_lines], f"... ({len(diff_lines) - max_diff_lines} more lines)"]
        out += diff_lines
    return "\n".join(out) + "\n"


def _pretty(records: list[dict[str, Any]]) -> str:
    return "\n".join(json.dumps(record, sort_keys=True, indent=1, ensure_ascii=False) for record in records)


class ContractFailure(AssertionError):
    """A contract comparison failed; the message is the readable report (also written under .ci/artifacts/)."""

    def __init__(self, message: str, verdict: Verdict | None = None) -> None:
        super().__init__(message)
        self.verdict = verdict


_HINTS = {
    OFFICIAL: (
        "Harvesting again would change this fixture: the engine, the official SDK or the scenario changed. "
        "Review the difference, then run: .venv/bin/python bin/harvest-fixtures {name}"
    ),
    OURS: (
        "codex_actors differs from the official SDK. Fix codex_actors; or, if the difference is deliberate, "
        'declare it (scenario | path | reason) under "## Contract deviations" in docs/python-parity-checklist.md.'
    ),
}


def check_against_fixture(name: str, sdk_name: str, deviations: Iterable[Deviation] = ()) -> Verdict:
    """Run ``name`` through ``sdk_name`` and compare it with the fixture; raise :class:`ContractFailure` if not ok.

    The official SDK must match its fixture exactly (``deviations`` are for codex_actors). On failure the
    report is written to ``.ci/artifacts/contract/<sdk>-<scenario>.diff`` and is the exception's message.
    """
    if not fixture_path(name).exists():
        raise ContractFailure(f"no fixture for {name}: run .venv/bin/python bin/harvest-fixtures {name}")
    run = run_scenario(name, sdk_name)
    if sdk_name == OFFICIAL:
        verdict = judge(
            name, load_fixture(name), run.transcript, expected_name="fixture", actual_name=f"{OFFICIAL} now"
        )
    else:
        verdict = judge(name, load_fixture(name), run.transcript, deviations)
    problems = [f"left behind: {problem}" for problem in run.problems]
    if verdict.ok and not problems:
        return verdict
    text = "\n".join([verdict.report.rstrip("\n"), *problems, _HINTS[sdk_name].format(name=name)])
    if run.traceback:
        text += f"\nThe scenario raised (recorded as sdk:<uncaught>):\n{run.traceback}"
    path = write_artifact(f"{sdk_name}-{name}", text + "\n")
    raise ContractFailure(f"{text}\n(this report is also in {path.relative_to(ROOT)})", verdict)


def write_artifact(name: str, text: str) -> Path:
    """Write ``text`` under ``.ci/artifacts/contract/`` (created; git-ignored); return the path."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.diff"
    path.write_text(text, encoding="utf-8")
    return path
