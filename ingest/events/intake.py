"""The receiver's writer: one thread owns the inbox connection and commits what every
request brought in one transaction (group commit), then applies a micro-batch.

A request's 200 waits for the commit that holds its events (``synchronous=FULL``: on disk),
so an acknowledged event survives SIGKILL of the receiver; many requests share one fsync,
which is what lets one process take thousands of events a second on two cores.
"""

from __future__ import annotations

import queue
import threading
from concurrent.futures import Future

from segflow.ingest.events.inbox import apply_pending, connect_inbox, identity_map, store
from segflow.ingest.events.offline import flush_all
from segflow.settings import Settings

_STOP = object()


class Intake:
    """Start with ``start()``; ``submit`` returns a Future of (accepted, duplicates)."""

    def __init__(self, settings: Settings, config, apply: bool = True, batch: int = 2000,
                 on_applied=None, flush_every: float = 5.0, admit=None):
        """``on_applied()`` is called after each micro-batch that applied events (the
        audit recorder's wake-up; it must return at once); ``admit`` is the live
        additions hook of ``apply_pending``."""
        self.settings, self.config, self.apply, self.batch = settings, config, apply, batch
        self.admit = admit
        self.on_applied = on_applied
        self.queue: queue.Queue = queue.Queue()
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name="segflow-intake", daemon=True)
        # the offline append (daily Parquet for the batch build) runs beside the writer, so
        # acknowledging and applying never wait for it
        self.flush_every, self.stopping = flush_every, threading.Event()
        writes = config.offline or config.surveys  # appended events or survey responses
        self.flusher = threading.Thread(target=self._flush, name="segflow-offline",
                                        daemon=True) if apply and writes else None

    def start(self) -> Intake:
        self.thread.start()
        if self.flusher is not None:
            self.flusher.start()
        return self

    def stop(self) -> None:
        self.queue.put(_STOP)
        self.thread.join()
        self.stopping.set()
        if self.flusher is not None:
            self.flusher.join()

    def _flush(self) -> None:
        """Append applied events to the offline sources every ``flush_every`` seconds, and
        once more at stop. A failure (a full disk) is logged and retried at the next turn:
        the inbox keeps the events and the watermark does not move, so nothing is lost."""
        import logging

        con = connect_inbox(self.settings)
        try:
            while True:
                try:
                    flush_all(con, self.settings, self.config)
                except Exception as err:  # noqa: BLE001
                    logging.getLogger(__name__).warning(
                        "could not append events to the offline sources: %s", err)
                if self.stopping.wait(self.flush_every):
                    flush_all(con, self.settings, self.config)
                    return
        finally:
            con.close()

    def submit(self, source: str, events, rejected) -> Future:
        future: Future = Future()
        if self.error is not None:
            future.set_exception(self.error)
        else:
            self.queue.put((source, events, rejected, future))
        return future

    def _drain(self, block: bool) -> list:
        items = []
        try:
            items.append(self.queue.get(block=block))
            while len(items) < 5000:
                items.append(self.queue.get_nowait())
        except queue.Empty:
            pass
        return items

    def _run(self) -> None:
        con = None
        more = True  # apply what a previous process left before waiting for requests
        try:
            con = connect_inbox(self.settings)
            while True:
                items = self._drain(block=not more)
                requests = [i for i in items if i is not _STOP]
                if requests:
                    self._commit(con, requests)
                if len(requests) < len(items):
                    return
                if self.apply:
                    n = apply_pending(con, self.settings, self.config,
                                      identity_map(self.settings), self.batch, self.admit)
                    if n and self.on_applied is not None:
                        self.on_applied()
                    more = n == self.batch
                else:
                    more = False
        except BaseException as err:  # the receiver answers 503 from now on
            self.error = err
            for item in self._drain(block=False):
                if item is not _STOP:
                    item[3].set_exception(err)
        finally:
            if con is not None:
                con.close()

    def _commit(self, con, requests: list) -> None:
        con.execute("BEGIN IMMEDIATE")
        try:
            results = [store(con, source, events, rejected)
                       for source, events, rejected, _ in requests]
            con.execute("COMMIT")
        except BaseException as err:
            con.execute("ROLLBACK")
            for *_, future in requests:
                future.set_exception(err)
            raise
        for (*_, future), result in zip(requests, results, strict=True):
            future.set_result(result)
