"""Change listeners (callbacks) and change queues (pull style)."""

from __future__ import annotations

import logging
import threading
import time
from typing import Callable, List

import pytest

import p2psync


def wait_for(cond: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.005)


def test_collection_listener(db: p2psync.Database, coll: p2psync.Collection) -> None:
    events: List[p2psync.ChangeEvent] = []
    threads = set()

    def on_change(event: p2psync.ChangeEvent) -> None:
        threads.add(threading.get_ident())
        events.append(event)

    with coll.add_change_listener(on_change):
        coll.save("a", {})
        with db.batch() as batch:
            batch.save(coll, "b", {})
            batch.save(coll, "c", {})
        wait_for(lambda: len(events) == 2)
    assert events[0].kind == "change" and events[0].collection == "_default._default"
    assert [c.id for c in events[0].changes] == ["a"]
    assert [c.id for c in events[1].changes] == ["b", "c"]
    assert threading.get_ident() not in threads  # called on a library thread
    coll.save("after", {})
    time.sleep(0.1)
    assert len(events) == 2  # nothing after remove


def test_document_listener(coll: p2psync.Collection) -> None:
    seen: List[str] = []
    sub = coll.add_change_listener(lambda e: seen.extend(c.id for c in e.changes), doc_id="watched")
    coll.save("other", {})
    coll.save("watched", {"v": 1})
    coll.delete("watched")
    wait_for(lambda: len(seen) == 2)
    sub.remove()
    assert seen == ["watched", "watched"]


def test_listener_exception_is_contained(coll: p2psync.Collection, caplog: pytest.LogCaptureFixture) -> None:
    calls = []

    def broken(event: p2psync.ChangeEvent) -> None:
        calls.append(event)
        raise RuntimeError("listener bug")

    with caplog.at_level(logging.ERROR, logger="p2psync"):
        with coll.add_change_listener(broken):
            coll.save("a", {})
            coll.save("b", {})
            wait_for(lambda: len(calls) == 2)
    assert "listener bug" in caplog.text
    assert coll.count() == 2


def test_remove_from_inside_listener(coll: p2psync.Collection) -> None:
    calls = []
    holder = {}

    def once(event: p2psync.ChangeEvent) -> None:
        calls.append(event)
        holder["sub"].remove()

    holder["sub"] = coll.add_change_listener(once)
    coll.save("a", {})
    wait_for(lambda: len(calls) == 1)
    coll.save("b", {})
    time.sleep(0.1)
    assert len(calls) == 1


def test_collection_busy_while_subscribed(coll: p2psync.Collection) -> None:
    sub = coll.add_change_listener(lambda e: None)
    with pytest.raises(p2psync.BusyError):
        coll.close()
    sub.remove()


def test_change_queue(coll: p2psync.Collection) -> None:
    with coll.change_queue() as queue:
        assert queue.next_event(timeout=0.05) is None
        coll.save("a", {})
        coll.save("b", {})
        event = queue.next_event(timeout=5)
        assert event is not None and [c.id for c in event.changes] == ["a"]
        rest = list(queue.events(timeout=1))
        assert [c.id for e in rest for c in e.changes] == ["b"]


def test_change_queue_overflow(coll: p2psync.Collection) -> None:
    # Delivery is asynchronous, so the split between delivered and dropped depends on
    # timing. What must hold: every change is delivered or counted, and an overflow is
    # reported after the queue had filled.
    n = 40
    with coll.change_queue(capacity=2) as queue:
        for i in range(n):
            coll.save(f"d{i}", {})
        events = []
        deadline = time.monotonic() + 20
        while sum(len(e.changes) + e.dropped for e in events) < n and time.monotonic() < deadline:
            event = queue.next_event(timeout=0.2)
            if event is not None:
                events.append(event)
        assert sum(len(e.changes) + e.dropped for e in events) == n
        kinds = [e.kind for e in events]
        assert "overflow" in kinds and kinds.index("overflow") >= 2
        assert all(e.dropped > 0 for e in events if e.kind == "overflow")


def test_queue_remove_wakes_reader(coll: p2psync.Collection) -> None:
    queue = coll.change_queue()
    result = {}

    def reader() -> None:
        try:
            queue.next_event(timeout=30)
        except p2psync.P2PSyncError as e:
            result["error"] = e

    t = threading.Thread(target=reader)
    t.start()
    time.sleep(0.1)
    queue.remove()
    t.join(timeout=5)
    assert not t.is_alive()
    assert isinstance(result.get("error"), (p2psync.CancelledError, p2psync.InvalidHandleError))
