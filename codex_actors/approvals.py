"""Approval policies: who decides what the engine may do on a thread's behalf.

Under an asking ``approvalPolicy`` (``"untrusted"``, ``"on-request"``...) the engine asks the client before it
runs a command, applies a patch, widens the sandbox or calls an MCP tool. An :class:`ApprovalPolicy` answers:
it gets one typed request (:class:`CommandApproval`, :class:`FileChangeApproval`, :class:`PermissionsApproval`,
:class:`McpToolApproval`) and returns an :class:`ApprovalDecision` (or its string value).

A policy is a plain function, an ``async def`` function, or a ``pykka.ActorRef`` (asked with the request; it
answers the decision). It may take its time (a person may be asked): it runs off the SDK's threads, and other
threads' turns go on meanwhile. A policy that raises, times out (``CodexConfig.approval_timeout_s``) or answers
something that is not a decision *declines* (fails closed), with a WARNING on the ``codex_actors.approvals``
logger.

Ready-made: :data:`allow_all`, :data:`deny_all`, :func:`allow_commands`, :func:`allow_writes_under`.

Example::

    from codex_actors.approvals import ApprovalDecision, CommandApproval, policy

    @policy(ask="untrusted")
    def only_git(request):
        if isinstance(request, CommandApproval) and request.argv[:1] == ("git",):
            return ApprovalDecision.accept
        return "decline"
"""

from __future__ import annotations

import inspect
import os
import re
import shlex
from collections.abc import Awaitable, Callable, Iterable, Sequence
from enum import Enum
from typing import Any, TypeAlias

import msgspec
import pykka

__all__ = [
    "ApprovalDecision",
    "ApprovalPolicy",
    "ApprovalPolicyLike",
    "ApprovalRequest",
    "CommandApproval",
    "FileChangeApproval",
    "McpToolApproval",
    "PermissionsApproval",
    "allow_all",
    "allow_commands",
    "allow_writes_under",
    "as_decision",
    "as_policy",
    "deny_all",
    "policy",
]


class ApprovalDecision(str, Enum):  # noqa: UP042 - like the official enums
    """What a policy decides (a policy may return the string values too).

    ``accept`` lets this one action run; ``accept_for_session`` lets it and the engine stops asking about the
    same kind of action for the rest of the session; ``decline`` refuses it (the turn goes on and the model
    is told); ``cancel`` refuses it and ends the turn.
    """

    accept = "accept"
    accept_for_session = "acceptForSession"
    decline = "decline"
    cancel = "cancel"


def as_decision(value: object) -> ApprovalDecision | None:
    """``value`` as an :class:`ApprovalDecision` (the enum or its string value); ``None`` if it is neither."""
    if isinstance(value, ApprovalDecision):
        return value
    if isinstance(value, str):
        try:
            return ApprovalDecision(value)
        except ValueError:
            return None
    return None


# -- the requests -------------------------------------------------------------------------------------------------


class CommandApproval(msgspec.Struct, frozen=True, kw_only=True):
    """The engine asks to run a shell command.

    ``command`` is the command line as the engine will run it (e.g. ``/bin/bash -lc 'touch made.txt'``);
    ``argv`` the words of what the model asked for (the shell wrapper taken off, e.g. ``("touch", "made.txt")``;
    empty when it cannot be split into plain words, e.g. it uses pipes or ``$(...)``); ``script`` the unwrapped
    command string. ``raw`` holds the request's params as sent.
    """

    thread_id: str
    turn_id: str | None
    item_id: str | None
    command: str | None
    cwd: str | None
    reason: str | None
    script: str | None
    argv: tuple[str, ...]
    raw: dict[str, Any]


class FileChangeApproval(msgspec.Struct, frozen=True, kw_only=True):
    """The engine asks to apply a patch (add, change, move or delete files).

    ``paths`` are the files the patch touches, absolute as the engine reports them (a move counts its source
    and its destination). The engine's approval request names only the item, so the paths come from the
    ``fileChange`` item the engine announced just before; ``paths_known`` is False when that item was not seen
    (a policy about paths should then decline, as :func:`allow_writes_under` does). ``grant_root`` is set when
    the engine asks to allow writes under a whole directory for the session.
    """

    thread_id: str
    turn_id: str | None
    item_id: str | None
    paths: tuple[str, ...]
    paths_known: bool
    reason: str | None
    grant_root: str | None
    raw: dict[str, Any]


class PermissionsApproval(msgspec.Struct, frozen=True, kw_only=True):
    """The engine asks for more permissions than the thread's sandbox gives (file system, network).

    ``permissions`` is the requested profile as sent (``{"fileSystem": {...}, "network": {"enabled": true}}``);
    accepting grants exactly that (for the turn, or the session with ``accept_for_session``); declining grants
    nothing.
    """

    thread_id: str
    turn_id: str | None
    item_id: str | None
    cwd: str | None
    reason: str | None
    permissions: dict[str, Any]
    raw: dict[str, Any]


class McpToolApproval(msgspec.Struct, frozen=True, kw_only=True):
    """The engine asks whether an MCP server's tool may be called (``server``, ``tool``, ``arguments``).

    ``tool`` is read from the engine's prompt (``None`` if it could not be); ``message`` is that prompt.
    """

    thread_id: str
    turn_id: str | None
    server: str
    tool: str | None
    arguments: dict[str, Any]
    message: str | None
    raw: dict[str, Any]


#: Any request a policy may get.
ApprovalRequest: TypeAlias = CommandApproval | FileChangeApproval | PermissionsApproval | McpToolApproval


# -- policies -----------------------------------------------------------------------------------------------------


class ApprovalPolicy:
    """A decision function, and when the engine should ask it (``ask``: the thread's ``approvalPolicy``).

    ``decide`` gets an :data:`ApprovalRequest` and returns an :class:`ApprovalDecision` or its string value;
    it may be an ``async def`` function or a ``pykka.ActorRef`` (asked with the request). ``ask`` is sent as
    ``approvalPolicy`` on ``thread/start``: ``"untrusted"`` (the default: everything but known-safe reads is
    asked about), ``"on-request"`` (the model decides when to ask), ``"on-failure"``, ``"never"``. ``name``
    names it in logs and telemetry.
    """

    __slots__ = ("ask", "decide", "name")

    def __init__(
        self,
        decide: Callable[[Any], Any] | pykka.ActorRef[Any],
        *,
        ask: str = "untrusted",
        name: str | None = None,
    ) -> None:
        if not callable(decide) and not isinstance(decide, pykka.ActorRef):
            raise TypeError(f"an approval policy must be callable or a pykka ActorRef, got {decide!r}")
        self.decide = decide
        self.ask = ask
        self.name = name or _name_of(decide)

    def __call__(self, request: ApprovalRequest) -> Any:
        """Decide ``request``: what ``decide`` returns (a decision, or an awaitable of one); an actor is asked."""
        decide = self.decide
        if isinstance(decide, pykka.ActorRef):
            return decide.ask(request)
        return decide(request)

    @property
    def is_async(self) -> bool:
        """Whether ``decide`` is a coroutine function (it runs on an event loop, not on a thread)."""
        decide = self.decide
        if isinstance(decide, pykka.ActorRef):
            return False
        call = getattr(type(decide), "__call__", None)  # noqa: B004 - an object whose __call__ is async
        return inspect.iscoroutinefunction(decide) or inspect.iscoroutinefunction(call)

    def __repr__(self) -> str:
        return f"ApprovalPolicy({self.name}, ask={self.ask!r})"


#: What may be given where a policy is expected: a policy, a function (sync or async) or an actor.
ApprovalPolicyLike: TypeAlias = (
    ApprovalPolicy
    | Callable[[Any], "ApprovalDecision | str"]
    | Callable[[Any], "Awaitable[ApprovalDecision | str]"]
    | pykka.ActorRef[Any]
)


def as_policy(value: ApprovalPolicyLike) -> ApprovalPolicy:
    """``value`` as an :class:`ApprovalPolicy` (a plain function or an actor asks under ``"untrusted"``)."""
    return value if isinstance(value, ApprovalPolicy) else ApprovalPolicy(value)


def policy(*, ask: str = "untrusted", name: str | None = None) -> Callable[[Callable[[Any], Any]], ApprovalPolicy]:
    """Decorator: the function as an :class:`ApprovalPolicy` with ``ask`` and ``name``."""

    def wrap(decide: Callable[[Any], Any]) -> ApprovalPolicy:
        return ApprovalPolicy(decide, ask=ask, name=name)

    return wrap


def _name_of(decide: object) -> str:
    if isinstance(decide, pykka.ActorRef):
        return f"actor {decide.actor_class.__name__}"
    return str(getattr(decide, "__qualname__", None) or getattr(type(decide), "__qualname__", "policy"))


def _accept(_request: ApprovalRequest) -> ApprovalDecision:
    return ApprovalDecision.accept


def _decline(_request: ApprovalRequest) -> ApprovalDecision:
    return ApprovalDecision.decline


#: Accepts every request (commands, file changes, permissions, MCP tool calls).
allow_all = ApprovalPolicy(_accept, name="allow_all")
#: Declines every request (the turn goes on; the model is told each time).
deny_all = ApprovalPolicy(_decline, name="deny_all")


# -- allow_commands -----------------------------------------------------------------------------------------------

_SHELLS = frozenset({"bash", "sh", "zsh", "dash", "ksh"})
_SHELL_FLAGS = frozenset({"-c", "-lc", "-cl", "-ic", "-ci"})
#: Characters that make a command string more than one plain command (never accepted by a prefix).
_UNSAFE = re.compile(r"[;&|<>`$(){}\n\r*?\[\]~!#\\]")


def _unwrap_shell(command: str) -> str:
    """The script of ``<shell> -lc '<script>'`` (the command itself when it is not so wrapped)."""
    try:
        words = shlex.split(command)
    except ValueError:
        return command
    if len(words) == 3 and os.path.basename(words[0]) in _SHELLS and words[1] in _SHELL_FLAGS:
        return words[2]
    return command


def _command_words(script: str) -> tuple[str, ...]:
    """The words of ``script`` if it is one plain command (no operators, expansions or globs), else ``()``."""
    if _UNSAFE.search(script):
        return ()
    try:
        return tuple(shlex.split(script))
    except ValueError:
        return ()


def _prefix_words(prefix: str | Sequence[str]) -> tuple[str, ...]:
    words = tuple(shlex.split(prefix)) if isinstance(prefix, str) else tuple(prefix)
    if not words or not all(isinstance(word, str) and word for word in words):
        raise ValueError(f"a command prefix needs at least one word, got {prefix!r}")
    return words


def allow_commands(*prefixes: str | Sequence[str], ask: str = "untrusted") -> ApprovalPolicy:
    """Accept commands that start with one of ``prefixes`` (word by word); decline everything else.

    A prefix is a string (``"git status"``) or a sequence of words (``("git", "status")``); ``"git"`` allows
    ``git log`` but not ``gitk``. A command is compared by its words once the shell wrapper is taken off; one
    that is not a single plain command (``;``, ``&&``, pipes, redirections, ``$(...)``, globs...) never
    matches, so ``git log; rm -rf x`` is declined. File changes, permissions and MCP tool calls are declined.
    """
    if not prefixes:
        raise ValueError("allow_commands needs at least one prefix")
    allowed = tuple(_prefix_words(prefix) for prefix in prefixes)

    def decide(request: ApprovalRequest) -> ApprovalDecision:
        if isinstance(request, CommandApproval) and request.argv:
            argv = request.argv
            if any(argv[: len(words)] == words for words in allowed):
                return ApprovalDecision.accept
        return ApprovalDecision.decline

    shown = ", ".join(" ".join(words) for words in allowed)
    return ApprovalPolicy(decide, ask=ask, name=f"allow_commands({shown})")


# -- allow_writes_under -------------------------------------------------------------------------------------------


def _resolve(path: str | os.PathLike[str]) -> str:
    return os.path.realpath(os.path.expanduser(os.fspath(path)))


def _is_under(path: str, roots: Iterable[str]) -> bool:
    """Whether the absolute ``path``, resolved (``..`` and symbolic links), is one of ``roots`` or inside one.

    ``roots`` must be resolved already. A relative ``path`` is never under anything.
    """
    if not os.path.isabs(path):
        return False
    resolved = _resolve(path)
    return any(resolved == root or os.path.commonpath((resolved, root)) == root for root in roots)


def allow_writes_under(*paths: str | os.PathLike[str], ask: str = "untrusted") -> ApprovalPolicy:
    """Accept file changes whose every path lies under one of ``paths``; decline everything else.

    Paths are compared resolved (``~``, ``..`` and symbolic links), so ``root/../elsewhere`` is not under
    ``root``. A change whose paths are not known, or are relative, is declined; so is a request for a
    ``grant_root`` outside ``paths``. Commands, permissions and MCP tool calls are declined.
    """
    if not paths:
        raise ValueError("allow_writes_under needs at least one path")
    roots = tuple(_resolve(path) for path in paths)

    def decide(request: ApprovalRequest) -> ApprovalDecision:
        if not isinstance(request, FileChangeApproval) or not request.paths_known or not request.paths:
            return ApprovalDecision.decline
        if request.grant_root is not None and not _is_under(request.grant_root, roots):
            return ApprovalDecision.decline
        if all(_is_under(path, roots) for path in request.paths):
            return ApprovalDecision.accept
        return ApprovalDecision.decline

    return ApprovalPolicy(decide, ask=ask, name=f"allow_writes_under({', '.join(roots)})")
