"""ChatGPT login handles (sync and async) against the fake engine: nothing leaves the process, not even to
127.0.0.1:1455 where the real engine would start its login server."""

from __future__ import annotations

import asyncio

import pytest

from codex_actors import AsyncCodex, Codex, TransportClosedError
from codex_actors.actors._login_waiters import LoginWaiters
from codex_actors.actors._reply import CallbackReply
from tests.support.fixtures import fake_engine_config


def test_browser_login_cancel_then_wait_returns_the_failed_completion() -> None:
    with Codex(fake_engine_config()) as codex:
        login = codex.login_chatgpt()
        assert login.auth_url == "https://auth.invalid/start"
        assert login.cancel().status.value == "canceled"
        completed = login.wait(timeout=5)  # it arrived before wait(): kept for it
        assert completed.login_id == login.login_id
        assert completed.success is False
        assert completed.error == "Login server error: Login was not completed"


def test_device_code_login_completes() -> None:
    with Codex(fake_engine_config(FAKE_ENGINE_LOGIN_DELAY="0.1")) as codex:
        login = codex.login_chatgpt_device_code()
        assert (login.verification_url, login.user_code) == ("https://device.invalid/verify", "ABCD-1234")
        completed = login.wait(timeout=5)
        assert completed.success is True


def test_wait_times_out_and_fails_when_the_runtime_closes() -> None:
    codex = Codex(fake_engine_config())
    login = codex.login_chatgpt()
    with pytest.raises(TimeoutError, match=r"did not complete within 0\.1 s"):
        login.wait(timeout=0.1)
    codex.close()
    with pytest.raises(TransportClosedError):
        login.wait(timeout=5)


def test_unexpected_login_answers_raise_runtime_error() -> None:
    with Codex(fake_engine_config(FAKE_ENGINE_LOGIN="bad")) as codex:
        with pytest.raises(RuntimeError, match="unexpected ChatGPT login response"):
            codex.login_chatgpt()
        with pytest.raises(RuntimeError, match="unexpected device-code login response"):
            codex.login_chatgpt_device_code()


def test_async_logins() -> None:
    async def scenario() -> None:
        async with AsyncCodex(fake_engine_config(FAKE_ENGINE_LOGIN_DELAY="0.05")) as codex:
            device = await codex.login_chatgpt_device_code()
            assert device.user_code == "ABCD-1234"
            assert (await device.wait(timeout=5)).success is True
            browser = await codex.login_chatgpt()
            assert (await browser.wait(timeout=5)).success is True
            assert (await browser.cancel()).status.value == "canceled"
            assert (await browser.wait(timeout=5)).success is False  # the cancel's own completion
            with pytest.raises(TimeoutError, match=r"did not complete within 0\.05 s"):
                await browser.wait(timeout=0.05)  # nothing more will come
            await codex.login_api_key("sk-test")

    asyncio.run(scenario())


def test_login_waiters_keep_early_completions_bounded_and_fail_all() -> None:
    got: list[tuple[object, BaseException | None]] = []
    reply = CallbackReply(lambda value, error: got.append((value, error)))
    waiters = LoginWaiters(keep=2)
    for index in range(3):
        waiters.deliver(f"L{index}", f"done {index}")
    waiters.wait("L0", reply)  # the oldest early completion was dropped (bounded)
    waiters.wait("L2", reply)
    assert got == [("done 2", None)]
    waiters.deliver("L0", "late")
    assert got[-1] == ("late", None)
    waiters.wait("L9", reply)
    waiters.wait("L9", reply)
    waiters.deliver("L9", "first waiter only")
    assert got[-1] == ("first waiter only", None)
    waiters.fail_all(TransportClosedError("gone"))
    assert isinstance(got[-1][1], TransportClosedError)
