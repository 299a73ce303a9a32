"""decode_params: the generated Struct for a known method, UnknownNotification for everything else."""

from __future__ import annotations

import json
from typing import Any

import msgspec
import pytest
from openai_codex.generated.notification_registry import NOTIFICATION_MODELS

from codex_actors._protocol.generated import (
    SERVER_NOTIFICATIONS,
    AgentMessageDeltaNotification,
    AgentMessageThreadItem,
    ContextCompactedNotification,
    ItemCompletedNotification,
    MessagePhase,
    SkillsChangedNotification,
    ThreadTokenUsage,
    ThreadTokenUsageUpdatedNotification,
    TokenUsageBreakdown,
    Turn,
    TurnCompletedNotification,
    TurnStartedNotification,
    TurnStatus,
)
from codex_actors._protocol.jsonrpc import decode_message
from codex_actors._protocol.notifications import decode_params
from codex_actors.models import Notification, UnknownNotification


def raw(value: Any) -> msgspec.Raw:
    return msgspec.Raw(json.dumps(value).encode())


def _breakdown() -> TokenUsageBreakdown:
    return TokenUsageBreakdown(
        cached_input_tokens=1, input_tokens=10, output_tokens=5, reasoning_output_tokens=2, total_tokens=15
    )


TYPED: list[tuple[str, Any]] = [
    (
        "item/completed",
        ItemCompletedNotification(
            completed_at_ms=1700000000000,
            item=AgentMessageThreadItem(id="m1", text="done", phase=MessagePhase.final_answer),
            thread_id="t",
            turn_id="u",
        ),
    ),
    (
        "item/agentMessage/delta",
        AgentMessageDeltaNotification(delta="he", item_id="m1", thread_id="t", turn_id="u"),
    ),
    (
        "turn/completed",
        TurnCompletedNotification(
            thread_id="t", turn=Turn(id="u", items=[], status=TurnStatus.completed, duration_ms=12)
        ),
    ),
    (
        "turn/started",
        TurnStartedNotification(thread_id="t", turn=Turn(id="u", items=[], status=TurnStatus.in_progress)),
    ),
    (
        "thread/tokenUsage/updated",
        ThreadTokenUsageUpdatedNotification(
            thread_id="t", turn_id="u", token_usage=ThreadTokenUsage(last=_breakdown(), total=_breakdown())
        ),
    ),
    ("thread/compacted", ContextCompactedNotification(thread_id="t", turn_id="u")),
    ("skills/changed", SkillsChangedNotification()),
]


@pytest.mark.parametrize(("method", "payload"), TYPED, ids=[m for m, _ in TYPED])
def test_known_method_decodes_to_its_generated_struct(method: str, payload: Any) -> None:
    decoded = decode_params(method, msgspec.Raw(msgspec.json.encode(payload)))
    assert type(decoded) is SERVER_NOTIFICATIONS[method]
    assert decoded == payload


def test_every_known_method_has_a_wire_type_and_decodes_or_falls_back() -> None:
    for method in SERVER_NOTIFICATIONS:
        decoded = decode_params(method, raw({}))
        assert isinstance(decoded, UnknownNotification | SERVER_NOTIFICATIONS[method])


def test_unknown_fields_of_a_known_method_are_ignored() -> None:
    decoded = decode_params("thread/compacted", raw({"threadId": "t", "turnId": "u", "newField": [1, 2]}))
    assert decoded == ContextCompactedNotification(thread_id="t", turn_id="u")


@pytest.mark.parametrize(
    "params",
    [{}, {"a": 1}, {"threadId": "t", "turnId": "u"}, {"nested": {"list": [1, "two", None, True, 1.5]}}],
    ids=repr,
)
def test_unknown_method_keeps_the_params(params: dict[str, Any]) -> None:
    assert decode_params("vendor/somethingNew", raw(params)) == UnknownNotification(params)


@pytest.mark.parametrize(
    ("method", "params"),
    [
        ("turn/completed", {"threadId": "t"}),  # missing turn
        ("turn/completed", {"threadId": 5, "turn": {"id": "u", "items": [], "status": "completed"}}),
        ("turn/completed", {"threadId": "t", "turn": {"id": "u", "items": [], "status": "exploded"}}),
        ("item/completed", {"threadId": "t", "turnId": "u", "completedAtMs": 1, "item": {"type": "alien"}}),
        ("item/agentMessage/delta", {"delta": None, "itemId": "m", "threadId": "t", "turnId": "u"}),
        ("thread/compacted", {}),
    ],
    ids=repr,
)
def test_known_method_with_params_that_do_not_fit_is_unknown(method: str, params: dict[str, Any]) -> None:
    assert decode_params(method, raw(params)) == UnknownNotification(params)


@pytest.mark.parametrize("method", ["turn/completed", "skills/changed", "vendor/new"])
@pytest.mark.parametrize("params", [[], [1, {"a": 2}], None, "text", 3, 2.5, True], ids=repr)
def test_non_object_params_are_unknown_and_empty(method: str, params: Any) -> None:
    assert decode_params(method, raw(params)) == UnknownNotification({})


def test_decoding_never_raises_for_json_input() -> None:
    bodies: list[Any] = [{}, [], None, 0, "", {"threadId": None}, {"turn": []}, [{"threadId": "t"}]]
    for method in [*SERVER_NOTIFICATIONS, "", "unknown/method"]:
        for body in bodies:
            result = decode_params(method, raw(body))
            assert isinstance(result, UnknownNotification) or type(result) is SERVER_NOTIFICATIONS[method]


def test_decoded_unknown_params_are_a_new_dict_each_time() -> None:
    params = raw({"a": [1]})
    first = decode_params("vendor/new", params)
    first.params["a"].append(2)
    assert decode_params("vendor/new", params) == UnknownNotification({"a": [1]})


# -- agreement with the official SDK and with the reader's decoding -----------------------------------------------


def test_known_methods_are_the_official_ones() -> None:
    assert set(SERVER_NOTIFICATIONS) == set(NOTIFICATION_MODELS)


def test_typed_or_unknown_agrees_with_the_official_sdk_on_empty_params() -> None:
    disagreements = []
    for method, model in NOTIFICATION_MODELS.items():
        ours_typed = not isinstance(decode_params(method, raw({})), UnknownNotification)
        try:
            model.model_validate({})
            theirs_typed = True
        except ValueError:
            theirs_typed = False
        if ours_typed != theirs_typed:
            disagreements.append(method)
    assert disagreements == []


@pytest.mark.parametrize(("method", "payload"), TYPED, ids=[m for m, _ in TYPED])
def test_typed_payloads_carry_the_same_data_as_the_official_models(method: str, payload: Any) -> None:
    wire = msgspec.json.encode(payload)
    ours = decode_params(method, msgspec.Raw(wire))
    theirs = NOTIFICATION_MODELS[method].model_validate_json(wire)
    reparsed = NOTIFICATION_MODELS[method].model_validate_json(msgspec.json.encode(ours))
    assert reparsed == theirs


_BODIES: list[Any] = [
    {},
    {"threadId": "t", "turnId": "u"},
    {"threadId": "t", "turn": {"id": "u", "items": [], "status": "completed"}},
    {"threadId": 5},
    [],
    None,
    "s",
]


def test_the_readers_decoding_agrees_with_decode_params() -> None:
    mismatches = []
    for method in [*SERVER_NOTIFICATIONS, "vendor/new"]:
        for body in _BODIES:
            line = json.dumps({"method": method, "params": body}, separators=(",", ":")).encode()
            note = decode_message(line)
            assert isinstance(note, Notification)
            if note.payload != decode_params(method, raw(body)):
                mismatches.append((method, body))
    assert mismatches == []


def test_a_notification_without_params_decodes_as_empty_params() -> None:
    for method in ["turn/started", "skills/changed", "vendor/new"]:
        note = decode_message(json.dumps({"method": method}).encode())
        assert isinstance(note, Notification)
        assert note.payload == decode_params(method, raw({}))
