"""What a dropped line still tells, from its head and tail: its JSON-RPC id, method, thread and turn."""

from __future__ import annotations

import json
from typing import Any

from codex_actors._protocol.dropped import DroppedFields, dropped_fields
from codex_actors._protocol.framing import KEPT_HEAD, KEPT_TAIL

HUGE = "x" * 50_000


def fields(message: dict[str, Any]) -> DroppedFields:
    line = json.dumps(message, separators=(",", ":")).encode()
    assert len(line) > KEPT_HEAD + KEPT_TAIL  # the middle is lost
    return dropped_fields(line[:KEPT_HEAD], line[-KEPT_TAIL:])


def test_a_reply_is_known_by_its_id_first_or_last() -> None:
    assert fields({"id": 7, "result": {"thread": {"id": "nested"}, "text": HUGE}}) == DroppedFields(id=7)
    assert fields({"result": {"text": HUGE, "id": "nested"}, "id": 8}) == DroppedFields(id=8)
    assert fields({"error": {"code": 1, "message": HUGE}, "id": "s-9"}) == DroppedFields(id="s-9")


def test_a_notification_of_a_turn_is_known_by_method_thread_and_turn_wherever_they_are() -> None:
    item = {"type": "agentMessage", "id": "msg_1", "text": HUGE}
    first = {"method": "item/completed", "params": {"threadId": "T", "turnId": "U", "item": item}}
    last = {"params": {"item": item, "turnId": "U", "threadId": "T"}, "method": "item/completed"}
    expected = DroppedFields(method="item/completed", thread_id="T", turn_id="U")
    assert fields(first) == expected
    assert fields(last) == expected
    completed = {"method": "turn/completed", "params": {"threadId": "T", "turn": {"id": "U", "items": [item]}}}
    assert fields(completed) == DroppedFields(method="turn/completed", thread_id="T", turn_id="U")


def test_nested_fields_of_the_same_names_are_not_taken_for_the_envelopes() -> None:
    inner = {"id": 5, "method": "m", "threadId": "inner", "turnId": "inner", "text": HUGE}
    assert fields({"method": "x/y", "params": {"nested": inner}}) == DroppedFields(method="x/y")
    assert fields({"method": "x/y", "params": {"nested": [inner, {"threadId": "in"}]}}) == DroppedFields(
        method="x/y"
    )


def test_escapes_and_strings_holding_json_do_not_confuse_it() -> None:
    tricky = HUGE + '\\"}],"id":99,"threadId":"fake"\\\\'
    message = {"method": "item/completed", "params": {"text": tricky, "threadId": "T\\u00e9", "turnId": "U"}}
    assert fields(message) == DroppedFields(method="item/completed", thread_id="T\\u00e9", turn_id="U")


def test_a_server_request_has_both_an_id_and_a_method() -> None:
    request = {"id": 3, "method": "item/tool/call", "params": {"threadId": "T", "turnId": "U", "arguments": HUGE}}
    assert fields(request) == DroppedFields(id=3, method="item/tool/call", thread_id="T", turn_id="U")


def test_what_is_not_json_yields_nothing() -> None:
    assert dropped_fields(b"x" * KEPT_HEAD, b"y" * KEPT_TAIL) == DroppedFields()
    assert dropped_fields(b'{"id":12', b"3}") == DroppedFields()  # a value cut by the head's end is not trusted
    assert dropped_fields(b"", b"") == DroppedFields()


def test_a_quote_at_the_tails_very_start_is_not_trusted_to_open_a_string() -> None:
    # The byte before the tail may have been a backslash: then this quote is text of a huge key ending in `id`.
    assert dropped_fields(b"", b'"id":4}') == DroppedFields()
    assert dropped_fields(b"", b'x","id":4}') == DroppedFields(id=4)
