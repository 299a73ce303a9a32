"""TurnResult, TurnAccumulator and final_response_of: the official SDK's rules, checked against its own code."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from openai_codex import _run as official_run
from openai_codex.generated import v2_all as official
from openai_codex.generated.notification_registry import NOTIFICATION_MODELS
from openai_codex.models import Notification as OfficialNotification

from codex_actors._protocol.generated import (
    SERVER_NOTIFICATIONS,
    AgentMessageDeltaNotification,
    AgentMessageThreadItem,
    ItemCompletedNotification,
    ItemStartedNotification,
    MessagePhase,
    ReasoningThreadItem,
    TextUserInput,
    ThreadItem,
    ThreadTokenUsage,
    ThreadTokenUsageUpdatedNotification,
    TokenUsageBreakdown,
    Turn,
    TurnCompletedNotification,
    TurnError,
    TurnStatus,
    UserMessageThreadItem,
)
from codex_actors._results import RESULT_METHODS, TurnAccumulator, TurnResult, final_response_of, result_or_raise
from codex_actors.models import UnknownNotification

THREAD = "thread-1"
TURN = "turn-1"


def agent(text: str, phase: MessagePhase | None = None, id: str = "msg") -> AgentMessageThreadItem:
    return AgentMessageThreadItem(id=id, text=text, phase=phase)


def user(text: str) -> UserMessageThreadItem:
    return UserMessageThreadItem(id="user", content=[TextUserInput(text=text)])


def reasoning() -> ReasoningThreadItem:
    return ReasoningThreadItem(id="r", summary=["thinking"])


def completed_item(item: ThreadItem, turn_id: str = TURN) -> ItemCompletedNotification:
    return ItemCompletedNotification(completed_at_ms=1, item=item, thread_id=THREAD, turn_id=turn_id)


def breakdown(total: int) -> TokenUsageBreakdown:
    return TokenUsageBreakdown(
        cached_input_tokens=0,
        input_tokens=total - 1,
        output_tokens=1,
        reasoning_output_tokens=0,
        total_tokens=total,
    )


def usage(total: int) -> ThreadTokenUsage:
    return ThreadTokenUsage(last=breakdown(total), total=breakdown(total), model_context_window=1000)


def usage_updated(total: int, turn_id: str = TURN) -> ThreadTokenUsageUpdatedNotification:
    return ThreadTokenUsageUpdatedNotification(thread_id=THREAD, token_usage=usage(total), turn_id=turn_id)


def turn_completed(
    turn_id: str = TURN,
    status: TurnStatus = TurnStatus.completed,
    error: TurnError | None = None,
    *,
    started_at: int | None = None,
    completed_at: int | None = None,
    duration_ms: int | None = None,
) -> TurnCompletedNotification:
    turn = Turn(
        id=turn_id,
        items=[],
        status=status,
        error=error,
        started_at=started_at,
        completed_at=completed_at,
        duration_ms=duration_ms,
    )
    return TurnCompletedNotification(thread_id=THREAD, turn=turn)


# -- final_response_of --------------------------------------------------------------------------------------------

FA, CM, PA = MessagePhase.final_answer, MessagePhase.commentary, MessagePhase.partial_answer


@pytest.mark.parametrize(
    ("items", "expected"),
    [
        pytest.param([], None, id="no-items"),
        pytest.param([user("hi"), reasoning()], None, id="no-agent-message"),
        pytest.param([agent("a")], "a", id="one-phaseless"),
        pytest.param([agent("a"), agent("b")], "b", id="last-phaseless-wins"),
        pytest.param([agent("a", FA)], "a", id="one-final"),
        pytest.param([agent("final", FA), agent("later")], "final", id="final-beats-later-phaseless"),
        pytest.param([agent("early"), agent("final", FA)], "final", id="final-beats-earlier-phaseless"),
        pytest.param([agent("f1", FA), agent("f2", FA)], "f2", id="last-final-wins"),
        pytest.param([agent("c", CM)], None, id="commentary-never"),
        pytest.param([agent("p", PA)], None, id="partial-never"),
        pytest.param([agent("a"), agent("c", CM)], "a", id="commentary-after-phaseless"),
        pytest.param([agent("a"), agent("p", PA), agent("c", CM)], "a", id="skips-partial-and-commentary"),
        pytest.param([agent("", FA)], "", id="empty-final-kept"),
        pytest.param([agent("")], "", id="empty-phaseless-kept"),
        pytest.param([agent("x", FA), agent("")], "x", id="final-beats-empty-phaseless"),
        pytest.param([agent("x"), agent("")], "", id="empty-phaseless-is-the-last"),
        pytest.param([agent("a"), reasoning(), user("u")], "a", id="other-items-skipped"),
    ],
)
def test_final_response_of(items: list[ThreadItem], expected: str | None) -> None:
    assert final_response_of(items) == expected
    assert official_run._final_assistant_response_from_items(_official_items(items)) == expected


def _official_items(items: list[ThreadItem]) -> list[official.ThreadItem]:
    return [official.ThreadItem.model_validate_json(msgspec.json.encode(item)) for item in items]


_items = st.lists(
    st.one_of(
        st.builds(
            agent,
            st.sampled_from(["", "a", "b", "c", "answer"]),
            st.sampled_from([None, *MessagePhase]),
        ),
        st.just(reasoning()),
        st.just(user("u")),
    ),
    max_size=8,
)


@settings(max_examples=200, deadline=None)
@given(_items)
def test_final_response_of_agrees_with_the_official_sdk(items: list[ThreadItem]) -> None:
    expected = official_run._final_assistant_response_from_items(_official_items(items))
    assert final_response_of(items) == expected


# -- TurnAccumulator ----------------------------------------------------------------------------------------------


def test_result_before_completion_raises() -> None:
    acc = TurnAccumulator(TURN)
    with pytest.raises(RuntimeError, match=r"^turn completed event not received$"):
        acc.result()
    acc.add(completed_item(agent("a")))
    with pytest.raises(RuntimeError, match="turn completed event not received"):
        acc.result()


def test_add_returns_true_only_for_this_turns_completion() -> None:
    acc = TurnAccumulator(TURN)
    assert acc.add(completed_item(agent("a"))) is False
    assert acc.add(usage_updated(5)) is False
    assert acc.add(turn_completed("another-turn")) is False
    assert acc.completed is None
    assert acc.add(turn_completed(TURN)) is True
    assert acc.completed is not None and acc.completed.id == TURN


def test_completion_for_another_turn_is_ignored() -> None:
    acc = TurnAccumulator(TURN)
    acc.add(turn_completed("other", status=TurnStatus.failed))
    with pytest.raises(RuntimeError, match="turn completed event not received"):
        acc.result()
    acc.add(turn_completed(TURN, status=TurnStatus.completed))
    assert acc.result().status == TurnStatus.completed
    assert acc.result().id == TURN


def test_items_are_kept_in_completion_order_user_message_included() -> None:
    acc = TurnAccumulator(TURN)
    items: list[ThreadItem] = [
        user("question"),
        reasoning(),
        agent("c", CM, id="m1"),
        agent("answer", FA, id="m2"),
    ]
    for item in items:
        acc.add(completed_item(item))
    acc.add(turn_completed())
    result = acc.result()
    assert result.items == items
    assert result.final_response == "answer"


def test_usage_is_the_last_token_usage_update() -> None:
    acc = TurnAccumulator(TURN)
    acc.add(usage_updated(10))
    acc.add(usage_updated(20))
    acc.add(completed_item(agent("a")))
    acc.add(usage_updated(30))
    acc.add(turn_completed())
    result = acc.result()
    assert result.usage == usage(30)
    assert result.usage is not None and result.usage.total.total_tokens == 30


def test_usage_is_none_without_an_update() -> None:
    acc = TurnAccumulator(TURN)
    acc.add(turn_completed())
    assert acc.result().usage is None


def test_unrelated_payloads_are_ignored() -> None:
    acc = TurnAccumulator(TURN)
    ignored: list[Any] = [
        UnknownNotification({"x": 1}),
        AgentMessageDeltaNotification(delta="hel", item_id="m", thread_id=THREAD, turn_id=TURN),
        ItemStartedNotification(item=agent("partial"), thread_id=THREAD, turn_id=TURN, started_at_ms=1),
        None,
        {"method": "turn/completed"},
    ]
    for payload in ignored:
        assert acc.add(payload) is False
    acc.add(turn_completed())
    result = acc.result()
    assert result.items == []
    assert result.final_response is None
    assert result.usage is None


def test_result_copies_the_turns_fields() -> None:
    error = TurnError(message="rate limited", additional_details="retry later")
    acc = TurnAccumulator(TURN)
    acc.add(completed_item(agent("partial text")))
    acc.add(
        turn_completed(
            status=TurnStatus.interrupted, error=error, started_at=100, completed_at=105, duration_ms=5000
        )
    )
    result = acc.result()
    assert result == TurnResult(
        id=TURN,
        status=TurnStatus.interrupted,
        error=error,
        started_at=100,
        completed_at=105,
        duration_ms=5000,
        final_response="partial text",
        items=[agent("partial text")],
        usage=None,
    )


def test_result_timings_default_to_none() -> None:
    acc = TurnAccumulator(TURN)
    acc.add(turn_completed())
    result = acc.result()
    assert (result.started_at, result.completed_at, result.duration_ms, result.error) == (None, None, None, None)


def test_failed_turn_result_is_returned_not_raised() -> None:
    acc = TurnAccumulator(TURN)
    acc.add(turn_completed(status=TurnStatus.failed, error=TurnError(message="boom")))
    result = acc.result()
    assert result.status == TurnStatus.failed
    assert result.error is not None and result.error.message == "boom"


def test_result_items_are_a_copy() -> None:
    acc = TurnAccumulator(TURN)
    acc.add(completed_item(agent("a")))
    acc.add(turn_completed())
    first = acc.result()
    first.items.append(agent("injected"))
    assert acc.result().items == [agent("a")]
    assert acc.result().final_response == "a"


def test_result_is_stable_across_calls() -> None:
    acc = TurnAccumulator(TURN)
    acc.add(completed_item(agent("a", FA)))
    acc.add(usage_updated(3))
    acc.add(turn_completed())
    assert acc.result() == acc.result()


def test_turn_result_has_slots_and_the_official_fields_first() -> None:
    result = TurnResult(TURN, TurnStatus.completed, None, None, None, None, None, [], None)
    assert not hasattr(result, "__dict__")
    official_fields = list(official_run.TurnResult.__dataclass_fields__)
    assert list(TurnResult.__dataclass_fields__) == [*official_fields, "parsed"]
    assert result.parsed is None
    assert _accumulated_parsed() is None


def _accumulated_parsed() -> Any:
    acc = TurnAccumulator(TURN)
    acc.add(completed_item(agent("{}")))
    acc.add(turn_completed())
    return acc.result().parsed


# -- result_or_raise: what run() returns --------------------------------------------------------------------------


@pytest.mark.parametrize("status", [TurnStatus.completed, TurnStatus.interrupted])
def test_result_or_raise_returns_a_turn_that_did_not_fail(status: TurnStatus) -> None:
    acc = TurnAccumulator(TURN)
    acc.add(completed_item(agent("ok")))
    acc.add(turn_completed(status=status, error=TurnError(message="ignored unless failed")))
    assert result_or_raise(acc.result()) == acc.result()


@pytest.mark.parametrize(
    ("error", "message"),
    [
        (TurnError(message="model overloaded"), "model overloaded"),
        (TurnError(message=""), "turn failed with status failed"),
        (None, "turn failed with status failed"),
    ],
)
def test_result_or_raise_raises_for_a_failed_turn(error: TurnError | None, message: str) -> None:
    acc = TurnAccumulator(TURN)
    acc.add(turn_completed(status=TurnStatus.failed, error=error))
    with pytest.raises(RuntimeError) as ours:
        result_or_raise(acc.result())
    assert str(ours.value) == message
    official_turn = official.Turn.model_validate_json(msgspec.json.encode(acc.completed))
    with pytest.raises(RuntimeError) as theirs:
        official_run._raise_for_failed_turn(official_turn)
    assert str(ours.value) == str(theirs.value)


def test_result_or_raise_before_completion_raises() -> None:
    with pytest.raises(RuntimeError, match="turn completed event not received"):
        result_or_raise(TurnAccumulator(TURN).result())


# -- RESULT_METHODS: the methods worth passing to add() -----------------------------------------------------------


def test_accumulated_names_exactly_the_methods_add_uses() -> None:
    assert frozenset({"item/completed", "thread/tokenUsage/updated", "turn/completed"}) == RESULT_METHODS
    used = {ItemCompletedNotification, ThreadTokenUsageUpdatedNotification, TurnCompletedNotification}
    assert {SERVER_NOTIFICATIONS[method] for method in RESULT_METHODS} == used
    others = {method for method, wire_type in SERVER_NOTIFICATIONS.items() if wire_type in used}
    assert others == set(RESULT_METHODS)  # no other method decodes to a payload add() would take


# -- the same notifications through the official collector --------------------------------------------------------

_METHODS: dict[type, str] = {
    ItemCompletedNotification: "item/completed",
    ThreadTokenUsageUpdatedNotification: "thread/tokenUsage/updated",
    TurnCompletedNotification: "turn/completed",
    AgentMessageDeltaNotification: "item/agentMessage/delta",
}


def _official_notification(payload: Any) -> OfficialNotification:
    method = _METHODS[type(payload)]
    model = NOTIFICATION_MODELS[method]
    return OfficialNotification(method=method, payload=model.model_validate_json(msgspec.json.encode(payload)))


def _dump(value: Any) -> Any:
    return None if value is None else value.model_dump(by_alias=True, exclude_none=True, mode="json")


def _as_official(value: Any, model: Any) -> Any:
    """Our Struct through the official model, so schema defaults the official models fill in compare equal."""
    return None if value is None else _dump(model.model_validate_json(msgspec.json.encode(value)))


SCENARIOS: dict[str, list[Any]] = {
    "plain answer": [
        completed_item(user("hi")),
        AgentMessageDeltaNotification(delta="hel", item_id="m", thread_id=THREAD, turn_id=TURN),
        completed_item(agent("hello")),
        usage_updated(7),
        turn_completed(started_at=1, completed_at=2, duration_ms=900),
    ],
    "commentary then final": [
        completed_item(user("do it")),
        completed_item(agent("working on it", CM, id="m1")),
        completed_item(reasoning()),
        usage_updated(3),
        completed_item(agent("done", FA, id="m2")),
        completed_item(agent("p.s.", id="m3")),
        usage_updated(9),
        turn_completed(),
    ],
    "nothing said": [completed_item(user("?")), turn_completed(status=TurnStatus.interrupted)],
    "empty final": [completed_item(agent("", FA)), turn_completed()],
    "failed turn with error": [
        completed_item(agent("partial")),
        turn_completed(status=TurnStatus.interrupted, error=TurnError(message="stopped", additional_details="x")),
    ],
    "other turn completes first": [
        completed_item(agent("x")),
        turn_completed("other-turn", status=TurnStatus.interrupted),
        usage_updated(4),
        turn_completed(duration_ms=12),
    ],
}


@pytest.mark.parametrize("events", list(SCENARIOS.values()), ids=list(SCENARIOS))
def test_accumulator_matches_the_official_collector(events: list[Any]) -> None:
    acc = TurnAccumulator(TURN)
    for payload in events:
        acc.add(payload)
    ours = acc.result()
    theirs = official_run._collect_turn_result(iter([_official_notification(p) for p in events]), turn_id=TURN)
    assert ours.id == theirs.id
    assert ours.status.value == theirs.status.value
    assert _as_official(ours.error, official.TurnError) == _dump(theirs.error)
    assert (ours.started_at, ours.completed_at, ours.duration_ms) == (
        theirs.started_at,
        theirs.completed_at,
        theirs.duration_ms,
    )
    assert ours.final_response == theirs.final_response
    assert [_as_official(i, official.ThreadItem) for i in ours.items] == [_dump(i) for i in theirs.items]
    assert _as_official(ours.usage, official.ThreadTokenUsage) == _dump(theirs.usage)
