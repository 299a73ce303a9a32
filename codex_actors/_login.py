"""ChatGPT login handles: the live login attempts ``login_chatgpt*()`` return, sync and async.

``wait()`` returns the attempt's ``account/login/completed`` (it does not raise for a failed login: see
``success``/``error``). A completion that arrives before ``wait()`` is kept for it. Unlike the official SDK,
``wait`` takes an optional ``timeout`` (``TimeoutError`` after it) and fails with ``TransportClosedError`` if the
runtime stops, so it never blocks forever.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pykka

from ._protocol.generated import AccountLoginCompletedNotification, CancelLoginAccountResponse
from ._protocol.jsonrpc import decode_payload
from ._runtime import Runtime
from ._waiter import Waiter

if TYPE_CHECKING:
    from ._async_api import AsyncCodex

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


def _wait(client: Runtime, login_id: str, timeout: float | None) -> AccountLoginCompletedNotification:
    future: pykka.Future[AccountLoginCompletedNotification] = pykka.ThreadingFuture()
    client.wait_login(login_id, future)
    try:
        return future.get(timeout=timeout)
    except pykka.Timeout:
        raise TimeoutError(f"login {login_id} did not complete within {timeout:g} s") from None


def _cancel(client: Runtime, login_id: str) -> CancelLoginAccountResponse:
    return client.call("account/login/cancel", {"loginId": login_id}, CancelLoginAccountResponse)


@dataclass(slots=True)
class ChatgptLoginHandle:
    """A live browser-login attempt, from ``Codex.login_chatgpt()``."""

    _client: Runtime
    login_id: str
    auth_url: str

    def wait(self, timeout: float | None = None) -> AccountLoginCompletedNotification:
        """Wait for this attempt's completion."""
        return _wait(self._client, self.login_id, timeout)

    def cancel(self) -> CancelLoginAccountResponse:
        """Cancel this attempt."""
        return _cancel(self._client, self.login_id)


@dataclass(slots=True)
class DeviceCodeLoginHandle:
    """A live device-code login attempt, from ``Codex.login_chatgpt_device_code()``."""

    _client: Runtime
    login_id: str
    verification_url: str
    user_code: str

    def wait(self, timeout: float | None = None) -> AccountLoginCompletedNotification:
        """Wait for this attempt's completion."""
        return _wait(self._client, self.login_id, timeout)

    def cancel(self) -> CancelLoginAccountResponse:
        """Cancel this attempt."""
        return _cancel(self._client, self.login_id)


async def _await_login(
    codex: AsyncCodex, login_id: str, timeout: float | None
) -> AccountLoginCompletedNotification:
    client = await codex._ensure_initialized()
    waiter: Waiter[AccountLoginCompletedNotification] = Waiter()
    client.wait_login(login_id, waiter.reply)
    try:
        return await asyncio.wait_for(waiter.future, timeout)
    except TimeoutError:
        raise TimeoutError(f"login {login_id} did not complete within {timeout:g} s") from None


async def _acancel(codex: AsyncCodex, login_id: str) -> CancelLoginAccountResponse:
    return await codex._call("account/login/cancel", {"loginId": login_id}, CancelLoginAccountResponse)


@dataclass(slots=True)
class AsyncChatgptLoginHandle:
    """A live browser-login attempt, from ``AsyncCodex.login_chatgpt()``."""

    _codex: AsyncCodex
    login_id: str
    auth_url: str

    async def wait(self, timeout: float | None = None) -> AccountLoginCompletedNotification:
        """Wait for this attempt's completion."""
        return await _await_login(self._codex, self.login_id, timeout)

    async def cancel(self) -> CancelLoginAccountResponse:
        """Cancel this attempt."""
        return await _acancel(self._codex, self.login_id)


@dataclass(slots=True)
class AsyncDeviceCodeLoginHandle:
    """A live device-code login attempt, from ``AsyncCodex.login_chatgpt_device_code()``."""

    _codex: AsyncCodex
    login_id: str
    verification_url: str
    user_code: str

    async def wait(self, timeout: float | None = None) -> AccountLoginCompletedNotification:
        """Wait for this attempt's completion."""
        return await _await_login(self._codex, self.login_id, timeout)

    async def cancel(self) -> CancelLoginAccountResponse:
        """Cancel this attempt."""
        return await _acancel(self._codex, self.login_id)
