"""What opening a thread adds to its request: the tools, approval policy and MCP servers of the thread and client.

One home for the rules both facades follow in ``thread_start``/``thread_resume``/``thread_fork``:

* **Tools.** ``thread/start`` announces the client's tools (``CodexConfig.tools``) and the thread's own
  (``tools=``; a thread's tool replaces a client tool of the same name) as ``dynamicTools``. The engine keeps a
  thread's tools with the thread (across ``thread/resume``, in a new engine too) and takes ``dynamicTools`` on
  ``thread/start`` only: ``tools=`` on resume and fork register the handlers, for tools announced when the
  thread started. A fork without ``tools=`` answers with its parent's.
* **Approvals.** A policy (the thread's ``approval_policy=``, or the client's on a new thread) sends the
  thread's ``approvalPolicy`` as the policy's ``ask`` (``"untrusted"`` unless it says otherwise) with
  ``approvalsReviewer: "user"``, so that the engine asks the client, and the policy decides, every escalation.
  It takes precedence over ``approval_mode``.
* **MCP servers.** The client's (``CodexConfig.mcp_servers``) and the thread's own (``mcp_servers=``, which
  replace the client's of the same name) go into the thread's ``config`` overrides (``mcp_servers.<name>``), on
  ``thread/start``, ``thread/resume`` and ``thread/fork``: over the engine's stdin, never its command line.

The thread's own tools and policy are kept on its directory entry (:class:`ThreadServices`), set as soon as the
engine answers, before any turn can start, with the params its ``thread/resume`` sends again when the runtime
resumes it on a restarted engine (the approval settings, the MCP servers): a thread keeps its services across
engine restarts whatever the engine itself keeps.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ._config import CodexConfig
from ._config_layers import merge
from ._mcp import McpServer, check_servers, mcp_config
from ._tool import Tool
from .actors._directory import ThreadDirectory, ThreadServices
from .approvals import ApprovalPolicy, ApprovalPolicyLike, as_policy
from .errors import InvalidInputError

__all__ = ["ThreadSetup"]

#: The requests that make a new thread (a client's policy applies to them).
_NEW_THREAD = frozenset({"thread/start", "thread/fork"})
#: The requests that take a thread's ``config`` (a client's MCP servers go there).
_TAKES_CONFIG = frozenset({"thread/start", "thread/resume", "thread/fork"})


class ThreadSetup:
    """The services one thread-opening request asks for: applied to its params, then kept for its thread."""

    __slots__ = ("_parent", "_services")

    def __init__(
        self,
        config: CodexConfig,
        method: str,
        params: dict[str, Any],
        *,
        tools: Sequence[Tool] | None = None,
        approval_policy: ApprovalPolicyLike | None = None,
        mcp_servers: Mapping[str, McpServer] | None = None,
    ) -> None:
        """Check the arguments (``InvalidInputError`` naming the bad one) and lay them into ``params``."""
        own_tools = _tools(tools)
        policy = None if approval_policy is None else _policy(approval_policy)
        if method == "thread/start":
            announced = {tool.name: tool for tool in _tools(config.tools, "CodexConfig.tools").values()}
            announced.update(own_tools)
            if announced:
                params["dynamicTools"] = [tool.spec() for tool in announced.values()]
        effective = policy
        if effective is None and method in _NEW_THREAD and config.approval_policy is not None:
            effective = _policy(config.approval_policy, "CodexConfig.approval_policy")
        resume: dict[str, Any] = {}
        if effective is not None:
            resume["approvalPolicy"] = params["approvalPolicy"] = effective.ask
            resume["approvalsReviewer"] = params["approvalsReviewer"] = "user"
        servers: dict[str, McpServer] = {}
        if method in _TAKES_CONFIG and config.mcp_servers:
            servers.update(config.mcp_servers)  # checked by CodexConfig
        if mcp_servers is not None:
            servers.update(_servers(mcp_servers))  # a thread's server replaces the client's of its name
        if servers:
            params["config"] = merge(params.get("config"), {"mcp_servers": mcp_config(servers)})
            resume["config"] = {"mcp_servers": params["config"]["mcp_servers"]}
        #: A fork given no tools or policy of its own answers with its parent's.
        self._parent: str | None = params.get("threadId") if method == "thread/fork" else None
        wanted = own_tools or policy is not None or resume
        self._services = ThreadServices(own_tools, policy, resume) if wanted else None

    def keep(self, directory: ThreadDirectory, thread_id: str) -> None:
        """Keep the thread's own services on its entry (the caller holds the thread's address meanwhile)."""
        services = self._services
        if self._parent is not None:
            parent = directory.find(self._parent)
            inherited = None if parent is None else parent.services
            if inherited is not None:
                services = ThreadServices(
                    {**inherited.tools, **(services.tools if services else {})},
                    services.approval_policy
                    if services and services.approval_policy
                    else inherited.approval_policy,
                )
        if services is not None:  # given nothing, a resumed thread keeps what it had in this process
            directory.entry(thread_id).services = services


def _tools(tools: Sequence[Tool] | None, field: str = "tools") -> dict[str, Tool]:
    """``{name: tool}``, refusing what is not a :class:`Tool` and names given twice."""
    if tools is None:
        return {}
    if isinstance(tools, Tool | str) or not isinstance(tools, Sequence):
        raise InvalidInputError(field, f"expected a list of @tool functions, got {type(tools).__name__}")
    named: dict[str, Tool] = {}
    for index, tool in enumerate(tools):
        if not isinstance(tool, Tool):
            raise InvalidInputError(f"{field}[{index}]", f"expected a @tool function, got {tool!r}")
        if tool.name in named:
            raise InvalidInputError(f"{field}[{index}]", f"a second tool named {tool.name!r}")
        named[tool.name] = tool
    return named


def _policy(value: ApprovalPolicyLike, field: str = "approval_policy") -> ApprovalPolicy:
    try:
        return as_policy(value)
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(field, str(exc)) from None


def _servers(value: Mapping[str, McpServer]) -> dict[str, McpServer]:
    try:
        return check_servers(value, "mcp_servers")
    except (TypeError, ValueError) as exc:
        raise InvalidInputError("mcp_servers", str(exc)) from None
