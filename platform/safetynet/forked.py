"""Work in a forked process, ahead of the caller: the bulk load, the ingest and the sweep use both cores.

:func:`forked` runs a generator in a child process (fork: it inherits the plugins and settings, nothing
is re-imported) and yields its items here, pickled over a pipe. The child produces the next item while
this process handles the current one; a thread of the child's sends each item, so the child goes on
while this process takes the last one, and at most two items are in flight (one being sent, one
waiting). That evens out items that take the two processes different times (a 1M-household sweep:
37.6 s against 38.8 s, medians of five). A thread in this process would not do: the GIL would
serialise the two, and SQLite's writes wait for it after every statement.

The child must not use database connections it inherited (SQLite forbids carrying one across a fork):
it opens its own. An exception in the child is raised here; stopping the iteration here ends the child.

The child's cyclic garbage collector runs once after each item is sent, never while one is produced: an
item's data grows while it is made (rows, columns, evidence texts), and each automatic collection would
traverse all of it again (a sweep's computing process spent a tenth of its time there). What the child
inherited is frozen (``gc.freeze``), so the collections only look at what the child made itself.
"""

from __future__ import annotations

import gc
import multiprocessing
import pickle
import queue
import threading
from collections.abc import Callable, Iterator
from contextlib import suppress
from dataclasses import dataclass
from typing import Any, TypeVar

T = TypeVar("T")

_END = "end"


def can_fork() -> bool:
    """Whether forking is safe here: the platform forks and no other thread runs (a forked child would
    inherit their locks in whatever state they were, e.g. an async database driver's)."""
    return (
        "fork" in multiprocessing.get_all_start_methods()
        and threading.current_thread() is threading.main_thread()
        and threading.active_count() == 1
    )


@dataclass(frozen=True)
class _Failure:
    """The child's exception (or, if it cannot be pickled, its description)."""

    error: BaseException | str


def forked(produce: Callable[[], Iterator[T]], *, name: str) -> Iterator[T]:
    """The items of ``produce()``, produced in a forked child process (see the module)."""
    context = multiprocessing.get_context("fork")
    receiver, sender = context.Pipe(duplex=False)
    child = context.Process(target=_produce, args=(sender, produce), name=name, daemon=True)
    child.start()  # now, not at the first item: the caller may start threads meanwhile
    sender.close()
    return _received(receiver, child, name)


def _received(receiver: Any, child: Any, name: str) -> Iterator[Any]:
    """The child's items, then its end; on an early stop, the child is ended."""
    finished = False
    try:
        while True:
            try:
                item = pickle.loads(receiver.recv_bytes())
            except EOFError:
                raise RuntimeError(
                    f"the process {name} stopped unexpectedly (exit code {child.exitcode})"
                ) from None
            if isinstance(item, _Failure):
                if isinstance(item.error, BaseException):
                    raise item.error
                raise RuntimeError(f"the process {name} failed: {item.error}")
            if isinstance(item, str) and item == _END:
                finished = True
                return
            yield item
    finally:
        receiver.close()
        if not finished and child.is_alive():
            child.terminate()
        child.join()


def _produce(sender: Any, produce: Callable[[], Iterator[Any]]) -> None:
    """In the child: send each item, then the end (or the failure); collect garbage between items."""
    gc.disable()
    gc.freeze()
    outbox = _Outbox(sender)
    try:
        for item in produce():
            outbox.put(pickle.dumps(item, protocol=pickle.HIGHEST_PROTOCOL))
            del item
            gc.collect()
        outbox.put(pickle.dumps(_END))
        outbox.close()
    except BrokenPipeError:
        return  # the parent stopped (an error of its own, or it stopped iterating)
    except BaseException as exc:
        try:
            message = pickle.dumps(_Failure(exc))
        except Exception:
            message = pickle.dumps(_Failure(f"{type(exc).__name__}: {exc}"))
        with suppress(BrokenPipeError):
            outbox.put(message)
            outbox.close()
    finally:
        sender.close()


class _Outbox:
    """In the child: a thread that sends the pickled items, one waiting behind the one being sent."""

    def __init__(self, sender: Any) -> None:
        self._sender = sender
        self._waiting: queue.Queue[bytes | None] = queue.Queue(maxsize=1)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._send_all, name="forked-outbox", daemon=True)
        self._thread.start()

    def put(self, message: bytes) -> None:
        """Queue ``message`` (waiting while another one waits); raises what sending an earlier one raised."""
        self._raise_if_failed()
        self._waiting.put(message)

    def close(self) -> None:
        """Wait until every message is sent."""
        self._waiting.put(None)
        self._thread.join()
        self._raise_if_failed()

    def _raise_if_failed(self) -> None:
        if self._error is not None:
            raise self._error

    def _send_all(self) -> None:
        while (message := self._waiting.get()) is not None:
            if self._error is None:  # after a failure, only empty the queue: put must never block for ever
                try:
                    self._sender.send_bytes(message)
                except BaseException as exc:
                    self._error = exc
