"""Races and maps take one of a worker's HEAVY_SLOTS: the rest wait their turn (not counted against
the time budget), a request that cannot start within QUEUE_BUDGET is answered 429 (busy) unstarted, and a
slot is freed only when its work has really ended (a stopped race included)."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest
from fastapi import HTTPException

from optarena.web import app as web_app
from optarena.web import guard

from conftest import run_coroutine


def _run(coro):
    return run_coroutine(coro)


def test_waiting_requests_start_when_a_slot_frees_and_their_budget_starts_then(monkeypatch):
    monkeypatch.setattr(web_app, "TIME_BUDGET", 0.6)

    async def main():
        slots = asyncio.Semaphore(1)
        started = []

        def work(i):
            def go(stop):
                started.append((i, time.monotonic()))
                time.sleep(0.4)  # each alone is within the budget; two in a row are not
                return i
            return go

        t0 = time.monotonic()
        results = await asyncio.gather(*(web_app._bounded(work(i), "race", slots) for i in range(3)))
        return results, [t - t0 for _, t in started]

    results, starts = _run(main())
    assert results == [0, 1, 2]  # all answered, none 503, though together they take 1.2 s > 0.6 s
    assert starts[1] >= 0.35 and starts[2] >= 0.75  # one at a time


def test_a_request_that_cannot_start_in_time_is_refused_unstarted(monkeypatch):
    monkeypatch.setattr(web_app, "QUEUE_BUDGET", 0.2)
    release = threading.Event()

    async def main():
        slots = asyncio.Semaphore(1)
        ran = []
        first = asyncio.ensure_future(web_app._bounded(lambda stop: release.wait(5), "race", slots))
        await asyncio.sleep(0.05)
        with pytest.raises(HTTPException) as info:
            await web_app._bounded(lambda stop: ran.append(1), "map", slots)
        release.set()
        await first
        return info.value, ran

    exc, ran = _run(main())
    assert exc.status_code == 429 and "busy" in exc.detail and "map" in exc.detail
    assert exc.headers == {"Retry-After": "5"}
    assert ran == []  # never started


def test_a_stopped_race_keeps_its_slot_until_its_work_has_ended(monkeypatch):
    monkeypatch.setattr(web_app, "TIME_BUDGET", 0.2)
    ended = threading.Event()

    def slow(stop):
        while not stop():  # a race checks should_stop between chunks
            time.sleep(0.01)
        time.sleep(0.3)  # the chunk it was in
        ended.set()

    async def main():
        slots = asyncio.Semaphore(1)
        with pytest.raises(HTTPException) as info:
            await web_app._bounded(slow, "race", slots)
        assert info.value.status_code == 503 and "stopped" in info.value.detail
        held = slots.locked()
        await asyncio.wait_for(slots.acquire(), 2)  # freed once the work ended
        return held

    assert _run(main()) is True
    assert ended.is_set()


def test_large_answers_give_freed_memory_back(monkeypatch):
    calls = []
    monkeypatch.setattr(guard, "_malloc_trim", lambda: calls.append(1))
    small, large = b"x" * 10, b"x" * guard.TRIM_BYTES
    assert guard.trimmed(small) is small and calls == []
    assert guard.trimmed(large) is large and calls == [1]


def _bodies(n, landscape=None):
    from optarena.web.schemas import RaceIn

    return [RaceIn(landscape=landscape or {"name": "booth"},
                   racers=[{"optimizer": "sgd", "hyperparameters": {"learning_rate": 0.001 * (i + 1)}}])
            for i in range(n)]


def test_the_warm_up_queue_is_bounded_and_drops_what_does_not_fit(monkeypatch):
    # issue 14: after a 2-minute load the warm-up queue compiled for 8 more minutes at 100% of a core
    release = threading.Event()
    warmed = []

    def slow(body):
        release.wait(10)
        warmed.append(body)

    monkeypatch.setattr(web_app._Warmer, "_warm", staticmethod(slow))
    warmer = web_app._Warmer()
    bodies = _bodies(web_app.WARM_QUEUE + 5)
    taken = [warmer.submit(b) for b in bodies]
    assert taken == [True] * web_app.WARM_QUEUE + [False] * 5  # one running, the rest waiting: at most WARM_QUEUE
    assert warmer.dropped == 5 and warmer.waiting == web_app.WARM_QUEUE
    release.set()
    warmer.pool.shutdown(wait=True)
    assert warmed == bodies[:web_app.WARM_QUEUE] and warmer.waiting == 0
    assert warmer.submit(bodies[0]) is False and warmer.dropped == 5  # already warmed: not again


def test_no_warm_up_is_queued_or_started_while_every_heavy_slot_is_taken(monkeypatch):
    warmed = []
    monkeypatch.setattr(web_app._Warmer, "_warm", staticmethod(warmed.append))
    busy = [True]
    warmer = web_app._Warmer(busy=lambda: busy[0])
    a, b = _bodies(2)
    assert warmer.submit(a) is False and warmer.dropped == 1 and warmer.waiting == 0
    busy[0] = False
    gate = threading.Event()
    warmer.pool.submit(gate.wait, 10)  # the warmer's thread is occupied while b waits
    assert warmer.submit(b) is True
    busy[0] = True  # the server got busy before b's turn: b is dropped, and forgotten
    gate.set()
    warmer.pool.shutdown(wait=True)
    assert warmed == [] and warmer.dropped == 2 and warmer.waiting == 0
    busy[0] = False
    warmer.pool = type(warmer.pool)(1)
    assert warmer.submit(b) is True and warmer.submit(a) is True  # asked again once idle: warmed
    warmer.pool.shutdown(wait=True)
    assert warmed == [b, a]


def test_a_family_is_warmed_once_for_every_kappa_and_a_formula_never(monkeypatch):
    warmed = []
    monkeypatch.setattr(web_app._Warmer, "_warm", staticmethod(warmed.append))
    warmer = web_app._Warmer()
    racer = [{"optimizer": "adam"}]
    from optarena.web.schemas import RaceIn

    kappas = [RaceIn(landscape={"name": "ill_conditioned", "params": {"kappa": k}}, racers=racer) for k in (2, 50, 700)]
    assert [warmer.submit(b) for b in kappas] == [True, False, False]  # kappa is data: one loop for all
    assert warmer.submit(RaceIn(landscape={"formula": "x^2 + 3*y^2"}, racers=racer)) is False
    warmer.pool.shutdown(wait=True)
    assert warmed == kappas[:1]
