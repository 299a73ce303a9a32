"""``ApprovalMode`` and ``Sandbox``: the public presets, and their exact wire forms (as the official SDK sends).

* ``ApprovalMode.auto_review``: ``approvalPolicy: "on-request"`` and ``approvalsReviewer: "auto_review"``;
  ``ApprovalMode.deny_all``: ``approvalPolicy: "never"``; ``None``: nothing (the thread's setting stays).
* ``Sandbox`` on a thread (start, resume, fork): ``sandbox: "read-only" | "workspace-write" |
  "danger-full-access"``; on a turn: a ``sandboxPolicy`` object with its defaults spelled out
  (``{type: readOnly, networkAccess: false}``, ``{type: workspaceWrite, ...}``, ``{type: dangerFullAccess}``).

A value that is not a member (the string ``"read-only"``, say) raises ``ValueError`` before anything is sent.
"""

from __future__ import annotations

import copy
from enum import Enum
from typing import Any

__all__ = ["ApprovalMode", "Sandbox"]


class ApprovalMode(str, Enum):  # noqa: UP042 - the official type: str(member) is "ApprovalMode.x"
    """High-level approval behavior for escalated permission requests."""

    deny_all = "deny_all"
    auto_review = "auto_review"


class Sandbox(str, Enum):  # noqa: UP042 - the official type
    """Preset filesystem access levels for threads and turns.

    ``read_only`` allows reads and no writes; ``workspace_write`` allows writes inside the workspace and the
    configured writable roots; ``full_access`` lifts filesystem restrictions.
    """

    read_only = "read-only"
    workspace_write = "workspace-write"
    full_access = "full-access"


#: Each preset's ``(approvalPolicy, approvalsReviewer)``.
_APPROVAL: dict[ApprovalMode, tuple[str, str | None]] = {
    ApprovalMode.auto_review: ("on-request", "auto_review"),
    ApprovalMode.deny_all: ("never", None),
}

_SANDBOX_MODE: dict[Sandbox, str] = {
    Sandbox.read_only: "read-only",
    Sandbox.workspace_write: "workspace-write",
    Sandbox.full_access: "danger-full-access",
}

_SANDBOX_POLICY: dict[Sandbox, dict[str, Any]] = {
    Sandbox.read_only: {"networkAccess": False, "type": "readOnly"},
    Sandbox.workspace_write: {
        "excludeSlashTmp": False,
        "excludeTmpdirEnvVar": False,
        "networkAccess": False,
        "type": "workspaceWrite",
        "writableRoots": [],
    },
    Sandbox.full_access: {"type": "dangerFullAccess"},
}


def approval_settings(mode: ApprovalMode | None, *, inherit: bool = True) -> tuple[str | None, str | None]:
    """The ``(approvalPolicy, approvalsReviewer)`` of an approval preset (``None``: not sent).

    ``None`` gives ``(None, None)`` (inherit the thread's setting), unless ``inherit`` is False
    (``thread_start``, where ``None`` is refused like any non-member).
    """
    if mode is None and inherit:
        return None, None
    if not isinstance(mode, ApprovalMode):
        supported = ", ".join(member.value for member in ApprovalMode)
        raise ValueError(f"approval_mode must be one of: {supported}")
    return _APPROVAL[mode]


def _require(sandbox: Sandbox) -> None:
    if not isinstance(sandbox, Sandbox):
        options = ", ".join(f"Sandbox.{member.name}" for member in Sandbox)
        raise ValueError(f"sandbox must be one of: {options}")


def sandbox_mode(sandbox: Sandbox | None) -> str | None:
    """The thread-level ``sandbox`` string of a preset."""
    if sandbox is None:
        return None
    _require(sandbox)
    return _SANDBOX_MODE[sandbox]


def sandbox_policy(sandbox: Sandbox | None) -> dict[str, Any] | None:
    """The turn-level ``sandboxPolicy`` object of a preset."""
    if sandbox is None:
        return None
    _require(sandbox)
    return copy.deepcopy(_SANDBOX_POLICY[sandbox])  # a fresh object: callers may extend writableRoots
