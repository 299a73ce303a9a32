"""Turn inputs and the approval/sandbox presets: their wire forms, checked against the official SDK's."""

from __future__ import annotations

import dataclasses
from typing import Any

import msgspec
import openai_codex
import pytest
from openai_codex import _inputs as official_inputs
from openai_codex._approval_mode import _approval_mode_settings
from openai_codex._sandbox import _sandbox_mode, _sandbox_policy
from openai_codex.generated.v2_all import ThreadStartParams, TurnStartParams

from codex_actors._inputs import (
    ExternalMessage,
    ImageInput,
    LocalImageInput,
    MentionInput,
    SkillInput,
    TextInput,
    wire_input,
    wire_turn_input,
)
from codex_actors._modes import ApprovalMode, Sandbox, approval_settings, sandbox_mode, sandbox_policy
from codex_actors._protocol.generated import (
    EncryptedContentFunctionCallOutputContentItem,
    FunctionCallOutputContentItem,
    ImageDetail,
    InputAudioFunctionCallOutputContentItem,
    InputImageFunctionCallOutputContentItem,
    InputTextFunctionCallOutputContentItem,
    TurnToolOutput,
)

# -- inputs: the wire forms ---------------------------------------------------------------------------------------

ITEMS: list[tuple[Any, dict[str, Any]]] = [
    (TextInput("hello"), {"type": "text", "text": "hello"}),
    (TextInput(""), {"type": "text", "text": ""}),
    (ImageInput("data:image/png;base64,AAAA"), {"type": "image", "url": "data:image/png;base64,AAAA"}),
    (LocalImageInput("/tmp/cat.png"), {"type": "localImage", "path": "/tmp/cat.png"}),
    (SkillInput("lint", "/skills/lint"), {"type": "skill", "name": "lint", "path": "/skills/lint"}),
    (MentionInput("README", "/repo/README.md"), {"type": "mention", "name": "README", "path": "/repo/README.md"}),
]


def _official_twin(value: Any) -> Any:
    """The same input built from the official SDK's classes."""
    if isinstance(value, list):
        return [_official_twin(item) for item in value]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        cls = getattr(official_inputs, type(value).__name__)
        return cls(**{f.name: getattr(value, f.name) for f in dataclasses.fields(value)})
    return value


def _official_wire(value: Any) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    items, tool_output = official_inputs._to_wire_turn_input(_official_twin(value))
    dumped = None if tool_output is None else tool_output.model_dump(by_alias=True, exclude_none=True, mode="json")
    return items, dumped


@pytest.mark.parametrize(("item", "wire"), ITEMS, ids=[type(i).__name__ + repr(w) for i, w in ITEMS])
def test_single_item_is_wrapped(item: Any, wire: dict[str, Any]) -> None:
    assert wire_input(item) == [wire]
    assert wire_turn_input(item) == ([wire], None)
    assert _official_wire(item) == ([wire], None)


def test_str_becomes_one_text_item() -> None:
    assert wire_input("hi there") == [{"type": "text", "text": "hi there"}]
    assert wire_turn_input("hi there") == ([{"type": "text", "text": "hi there"}], None)
    assert wire_turn_input("") == ([{"type": "text", "text": ""}], None)


def test_list_is_mapped_in_order() -> None:
    items = [item for item, _ in ITEMS]
    assert wire_input(items) == [wire for _, wire in ITEMS]
    assert wire_turn_input(items) == ([wire for _, wire in ITEMS], None)


def test_empty_list_is_an_empty_input() -> None:
    assert wire_input([]) == []
    assert wire_turn_input([]) == ([], None)


VALID_INPUTS: list[Any] = [
    "text",
    "",
    *[item for item, _ in ITEMS],
    [item for item, _ in ITEMS],
    [],
    [TextInput("a"), TextInput("b")],
]


@pytest.mark.parametrize("value", VALID_INPUTS, ids=[repr(v) for v in VALID_INPUTS])
def test_wire_turn_input_matches_the_official_sdk(value: Any) -> None:
    assert wire_turn_input(value) == _official_wire(value)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (("a", "b"), "unsupported input item: <class 'tuple'>"),
        ((TextInput("a"),), "unsupported input item: <class 'tuple'>"),
        (5, "unsupported input item: <class 'int'>"),
        (None, "unsupported input item: <class 'NoneType'>"),
        ({"type": "text", "text": "x"}, "unsupported input item: <class 'dict'>"),
        (["a"], "unsupported input item: <class 'str'>"),
        ([TextInput("ok"), 3], "unsupported input item: <class 'int'>"),
        ([[TextInput("nested")]], "unsupported input item: <class 'list'>"),
    ],
)
def test_unsupported_inputs_raise_type_error(value: Any, message: str) -> None:
    with pytest.raises(TypeError) as ours:
        wire_turn_input(value)
    assert str(ours.value) == message
    with pytest.raises(TypeError) as ours_steer:
        wire_input(value)
    assert str(ours_steer.value) == message
    with pytest.raises(TypeError) as theirs:
        official_inputs._to_wire_turn_input(_official_twin(value))
    assert str(theirs.value) == message


def test_external_message_inside_a_list_or_as_a_steer_is_rejected() -> None:
    message = ExternalMessage("tool", "text")
    with pytest.raises(
        TypeError, match=r"unsupported input item: <class 'codex_actors\._inputs\.ExternalMessage'>"
    ):
        wire_turn_input([message])  # type: ignore[list-item]
    with pytest.raises(TypeError, match="unsupported input item"):
        wire_input(message)  # type: ignore[arg-type]


def test_input_types_have_the_official_fields() -> None:
    for ours in (TextInput, ImageInput, LocalImageInput, SkillInput, MentionInput, ExternalMessage):
        theirs = getattr(official_inputs, ours.__name__)
        assert [f.name for f in dataclasses.fields(ours)] == [f.name for f in dataclasses.fields(theirs)]
        assert not hasattr(ours.__new__(ours), "__dict__")  # slots, like the official


# -- inputs: ExternalMessage --------------------------------------------------------------------------------------

EXTERNAL: list[ExternalMessage] = [
    ExternalMessage("search", "plain text result"),
    ExternalMessage("search", ""),
    ExternalMessage("search", "x", namespace="mcp__web"),
    ExternalMessage("search", "x", namespace=""),
    ExternalMessage("search", []),
    ExternalMessage("search", [{"type": "input_text", "text": "hi"}]),
    ExternalMessage("search", ({"type": "input_text", "text": "a tuple is a Sequence"},)),
    ExternalMessage(
        "vision",
        [
            {"type": "input_text", "text": "look"},
            {"type": "input_image", "image_url": "data:image/png;base64,AA", "detail": "high"},
            {"type": "input_image", "file_id": "file-1"},
            {"type": "input_audio", "audio_url": "https://a/b.wav"},
            {"type": "encrypted_content", "encrypted_content": "opaque"},
        ],
        namespace="ns",
    ),
    ExternalMessage("search", [{"type": "input_text", "text": "extra keys dropped", "unknown": 1}]),
]


@pytest.mark.parametrize("message", EXTERNAL, ids=[repr(m) for m in EXTERNAL])
def test_external_message_matches_the_official_sdk(message: ExternalMessage) -> None:
    items, tool_output = wire_turn_input(message)
    assert items == []
    assert tool_output is not None
    assert (items, tool_output) == _official_wire(message)


def test_external_message_wire_form() -> None:
    assert wire_turn_input(ExternalMessage("search", "result")) == ([], {"name": "search", "output": "result"})
    assert wire_turn_input(ExternalMessage("search", "result", namespace="web")) == (
        [],
        {"name": "search", "namespace": "web", "output": "result"},
    )


def test_external_message_tool_output_decodes_as_the_wire_type() -> None:
    _, tool_output = wire_turn_input(ExternalMessage("t", [{"type": "input_text", "text": "x"}], namespace="n"))
    decoded = msgspec.convert(tool_output, TurnToolOutput)
    assert decoded == TurnToolOutput(
        name="t", namespace="n", output=[InputTextFunctionCallOutputContentItem(text="x")]
    )


def test_external_message_accepts_generated_content_items() -> None:
    content: list[FunctionCallOutputContentItem] = [
        InputTextFunctionCallOutputContentItem(text="x"),
        InputImageFunctionCallOutputContentItem(image_url="u", detail=ImageDetail.low),
        InputAudioFunctionCallOutputContentItem(audio_url="a"),
        EncryptedContentFunctionCallOutputContentItem(encrypted_content="e"),
    ]
    _, tool_output = wire_turn_input(ExternalMessage("t", content))
    assert tool_output == {
        "name": "t",
        "output": [
            {"type": "input_text", "text": "x"},
            {"type": "input_image", "image_url": "u", "detail": "low"},
            {"type": "input_audio", "audio_url": "a"},
            {"type": "encrypted_content", "encrypted_content": "e"},
        ],
    }


def test_external_message_tool_output_is_plain_json() -> None:
    _, tool_output = wire_turn_input(
        ExternalMessage("t", [{"type": "input_image", "image_url": "u", "detail": "auto"}])
    )
    assert msgspec.json.decode(msgspec.json.encode(tool_output)) == tool_output
    assert tool_output is not None and type(tool_output["output"][0]["detail"]) is str


@pytest.mark.parametrize("tool_name", ["", " ", "\t\n", None, 5, b"tool"])
def test_external_message_needs_a_nonempty_string_tool_name(tool_name: Any) -> None:
    message = ExternalMessage(tool_name, "content")
    with pytest.raises(ValueError, match=r"^ExternalMessage\.tool_name must be a nonempty string$"):
        wire_turn_input(message)
    with pytest.raises(ValueError, match=r"^ExternalMessage\.tool_name must be a nonempty string$"):
        official_inputs._to_wire_turn_input(official_inputs.ExternalMessage(tool_name, "content"))


def test_tool_name_is_sent_unstripped() -> None:
    _, tool_output = wire_turn_input(ExternalMessage(" search ", "x"))
    assert tool_output == {"name": " search ", "output": "x"}
    assert _official_wire(ExternalMessage(" search ", "x")) == ([], tool_output)


@pytest.mark.parametrize(
    "content",
    [
        5,
        None,
        {"type": "input_text", "text": "a dict is not a list"},
        [5],
        ["plain strings are not items"],
        [{"type": "nope"}],
        [{"type": "input_text"}],
        [{"text": "no type"}],
        [{"type": "input_text", "text": 5}],
        [{"type": "input_image", "image_url": "u", "detail": "ultra"}],
    ],
)
def test_invalid_content_raises_msgspec_validation_error(content: Any) -> None:
    with pytest.raises(msgspec.ValidationError):
        wire_turn_input(ExternalMessage("tool", content))
    with pytest.raises(ValueError):  # the official raises pydantic's ValidationError (a ValueError)
        official_inputs._to_wire_turn_input(official_inputs.ExternalMessage("tool", content))


def test_invalid_namespace_raises_msgspec_validation_error() -> None:
    with pytest.raises(msgspec.ValidationError):
        wire_turn_input(ExternalMessage("tool", "x", namespace=5))  # type: ignore[arg-type]


# -- modes: the enums ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ours", "theirs"), [(ApprovalMode, openai_codex.ApprovalMode), (Sandbox, openai_codex.Sandbox)]
)
def test_enums_have_the_official_members_and_values(ours: Any, theirs: Any) -> None:
    assert [(m.name, m.value) for m in ours] == [(m.name, m.value) for m in theirs]
    for member in ours:
        twin = theirs[member.name]
        assert str(member).split(".", 1)[1] == str(twin).split(".", 1)[1]
        assert member == member.value  # str-valued, as the official
        assert ours(member.value) is member
        assert isinstance(member, str)
    assert issubclass(ours, str)


def test_enum_reprs_match_the_official() -> None:
    assert str(ApprovalMode.deny_all) == "ApprovalMode.deny_all"
    assert str(Sandbox.read_only) == "Sandbox.read_only"
    assert Sandbox("full-access") is Sandbox.full_access
    with pytest.raises(ValueError):
        Sandbox("danger-full-access")


# -- modes: the wire forms ----------------------------------------------------------------------------------------


def _official_approval(mode: openai_codex.ApprovalMode) -> dict[str, Any]:
    policy, reviewer = _approval_mode_settings(mode)
    params = ThreadStartParams(approval_policy=policy, approvals_reviewer=reviewer)
    return params.model_dump(by_alias=True, exclude_none=True, mode="json")


def approval_wire(mode: ApprovalMode | None) -> dict[str, str]:
    policy, reviewer = approval_settings(mode)
    wire = {"approvalPolicy": policy, "approvalsReviewer": reviewer}
    return {key: value for key, value in wire.items() if value is not None}


@pytest.mark.parametrize("mode", list(ApprovalMode), ids=lambda m: m.name)
def test_approval_settings_match_the_official(mode: ApprovalMode) -> None:
    assert approval_wire(mode) == _official_approval(openai_codex.ApprovalMode[mode.name])


def test_approval_settings_exact() -> None:
    assert approval_settings(ApprovalMode.auto_review) == ("on-request", "auto_review")
    assert approval_settings(ApprovalMode.deny_all) == ("never", None)
    assert approval_settings(None) == (None, None)
    with pytest.raises(ValueError, match="approval_mode must be one of"):
        approval_settings(None, inherit=False)


@pytest.mark.parametrize("sandbox", list(Sandbox), ids=lambda s: s.name)
def test_sandbox_mode_matches_the_official(sandbox: Sandbox) -> None:
    theirs = ThreadStartParams(sandbox=_sandbox_mode(openai_codex.Sandbox[sandbox.name]))
    assert {"sandbox": sandbox_mode(sandbox)} == theirs.model_dump(by_alias=True, exclude_none=True, mode="json")


@pytest.mark.parametrize("sandbox", list(Sandbox), ids=lambda s: s.name)
def test_sandbox_policy_matches_the_official(sandbox: Sandbox) -> None:
    policy = _sandbox_policy(openai_codex.Sandbox[sandbox.name])
    assert policy is not None
    assert sandbox_policy(sandbox) == policy.model_dump(by_alias=True, exclude_none=True, mode="json")
    params = TurnStartParams(thread_id="t", input=[], sandbox_policy=policy)
    dumped = params.model_dump(by_alias=True, exclude_none=True, mode="json")
    assert sandbox_policy(sandbox) == dumped["sandboxPolicy"]


def test_sandbox_wire_forms_exact() -> None:
    assert sandbox_mode(Sandbox.read_only) == "read-only"
    assert sandbox_mode(Sandbox.workspace_write) == "workspace-write"
    assert sandbox_mode(Sandbox.full_access) == "danger-full-access"
    assert sandbox_policy(Sandbox.read_only) == {"type": "readOnly", "networkAccess": False}
    assert sandbox_policy(Sandbox.workspace_write) == {
        "type": "workspaceWrite",
        "networkAccess": False,
        "excludeSlashTmp": False,
        "excludeTmpdirEnvVar": False,
        "writableRoots": [],
    }
    assert sandbox_policy(Sandbox.full_access) == {"type": "dangerFullAccess"}


def test_none_sandbox_sends_nothing() -> None:
    assert sandbox_mode(None) is None
    assert sandbox_policy(None) is None
    assert _sandbox_mode(None) is None and _sandbox_policy(None) is None


def test_sandbox_policy_returns_a_fresh_dict() -> None:
    first = sandbox_policy(Sandbox.workspace_write)
    assert first is not None
    first["networkAccess"] = True
    first["type"] = "mutated"
    again = sandbox_policy(Sandbox.workspace_write)
    assert again is not None
    assert again["networkAccess"] is False
    assert again["type"] == "workspaceWrite"


def test_sandbox_policy_nested_values_are_not_shared() -> None:
    first = sandbox_policy(Sandbox.workspace_write)
    assert first is not None
    try:
        first["writableRoots"].append("/tmp/leak")
        again = sandbox_policy(Sandbox.workspace_write)
        assert again is not None
        assert again["writableRoots"] == []
    finally:
        if "/tmp/leak" in first["writableRoots"]:
            first["writableRoots"].remove("/tmp/leak")  # undo the shared mutation for the other tests


# -- modes: non-members -------------------------------------------------------------------------------------------

SANDBOX_ERROR = "sandbox must be one of: Sandbox.read_only, Sandbox.workspace_write, Sandbox.full_access"
APPROVAL_ERROR = "approval_mode must be one of: deny_all, auto_review"
NON_MEMBERS: list[Any] = [
    "read-only",
    "read_only",
    "deny_all",
    "auto_review",
    "danger-full-access",
    "",
    1,
    True,
    object(),
    openai_codex.Sandbox.read_only,  # the official enum is another class
    openai_codex.ApprovalMode.deny_all,
]


@pytest.mark.parametrize("value", NON_MEMBERS, ids=repr)
def test_non_members_raise_value_error_with_the_official_message(value: Any) -> None:
    for function in (sandbox_mode, sandbox_policy):
        with pytest.raises(ValueError) as ours:
            function(value)
        assert str(ours.value) == SANDBOX_ERROR
    with pytest.raises(ValueError) as ours_approval:
        approval_settings(value)
    assert str(ours_approval.value) == APPROVAL_ERROR


@pytest.mark.parametrize("value", ["read-only", "deny_all", 1], ids=repr)
def test_official_messages_for_the_same_non_members(value: Any) -> None:
    with pytest.raises(ValueError, match=f"^{SANDBOX_ERROR}$"):
        _sandbox_mode(value)
    with pytest.raises(ValueError, match=f"^{SANDBOX_ERROR}$"):
        _sandbox_policy(value)
    with pytest.raises(ValueError, match=f"^{APPROVAL_ERROR}$"):
        _approval_mode_settings(value)


def test_a_sandbox_is_not_an_approval_mode_and_vice_versa() -> None:
    with pytest.raises(ValueError, match=APPROVAL_ERROR):
        approval_settings(Sandbox.read_only)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="sandbox must be one of"):
        sandbox_mode(ApprovalMode.deny_all)  # type: ignore[arg-type]
