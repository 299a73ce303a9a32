"""ChatGPT login handles: the live login attempts ``login_chatgpt*()`` return, sync and async.

``wait()`` returns the attempt's ``account/login/completed`` (it does not raise for a failed login: see
``success``/``error``). A completion that arrives before ``wait()`` is kept for it. Unlike the official SDK,
``wait`` takes an optional ``timeout`` (``TimeoutError`` after it) and fails with ``TransportClosedError`` if the
runtime stops, so it never blocks forever.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ._async_runtime import AsyncRuntime
from ._protocol.generated import AccountLoginCompletedNotification, CancelLoginAccountResponse
from ._protocol.jsonrpc import decode_payload
from ._sync_runtime import SyncRuntime

__all__ = [
    "AsyncChatgptLoginHandle",
    "AsyncDeviceCodeLoginHandle",
    "ChatgptLoginHandle",
    "DeviceCodeLoginHandle",
    "chatgpt_login",
    "device_code_login",
]


def chatgpt_login(raw: Any) -> dict[str, Any]:
    """The ``account/login/start`` answer for a browser login, checked."""
    response = decode_payload(raw, dict[str, Any])
    if response.get("type") != "chatgpt" or "loginId" not in response or "authUrl" not in response:
        raise RuntimeError(f"unexpected ChatGPT login response: {response!r}")
    return response


def device_code_login(raw: Any) -> dict[str, Any]:
    """The ``account/login/start`` answer for a device-code login, checked."""
    response = decode_payload(raw, dict[str, Any])
    if not {"loginId", "verificationUrl", "userCode"} <= response.keys():
        raise RuntimeError(f"unexpected device-code login response: {response!r}")
    return response


def _cancel_params(login_id: str) -> dict[str, Any]:
    return {"loginId": login_id}


@dataclass(slots=True)
class ChatgptLoginHandle:
    """A live browser-login attempt, from ``Codex.login_chatgpt()``."""

    _client: SyncRuntime
    login_id: str
    auth_url: str

    def wait(self, timeout: float | None = None) -> AccountLoginCompletedNotification:
        """Wait for this attempt's completion."""
        return self._client.wait_login(self.login_id, timeout)

    def cancel(self) -> CancelLoginAccountResponse:
        """Cancel this attempt."""
        return self._client.call("account/login/cancel", _cancel_params(self.login_id), CancelLoginAccountResponse)


@dataclass(slots=True)
class DeviceCodeLoginHandle:
    """A live device-code login attempt, from ``Codex.login_chatgpt_device_code()``."""

    _client: SyncRuntime
    login_id: str
    verification_url: str
    user_code: str

    def wait(self, timeout: float | None = None) -> AccountLoginCompletedNotification:
        """Wait for this attempt's completion."""
        return self._client.wait_login(self.login_id, timeout)

    def cancel(self) -> CancelLoginAccountResponse:
        """Cancel this attempt."""
        return self._client.call("account/login/cancel", _cancel_params(self.login_id), CancelLoginAccountResponse)


@dataclass(slots=True)
class AsyncChatgptLoginHandle:
    """A live browser-login attempt, from ``AsyncCodex.login_chatgpt()``."""

    _codex: AsyncRuntime
    login_id: str
    auth_url: str

    async def wait(self, timeout: float | None = None) -> AccountLoginCompletedNotification:
        """Wait for this attempt's completion."""
        return await self._codex.wait_login(self.login_id, timeout)

    async def cancel(self) -> CancelLoginAccountResponse:
        """Cancel this attempt."""
        params = _cancel_params(self.login_id)
        return await self._codex.call("account/login/cancel", params, CancelLoginAccountResponse)


@dataclass(slots=True)
class AsyncDeviceCodeLoginHandle:
    """A live device-code login attempt, from ``AsyncCodex.login_chatgpt_device_code()``."""

    _codex: AsyncRuntime
    login_id: str
    verification_url: str
    user_code: str

    async def wait(self, timeout: float | None = None) -> AccountLoginCompletedNotification:
        """Wait for this attempt's completion."""
        return await self._codex.wait_login(self.login_id, timeout)

    async def cancel(self) -> CancelLoginAccountResponse:
        """Cancel this attempt."""
        params = _cancel_params(self.login_id)
        return await self._codex.call("account/login/cancel", params, CancelLoginAccountResponse)
