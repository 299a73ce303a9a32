"""The wire params of every public call, built in one place for the sync and the async facade.

Each builder takes the public keyword arguments (already validated types) and returns the JSON-ready dict the
official SDK sends: camelCase keys, ``None`` values left out, enums as their values.
"""

from __future__ import annotations

from typing import Any

from ._inputs import RunInput, wire_turn_input
from ._modes import ApprovalMode, Sandbox, approval_params, sandbox_mode, sandbox_policy
from ._structured import output_schema_for
from .models import JsonObject

__all__ = ["params", "thread_fork", "thread_list", "thread_resume", "thread_start", "turn_start"]


def _value(value: Any) -> Any:
    return value.value if hasattr(value, "value") else value


def params(**values: Any) -> dict[str, Any]:
    """Wire params with the ``None`` values left out (the official SDK's ``exclude_none``) and enums unwrapped."""
    return {key: _value(value) for key, value in values.items() if value is not None}


def thread_start(
    *,
    approval_mode: ApprovalMode,
    base_instructions: str | None,
    config: JsonObject | None,
    cwd: str | None,
    developer_instructions: str | None,
    ephemeral: bool | None,
    model: str | None,
    model_provider: str | None,
    personality: Any,
    sandbox: Sandbox | None,
    service_name: str | None,
    service_tier: str | None,
    session_start_source: Any,
    thread_source: str | None,
) -> dict[str, Any]:
    """``thread/start``: ``{"approvalPolicy": "on-request", "approvalsReviewer": "auto_review"}`` by default."""
    return params(
        **approval_params(approval_mode, inherit=False),
        baseInstructions=base_instructions,
        config=config,
        cwd=cwd,
        developerInstructions=developer_instructions,
        ephemeral=ephemeral,
        model=model,
        modelProvider=model_provider,
        personality=personality,
        sandbox=sandbox_mode(sandbox),
        serviceName=service_name,
        serviceTier=service_tier,
        sessionStartSource=session_start_source,
        threadSource=thread_source,
    )


def thread_list(
    *,
    archived: bool | None,
    cursor: str | None,
    cwd: Any,
    limit: int | None,
    model_providers: list[str] | None,
    search_term: str | None,
    section_id: str | None,
    sort_direction: Any,
    sort_key: Any,
    source_kinds: list[Any] | None,
    use_state_db_only: bool | None,
) -> dict[str, Any]:
    """``thread/list``: only the filters given."""
    return params(
        archived=archived,
        cursor=cursor,
        cwd=cwd,
        limit=limit,
        modelProviders=model_providers,
        searchTerm=search_term,
        sectionId=section_id,
        sortDirection=sort_direction,
        sortKey=sort_key,
        sourceKinds=None if source_kinds is None else [_value(kind) for kind in source_kinds],
        useStateDbOnly=use_state_db_only,
    )


def _exclude_turns(include_turns: bool | None) -> bool | None:
    return None if include_turns is None else not include_turns


def thread_resume(
    thread_id: str,
    *,
    approval_mode: ApprovalMode | None,
    base_instructions: str | None,
    config: JsonObject | None,
    cwd: str | None,
    developer_instructions: str | None,
    include_turns: bool | None,
    model: str | None,
    model_provider: str | None,
    personality: Any,
    sandbox: Sandbox | None,
    service_tier: str | None,
) -> dict[str, Any]:
    """``thread/resume``: ``approval_mode=None`` sends no approval fields (the stored setting stays)."""
    return params(
        threadId=thread_id,
        **approval_params(approval_mode),
        baseInstructions=base_instructions,
        config=config,
        cwd=cwd,
        developerInstructions=developer_instructions,
        excludeTurns=_exclude_turns(include_turns),
        model=model,
        modelProvider=model_provider,
        personality=personality,
        sandbox=sandbox_mode(sandbox),
        serviceTier=service_tier,
    )


def thread_fork(
    thread_id: str,
    *,
    approval_mode: ApprovalMode | None,
    base_instructions: str | None,
    config: JsonObject | None,
    cwd: str | None,
    developer_instructions: str | None,
    ephemeral: bool | None,
    include_turns: bool | None,
    model: str | None,
    model_provider: str | None,
    sandbox: Sandbox | None,
    service_tier: str | None,
    thread_source: str | None,
) -> dict[str, Any]:
    """``thread/fork``: as resume, plus ``ephemeral`` and ``threadSource``."""
    return params(
        threadId=thread_id,
        **approval_params(approval_mode),
        baseInstructions=base_instructions,
        config=config,
        cwd=cwd,
        developerInstructions=developer_instructions,
        ephemeral=ephemeral,
        excludeTurns=_exclude_turns(include_turns),
        model=model,
        modelProvider=model_provider,
        sandbox=sandbox_mode(sandbox),
        serviceTier=service_tier,
        threadSource=thread_source,
    )


def turn_start(
    input: RunInput,
    *,
    approval_mode: ApprovalMode | None,
    cwd: str | None,
    effort: str | None,
    model: str | None,
    output_schema: JsonObject | None,
    personality: Any,
    sandbox: Sandbox | None,
    service_tier: str | None,
    source: str | None,
    summary: Any,
    turn_service_tier: str | None,
    output_type: Any = None,
) -> dict[str, Any]:
    """``turn/start`` params without ``threadId``.

    ``source`` is sent as ``turnTrigger``, ``turn_service_tier`` as ``serviceTierForTurn``, and an
    ``ExternalMessage`` as ``input: []`` plus ``toolOutput``. With an ``output_type`` and no ``output_schema``,
    the schema is the type's (see :mod:`codex_actors._structured`).
    """
    if output_schema is None and output_type is not None:
        output_schema = output_schema_for(output_type)
    items, tool_output = wire_turn_input(input)
    return params(
        input=items,
        **approval_params(approval_mode),
        cwd=cwd,
        effort=effort,
        model=model,
        outputSchema=output_schema,
        personality=personality,
        sandboxPolicy=sandbox_policy(sandbox),
        serviceTier=service_tier,
        turnTrigger=source,
        summary=summary,
        serviceTierForTurn=turn_service_tier,
        toolOutput=tool_output,
    )
