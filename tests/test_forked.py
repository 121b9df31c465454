"""safetynet.forked: items made in a forked process arrive in order; its failures are raised here; a
caller that stops early ends it."""

from __future__ import annotations

import os
import threading

import pytest

from safetynet.forked import can_fork, forked

pytestmark = pytest.mark.skipif(not can_fork(), reason="this platform or thread state cannot fork")


def test_items_arrive_in_order_from_another_process():
    def produce():
        for n in range(50):
            yield n, os.getpid(), b"x" * 200_000  # larger than a pipe's buffer: the send waits

    items = list(forked(produce, name="test-forked"))
    assert [n for n, _, _ in items] == list(range(50))
    assert {pid for _, pid, _ in items} != {os.getpid()} and len({pid for _, pid, _ in items}) == 1


def test_a_failure_in_the_child_is_raised_here_after_the_items_before_it():
    def produce():
        yield 1
        yield 2
        raise ValueError("record 3 is unreadable")

    received = []
    with pytest.raises(ValueError, match="record 3 is unreadable"):
        for item in forked(produce, name="test-forked"):
            received.append(item)
    assert received == [1, 2]


def test_an_exception_that_cannot_be_pickled_arrives_as_its_description():
    class Local(Exception):  # a local class: pickle cannot find it by name
        pass

    def produce():
        yield "first"
        raise Local("lock held")

    items = forked(produce, name="test-forked")
    assert next(items) == "first"
    with pytest.raises(RuntimeError, match="the process test-forked failed: Local: lock held"):
        next(items)


def test_stopping_early_ends_the_child():
    def produce():
        n = 0
        while True:  # never ends by itself
            yield n, b"x" * 100_000
            n += 1

    items = forked(produce, name="test-forked")
    assert next(items)[0] == 0
    assert next(items)[0] == 1
    finished = threading.Event()

    def close() -> None:
        items.close()
        finished.set()

    threading.Thread(target=close, daemon=True).start()
    assert finished.wait(timeout=10), "closing the iterator did not end the child"
