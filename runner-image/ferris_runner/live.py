"""Sends a running step's output to the runner API as it comes, so that ``ferris logs -f`` and
the console follow a step that has not ended: what ``LiveOutput`` holds goes out at most once a
second (every five seconds after the first hour), as one chunk at the offset it starts at."""

from __future__ import annotations

import threading

from ferris_runner.api_client import RunnerApiClient, RunnerApiError
from ferris_runner.output import LiveOutput
from ferris_wire import runner_api as wire

SLOW_AFTER_CHUNKS = 3600
SLOW_INTERVAL_SECONDS = 5.0


class LiveSender:
    def __init__(
        self, api: RunnerApiClient, idx: int, live: LiveOutput, interval: float = wire.LIVE_INTERVAL_SECONDS
    ) -> None:
        self.api, self.idx, self.live, self.interval = api, idx, live, interval
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=f"ferris-live-{idx}", daemon=True)

    def __enter__(self) -> LiveOutput:
        self._thread.start()
        return self.live

    def __exit__(self, *exc: object) -> None:
        """The step ended: nothing more goes live (its last report carries the whole output)."""
        self._done.set()
        self.live.stop()
        self._thread.join(timeout=10)

    def _loop(self) -> None:
        while not self._done.wait(self.interval if self.live.chunks < SLOW_AFTER_CHUNKS else SLOW_INTERVAL_SECONDS):
            self.send_once()

    def send_once(self) -> None:
        chunk = self.live.take()
        if chunk is None:
            return
        offset, text = chunk
        try:
            stored = self.api.chunk(self.idx, offset, text)
        except RunnerApiError:
            return  # not reached: these lines go again with the next chunk
        if stored:
            self.live.stored(text)
        else:
            self.live.stop()  # the API will take no more of this step live
