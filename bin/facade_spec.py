"""The facade's flat keyword methods, declared once: the input of ``bin/generate-facade``.

Each :class:`Method` is one public method of the sync facade (``Codex``, ``Thread``, ``TurnHandle``); its async
twin (``AsyncCodex``, ...) is generated from the same entry. Each :class:`Param` is one keyword of it, and one line
here. A param fills the generated params Struct's field of the same name (from
``codex_actors/_protocol/generated.py``, whose wire names and types it takes) unless it says otherwise. What a
param does not say comes from that field: its annotation, and ``None`` as the default.

The order of ``params`` is the signature's (the official SDK's, then this project's additions, which must have
defaults). To add an engine option to ``Thread.run``/``Thread.turn`` (and their async twins), add one line to
``TURN``; then run ``bin/generate-facade``.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Param:
    """One parameter of a flat method.

    * ``annotation``: the public annotation (default: the params field's annotation).
    * ``default``: the default as source text; ``REQUIRED`` for none.
    * ``fields``: ``{params field: expression}`` (default: ``{name: name}``); empty for a param that fills no
      field itself (the hook gets it, see :attr:`Method.hook_args`).
    * ``prelude``: a statement run before the params are built (a conversion shared by several fields).
    * ``positional``: before the ``*`` (default: keyword-only).
    """

    name: str
    annotation: str | None = None
    default: str = "None"
    fields: dict[str, str] | None = None
    prelude: str | None = None
    positional: bool = False


REQUIRED = "<required>"


@dataclass(frozen=True)
class Method:
    """One flat method: ``owner`` (a sync facade class), its name, the params Struct it builds, what it returns.

    The body builds ``params_type(**fields)`` and returns ``self.<hook>(<hook_args>)``: ``hook_args`` may name
    ``params`` and any parameter.
    """

    owner: str
    name: str
    params_type: str
    returns: str
    doc: str
    hook: str
    hook_args: tuple[str, ...] = ("params",)
    params: tuple[Param, ...] = ()
    fixed: dict[str, str] = field(default_factory=dict)


# -- conversions shared by several methods ------------------------------------------------------------------------


def approval_mode(*, default: str = "None", inherit: bool = True) -> Param:
    """``approval_mode``: an ``ApprovalMode`` preset, sent as ``approvalPolicy`` and ``approvalsReviewer``."""
    annotation = "ApprovalMode" if default != "None" else "ApprovalMode | None"
    call = "approval_settings(approval_mode)" if inherit else "approval_settings(approval_mode, inherit=False)"
    return Param(
        "approval_mode",
        annotation,
        default,
        fields={"approval_policy": "wire_policy", "approvals_reviewer": "wire_reviewer"},
        prelude=f"wire_policy, wire_reviewer = {call}",
    )


#: ``sandbox`` on a thread: the ``sandbox`` mode string.
THREAD_SANDBOX = Param("sandbox", "Sandbox | None", fields={"sandbox": "sandbox_mode(sandbox)"})
#: ``sandbox`` on a turn: the ``sandboxPolicy`` object.
TURN_SANDBOX = Param("sandbox", "Sandbox | None", fields={"sandbox_policy": "sandbox_policy(sandbox)"})
#: ``include_turns``: sent inverted, as ``excludeTurns``.
INCLUDE_TURNS = Param(
    "include_turns",
    "bool | None",
    fields={"exclude_turns": "None if include_turns is None else not include_turns"},
)
CONFIG = Param("config", "JsonObject | None")
#: This project's thread services (after the official params): given to ``_open_thread``, which lays them in.
TOOLS = Param("tools", "Sequence[Tool] | None", fields={})
APPROVAL_POLICY = Param("approval_policy", "ApprovalPolicyLike | None", fields={})
MCP_SERVERS = Param("mcp_servers", "Mapping[str, McpServer] | None", fields={})
THREAD_ID = Param("thread_id", "str", REQUIRED, positional=True)


# -- Codex / AsyncCodex -----------------------------------------------------------------------------------------

CODEX = (
    Method(
        "Codex",
        "thread_start",
        "ThreadStartParams",
        "Thread",
        "Create a new Codex conversation thread.",
        hook="_open_thread",
        hook_args=('"thread/start"', "params", "tools", "approval_policy", "mcp_servers"),
        params=(
            approval_mode(default="ApprovalMode.auto_review", inherit=False),
            Param("base_instructions"),
            CONFIG,
            Param("cwd"),
            Param("developer_instructions"),
            Param("ephemeral"),
            Param("model"),
            Param("model_provider"),
            Param("personality"),
            THREAD_SANDBOX,
            Param("service_name"),
            Param("service_tier"),
            Param("session_start_source"),
            Param("thread_source"),
            TOOLS,
            APPROVAL_POLICY,
            MCP_SERVERS,
        ),
    ),
    Method(
        "Codex",
        "thread_list",
        "ThreadListParams",
        "ThreadListResponse",
        "List saved conversation threads.",
        hook="_call",
        hook_args=('"thread/list"', "params", "ThreadListResponse"),
        params=(
            Param("archived"),
            Param("cursor"),
            Param("cwd"),
            Param("limit"),
            Param("model_providers"),
            Param("search_term"),
            Param("section_id"),
            Param("sort_direction"),
            Param("sort_key"),
            Param("source_kinds"),
            Param("use_state_db_only"),
        ),
    ),
    Method(
        "Codex",
        "thread_resume",
        "ThreadResumeParams",
        "Thread",
        "Resume an existing conversation thread by id.",
        hook="_open_thread",
        hook_args=('"thread/resume"', "params", "tools", "approval_policy", "mcp_servers"),
        params=(
            THREAD_ID,
            approval_mode(),
            Param("base_instructions"),
            CONFIG,
            Param("cwd"),
            Param("developer_instructions"),
            INCLUDE_TURNS,
            Param("model"),
            Param("model_provider"),
            Param("personality"),
            THREAD_SANDBOX,
            Param("service_tier"),
            TOOLS,
            APPROVAL_POLICY,
            MCP_SERVERS,
        ),
    ),
    Method(
        "Codex",
        "thread_fork",
        "ThreadForkParams",
        "Thread",
        "Fork an existing conversation thread into a new thread.",
        hook="_open_thread",
        hook_args=('"thread/fork"', "params", "tools", "approval_policy"),
        params=(
            THREAD_ID,
            approval_mode(),
            Param("base_instructions"),
            CONFIG,
            Param("cwd"),
            Param("developer_instructions"),
            Param("ephemeral"),
            INCLUDE_TURNS,
            Param("model"),
            Param("model_provider"),
            THREAD_SANDBOX,
            Param("service_tier"),
            Param("thread_source"),
            TOOLS,
            APPROVAL_POLICY,
        ),
    ),
    Method(
        "Codex",
        "thread_archive",
        "ThreadArchiveParams",
        "ThreadArchiveResponse",
        "Archive a thread (the engine also unloads it).",
        hook="_call",
        hook_args=('"thread/archive"', "params", "ThreadArchiveResponse"),
        params=(THREAD_ID,),
    ),
    Method(
        "Codex",
        "thread_unarchive",
        "ThreadUnarchiveParams",
        "Thread",
        "Unarchive a thread and return it.",
        hook="_open_thread",
        hook_args=('"thread/unarchive"', "params"),
        params=(THREAD_ID,),
    ),
    Method(
        "Codex",
        "models",
        "ModelListParams",
        "ModelListResponse",
        "List the models the engine offers.",
        hook="_call",
        hook_args=('"model/list"', "params", "ModelListResponse"),
        params=(Param("include_hidden", "bool", "False"),),
    ),
    Method(
        "Codex",
        "account",
        "GetAccountParams",
        "GetAccountResponse",
        "Read the current Codex account state.",
        hook="_call",
        hook_args=('"account/read"', "params", "GetAccountResponse"),
        params=(Param("refresh_token", "bool", "False"),),
    ),
)

# -- Thread / AsyncThread ---------------------------------------------------------------------------------------

#: The keywords of ``Thread.run`` and ``Thread.turn``, in the official order, then this project's additions.
TURN = (
    Param(
        "input",
        "RunInput",
        REQUIRED,
        fields={"input": "items", "tool_output": "tool_output"},
        prelude="items, tool_output = wire_turn_input(input)",
        positional=True,
    ),
    approval_mode(),
    Param("cwd"),
    Param("effort"),
    Param("model"),
    Param(
        "output_schema",
        "JsonObject | None",
        fields={"output_schema": "output_schema_of(output_schema, output_type)"},
    ),
    Param("personality"),
    TURN_SANDBOX,
    Param("service_tier"),
    Param("source", "str | None", fields={"turn_trigger": "source"}),
    Param("summary"),
    Param("turn_service_tier", "str | None", fields={"service_tier_for_turn": "turn_service_tier"}),
    # codex-actors' own: validate the final response into this type (and ask for its JSON Schema).
    Param("output_type", "Any", fields={}),
)

THREAD = (
    Method(
        "Thread",
        "run",
        "TurnStartParams",
        "TurnResult",
        "Run a complete turn and return its result (``turn(...).run()``).",
        hook="_run",
        hook_args=("params", "output_type"),
        params=TURN,
        fixed={"thread_id": "self.id"},
    ),
    Method(
        "Thread",
        "turn",
        "TurnStartParams",
        "TurnHandle",
        "Start a turn, or join the thread's active turn, and return its handle.\n\n"
        "``source`` labels what started a new turn and ``turn_service_tier`` applies to this turn only; both are\n"
        "ignored when joining. An :class:`~codex_actors.ExternalMessage` supplies untrusted content with\n"
        "tool-level authority.",
        hook="_turn",
        hook_args=("params", "output_type"),
        params=TURN,
        fixed={"thread_id": "self.id"},
    ),
    Method(
        "Thread",
        "read",
        "ThreadReadParams",
        "ThreadReadResponse",
        "Read this thread, optionally with its turns.",
        hook="_call",
        hook_args=('"thread/read"', "params", "ThreadReadResponse"),
        params=(Param("include_turns", "bool", "False"),),
        fixed={"thread_id": "self.id"},
    ),
    Method(
        "Thread",
        "set_name",
        "ThreadSetNameParams",
        "ThreadSetNameResponse",
        "Name this thread.",
        hook="_call",
        hook_args=('"thread/name/set"', "params", "ThreadSetNameResponse"),
        params=(Param("name", "str", REQUIRED, positional=True),),
        fixed={"thread_id": "self.id"},
    ),
    Method(
        "Thread",
        "compact",
        "ThreadCompactStartParams",
        "ThreadCompactStartResponse",
        "Start compacting this thread's history.",
        hook="_call",
        hook_args=('"thread/compact/start"', "params", "ThreadCompactStartResponse"),
        fixed={"thread_id": "self.id"},
    ),
)

# -- TurnHandle / AsyncTurnHandle -------------------------------------------------------------------------------

TURN_HANDLE = (
    Method(
        "TurnHandle",
        "steer",
        "TurnSteerParams",
        "TurnSteerResponse",
        "Send more user input to this active turn.",
        hook="_call",
        hook_args=('"turn/steer"', "params", "TurnSteerResponse"),
        params=(Param("input", "Input | str", REQUIRED, fields={"input": "wire_input(input)"}, positional=True),),
        fixed={"thread_id": "self.thread_id", "expected_turn_id": "self.id"},
    ),
    Method(
        "TurnHandle",
        "interrupt",
        "TurnInterruptParams",
        "TurnInterruptResponse",
        "Ask the engine to interrupt this turn (it then completes with status ``interrupted``).",
        hook="_call",
        hook_args=('"turn/interrupt"', "params", "TurnInterruptResponse"),
        fixed={"thread_id": "self.thread_id", "turn_id": "self.id"},
    ),
)

#: Every flat method, by the sync class that owns it.
METHODS: dict[str, tuple[Method, ...]] = {"Codex": CODEX, "Thread": THREAD, "TurnHandle": TURN_HANDLE}

#: The async twin of each sync class (and of each handle a method returns).
ASYNC_NAMES = {"Codex": "AsyncCodex", "Thread": "AsyncThread", "TurnHandle": "AsyncTurnHandle"}

#: Where the helpers named in expressions come from (the generated import block imports what is used).
HELPERS = {
    "approval_settings": "._modes",
    "sandbox_mode": "._modes",
    "sandbox_policy": "._modes",
    "wire_turn_input": "._inputs",
    "wire_input": "._inputs",
    "output_schema_of": "._structured",
}
#: Where the names used in annotations come from, when they are not generated protocol types.
ANNOTATION_SOURCES = {
    "Any": "typing",
    "ApprovalMode": "._modes",
    "Sandbox": "._modes",
    "JsonObject": ".models",
    "RunInput": "._inputs",
    "Input": "._inputs",
    "TurnResult": "._results",
    "Tool": "._tool",
    "McpServer": "._mcp",
    "ApprovalPolicyLike": ".approvals",
}
