"""The heartbeat's state machine (:class:`~codex_actors.actors._liveness.Watchdog`), driven by hand."""

from __future__ import annotations

from codex_actors.actors._liveness import Watchdog


class Calls:
    def __init__(self, ready: bool = True) -> None:
        self.ready = ready
        self.pings = 0
        self.hung: list[float] = []

    def watchdog(self) -> Watchdog:
        return Watchdog(2.0, 5.0, ready=lambda: self.ready, ping=self.ping, hung=self.hung.append)

    def ping(self) -> None:
        self.pings += 1


def test_silence_asks_then_waits_the_timeout_then_gives_up_once() -> None:
    calls = Calls()
    dog = calls.watchdog()
    assert dog.wait_s() == 2.0
    dog.silence()
    assert calls.pings == 1
    assert dog.wait_s() == 5.0
    dog.silence()
    assert calls.hung == [5.0]
    assert dog.wait_s() is None  # given up: the reader waits for the end of stdout
    dog.silence()
    assert calls.hung == [5.0] and calls.pings == 1


def test_any_output_is_an_answer() -> None:
    calls = Calls()
    dog = calls.watchdog()
    for _ in range(3):
        dog.silence()  # asked
        dog.heard()  # answered: the next wait is a whole interval again
        assert dog.wait_s() == 2.0
    assert calls.pings == 3
    assert calls.hung == []


def test_no_heartbeat_before_the_handshake_is_answered() -> None:
    calls = Calls(ready=False)
    dog = calls.watchdog()
    dog.silence()
    dog.silence()
    assert calls.pings == 0 and calls.hung == []  # not asked, so never taken for hung
    assert dog.wait_s() == 2.0
    calls.ready = True
    dog.silence()
    assert calls.pings == 1
