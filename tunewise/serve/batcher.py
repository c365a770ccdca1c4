"""Dynamic batching: one worker runs the model; requests that arrive while it is busy queue up and are answered
together by its next call. An idle server answers a lone request at once (no fixed wait), a busy one fills the
batch from the queue, so a batch forms exactly when it helps."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor


class Batcher:
    def __init__(self, work: Callable[[list], list], max_batch: int, max_wait: float = 0.0):
        """``work`` answers a list of items in order (it runs in a worker thread, one call at a time);
        ``max_wait``: seconds the first request of a batch waits for company while the model is idle."""
        self.work, self.max_batch, self.max_wait = work, max_batch, max_wait
        self.queue: asyncio.Queue | None = None
        self.worker: asyncio.Task | None = None
        self.requests = self.batches = self.largest = 0
        self.busy = 0.0  # seconds the model spent answering
        # One thread, always the same: torch's OpenMP keeps a team of threads per calling thread, and asyncio's
        # shared pool would start several teams that fight over the cores.
        self.thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="model")

    async def start(self) -> None:
        self.requests = self.batches = self.largest = 0
        self.busy = 0.0
        self.queue = asyncio.Queue()
        self.worker = asyncio.create_task(self._serve())

    async def stop(self) -> None:
        """Stop the worker; requests still waiting get an error rather than hanging."""
        if self.worker is not None:
            self.worker.cancel()
            await asyncio.gather(self.worker, return_exceptions=True)
        while self.queue is not None and not self.queue.empty():
            _, future = self.queue.get_nowait()
            if not future.done():
                future.set_exception(RuntimeError("the server is stopping"))

    @property
    def running(self) -> bool:
        return self.worker is not None and not self.worker.done()

    def run(self, items: list):
        """``work`` on the model's thread, outside any batch (e.g. a warm-up before the first request)."""
        return asyncio.get_running_loop().run_in_executor(self.thread, self.work, items)

    async def submit(self, item):
        """The answer to one item (an exception raised by ``work`` for it is raised here)."""
        if not self.running:
            raise RuntimeError("the model worker is not running")
        future = asyncio.get_running_loop().create_future()
        await self.queue.put((item, future))
        return await future

    async def _serve(self) -> None:
        while True:
            batch = await self._next_batch()
            self.requests, self.batches = self.requests + len(batch), self.batches + 1
            self.largest = max(self.largest, len(batch))
            started = time.perf_counter()
            try:
                await self._answer(batch)
            finally:
                self.busy += time.perf_counter() - started

    async def _answer(self, batch: list) -> None:
        """Answer a batch; when it fails, answer its requests one by one, so only a request that fails alone
        gets the error and the others their answers."""
        try:
            answers = await self.run([item for item, _ in batch])
            if len(answers) != len(batch):
                raise RuntimeError(f"{len(answers)} answers for {len(batch)} requests")
        except Exception as exc:  # noqa: BLE001 - handed to the requests it belongs to; the worker goes on
            if len(batch) == 1:
                _settle(batch[0][1], error=exc)
                return
            for one in batch:
                await self._answer([one])
            return
        for (_, future), found in zip(batch, answers, strict=True):
            _settle(future, found)

    async def _next_batch(self) -> list:
        batch = [await self.queue.get()]
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.max_wait
        while len(batch) < self.max_batch:
            if not self.queue.empty():
                batch.append(self.queue.get_nowait())
                continue
            left = deadline - loop.time()
            if left <= 0:
                break
            try:
                batch.append(await asyncio.wait_for(self.queue.get(), left))
            except asyncio.TimeoutError:  # not the builtin TimeoutError before Python 3.11
                break
        return batch


def _settle(future: asyncio.Future, found=None, error: Exception | None = None) -> None:
    if future.done():  # a client that went away has cancelled its future
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(found)
