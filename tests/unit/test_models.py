"""models: initialize_response against the official validator, and the Notification wrappers."""

from __future__ import annotations

import pickle
from typing import Any

import msgspec
import pytest
from openai_codex._initialize_metadata import _split_user_agent as _official_split_user_agent
from openai_codex._initialize_metadata import validate_initialize_metadata
from openai_codex.models import InitializeResponse as OfficialInitializeResponse

from codex_actors._protocol.generated import ContextCompactedNotification
from codex_actors._protocol.jsonrpc import decode_message
from codex_actors.models import (
    InitializeResponse,
    Notification,
    ServerInfo,
    UnknownNotification,
    _split_user_agent,
    initialize_response,
)

# -- initialize_response ------------------------------------------------------------------------------------------

# Inputs the official model accepts (well-typed), so both validators see the same thing.
WELL_TYPED: list[dict[str, Any]] = [
    {"userAgent": "codex_cli_rs/0.163.0 (Linux 6.1; x86_64) xterm"},
    {"userAgent": "codex/1.0"},
    {"userAgent": "  codex/1.0  "},
    {"userAgent": "a/b/c"},
    {"userAgent": "c / 1"},
    {"userAgent": "codex 1.0"},
    {"userAgent": "codex\t1.0 beta"},
    {"userAgent": "a b c"},
    {"userAgent": "codex version 2/3"},
    {"userAgent": "codex"},
    {"userAgent": "codex/"},
    {"userAgent": "/1.0"},
    {"userAgent": "/"},
    {"userAgent": ""},
    {"userAgent": "   "},
    {"userAgent": None},
    {},
    {"serverInfo": {"name": "n", "version": "v"}},
    {"serverInfo": {"name": "n", "version": "v"}, "userAgent": "codex/1.0"},
    {"serverInfo": {"name": " n ", "version": " v "}, "userAgent": "x/y"},
    {"serverInfo": {"name": "n"}, "userAgent": "x/y"},
    {"serverInfo": {"version": "9"}, "userAgent": "x/y"},
    {"serverInfo": {"name": "  ", "version": "9"}, "userAgent": "x/y"},
    {"serverInfo": {"name": "n", "version": ""}, "userAgent": "x"},
    {"serverInfo": {"name": None, "version": None}, "userAgent": "x/y"},
    {"serverInfo": {}, "userAgent": "c/1"},
    {"serverInfo": None, "userAgent": "c/1"},
    {"serverInfo": {"name": "n", "version": "v"}, "userAgent": "   "},
    {"userAgent": "codex/1.0", "platformFamily": "unix", "platformOs": "linux"},
    {"userAgent": "codex/1.0", "platformFamily": None, "platformOs": "macos"},
]


def _official(result: dict[str, Any]) -> OfficialInitializeResponse:
    return validate_initialize_metadata(OfficialInitializeResponse.model_validate(result))


@pytest.mark.parametrize("result", WELL_TYPED, ids=[repr(r) for r in WELL_TYPED])
def test_initialize_response_agrees_with_the_official_validator(result: dict[str, Any]) -> None:
    try:
        theirs = _official(dict(result))
    except RuntimeError as exc:
        with pytest.raises(RuntimeError) as ours_error:
            initialize_response(dict(result))
        assert str(ours_error.value) == str(exc)
        return
    ours = initialize_response(dict(result))
    assert ours.serverInfo is not None and theirs.serverInfo is not None
    assert (ours.serverInfo.name, ours.serverInfo.version) == (theirs.serverInfo.name, theirs.serverInfo.version)
    assert (ours.platformFamily, ours.platformOs) == (theirs.platformFamily, theirs.platformOs)
    assert ours.userAgent is not None and theirs.userAgent is not None
    assert ours.userAgent == theirs.userAgent


@pytest.mark.parametrize(
    ("user_agent", "name", "version"),
    [
        ("codex_cli_rs/0.163.0 (Linux; x86_64) xterm", "codex_cli_rs", "0.163.0 (Linux; x86_64) xterm"),
        ("codex/1.0", "codex", "1.0"),
        ("a/b/c", "a", "b/c"),  # split at the first "/"
        ("c / 1", "c", "1"),  # both halves stripped
        ("codex 1.0", "codex", "1.0"),  # no "/": whitespace split
        ("codex\t1.0 beta", "codex", "1.0 beta"),  # split once
        ("codex version 2/3", "codex version 2", "3"),  # a "/" anywhere wins over whitespace
    ],
)
def test_server_info_derived_from_the_user_agent(user_agent: str, name: str, version: str) -> None:
    response = initialize_response({"userAgent": user_agent})
    assert response.serverInfo == ServerInfo(name, version)
    assert response.userAgent == user_agent


@pytest.mark.parametrize(
    ("result", "message"),
    [
        ({}, "user_agent='', server_name='', server_version=''"),
        ({"userAgent": "   "}, "user_agent='', server_name='', server_version=''"),
        ({"userAgent": "codex"}, "user_agent='codex', server_name='codex', server_version=''"),
        ({"userAgent": "codex/"}, "user_agent='codex/', server_name='codex', server_version=''"),
        ({"userAgent": "/1.0"}, "user_agent='/1.0', server_name='', server_version='1.0'"),
        (
            {"serverInfo": {"name": "n", "version": "v"}},
            "user_agent='', server_name='n', server_version='v'",
        ),
    ],
)
def test_missing_metadata_raises_runtime_error(result: dict[str, Any], message: str) -> None:
    with pytest.raises(RuntimeError) as info:
        initialize_response(result)
    assert str(info.value) == f"initialize response missing required metadata ({message})"


def test_explicit_server_info_wins_over_the_user_agent() -> None:
    response = initialize_response({"serverInfo": {"name": "engine", "version": "9.9"}, "userAgent": "codex/1.0"})
    assert response.serverInfo == ServerInfo("engine", "9.9")
    assert response.userAgent == "codex/1.0"


def test_server_info_is_stripped_and_blank_parts_come_from_the_user_agent() -> None:
    response = initialize_response({"serverInfo": {"name": " engine ", "version": "  "}, "userAgent": "codex/1.0"})
    assert response.serverInfo == ServerInfo("engine", "1.0")


def test_platform_fields_are_kept_when_strings() -> None:
    response = initialize_response({"userAgent": "codex/1", "platformFamily": "unix", "platformOs": "linux"})
    assert (response.platformFamily, response.platformOs) == ("unix", "linux")


def test_platform_fields_default_to_none() -> None:
    response = initialize_response({"userAgent": "codex/1"})
    assert (response.platformFamily, response.platformOs) == (None, None)


@pytest.mark.parametrize(
    "result",
    [
        {"userAgent": "codex/1", "serverInfo": "not an object"},
        {"userAgent": "codex/1", "serverInfo": ["engine", "2"]},
        {"userAgent": "codex/1", "platformFamily": 3, "platformOs": {"os": "linux"}},
    ],
)
def test_malformed_optional_fields_are_tolerated(result: dict[str, Any]) -> None:
    # The official SDK rejects these with a pydantic ValidationError before validating; we keep what we can.
    response = initialize_response(result)
    assert response.serverInfo == ServerInfo("codex", "1")
    assert response.platformFamily is None or isinstance(response.platformFamily, str)
    assert response.platformOs is None or isinstance(response.platformOs, str)


def test_non_string_server_info_parts_are_stringified() -> None:
    response = initialize_response({"userAgent": "codex/1", "serverInfo": {"name": 7, "version": 2.5}})
    assert response.serverInfo == ServerInfo("7", "2.5")


def test_extra_keys_are_ignored() -> None:
    response = initialize_response({"userAgent": "codex/1", "codexHome": "/home/u/.codex", "x": None})
    assert response == InitializeResponse(ServerInfo("codex", "1"), "codex/1", None, None)


def test_initialize_response_defaults_and_field_names() -> None:
    # The official model's wire field names, in the same order.
    assert list(InitializeResponse.__dataclass_fields__) == list(OfficialInitializeResponse.model_fields)
    assert InitializeResponse() == InitializeResponse(None, None, None, None)
    assert list(ServerInfo.__dataclass_fields__) == ["name", "version"]


def test_user_agent_is_kept_verbatim_like_the_official_sdk() -> None:
    raw = {"userAgent": "  codex/1.0 (Linux)\n"}
    assert initialize_response(dict(raw)).userAgent == _official(dict(raw)).userAgent


# -- Notification and UnknownNotification -------------------------------------------------------------------------


def test_unknown_notification_holds_the_params() -> None:
    unknown = UnknownNotification({"a": [1, {"b": None}]})
    assert unknown.params == {"a": [1, {"b": None}]}
    assert unknown == UnknownNotification({"a": [1, {"b": None}]})
    assert not hasattr(unknown, "__dict__")


def test_notification_is_built_positionally_like_the_official_dataclass() -> None:
    payload = UnknownNotification({"x": 1})
    note = Notification("custom/method", payload)
    assert (note.method, note.payload) == ("custom/method", payload)
    assert (note.thread_id, note.turn_id, note.emitted_at_ms) == (None, None, None)
    assert repr(note) == "Notification(method='custom/method', payload=UnknownNotification(params={'x': 1}))"
    with pytest.raises(AttributeError):
        note.method = "other"  # type: ignore[misc]


def test_notification_routing_keys_come_from_the_payload() -> None:
    typed = Notification("thread/compacted", ContextCompactedNotification(thread_id="t", turn_id="u"))
    unknown = Notification("x/y", UnknownNotification({"threadId": "t", "turn": {"id": "v"}}))
    odd = Notification("x/y", UnknownNotification({"threadId": 1, "turnId": None, "turn": "v"}))
    assert [(n.thread_id, n.turn_id) for n in (typed, unknown, odd)] == [("t", "u"), ("t", "v"), (None, None)]


def test_notification_params_of_an_unknown_payload() -> None:
    note = Notification("custom/method", UnknownNotification({"x": [1, 2]}))
    assert msgspec.json.decode(note.params) == {"x": [1, 2]}


def test_notification_params_of_a_typed_payload_use_the_wire_names() -> None:
    note = Notification("thread/compacted", ContextCompactedNotification(thread_id="t", turn_id="u"))
    assert msgspec.json.decode(note.params) == {"threadId": "t", "turnId": "u"}


def test_decoded_notifications_are_typed_subclasses_that_pickle_and_print_like_notification() -> None:
    line = b'{"method":"thread/compacted","params":{"threadId":"t","turnId":"u","extra":true},"emittedAtMs":5}'
    note = decode_message(line)
    assert isinstance(note, Notification) and type(note) is not Notification
    assert (note.method, note.payload, note.emitted_at_ms) == (
        "thread/compacted",
        ContextCompactedNotification(thread_id="t", turn_id="u"),
        5,
    )
    assert (note.thread_id, note.turn_id) == ("t", "u")
    assert msgspec.json.decode(note.params) == {"threadId": "t", "turnId": "u"}  # members the schema knows
    assert repr(note).startswith("Notification(method='thread/compacted', payload=")
    assert pickle.loads(pickle.dumps(note)) == note
    assert msgspec.json.decode(msgspec.json.encode(note)) == {
        "method": "thread/compacted",
        "params": {"threadId": "t", "turnId": "u"},
        "emittedAtMs": 5,
    }


# -- the user-agent split itself ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "user_agent",
    ["", "   ", "codex", "codex/", "/", "/1", "a/b/c", "codex 1.0", " codex  1.0 beta ", "c / 1", "x\ty"],
    ids=repr,
)
def test_split_user_agent_matches_the_official(user_agent: str) -> None:
    assert _split_user_agent(user_agent) == _official_split_user_agent(user_agent)


def test_split_user_agent_of_blank_text_is_nothing() -> None:
    assert _split_user_agent("  \t ") == (None, None)
