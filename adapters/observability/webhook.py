"""`WebhookAlertSink`: alerts POSTed as JSON to a URL, off the trading path.

`send` puts the alert on a bounded queue and returns at once (the oldest queued alert is dropped
when the queue is full, and counted). One worker task POSTs them in order
(`Content-Type: application/json`, the body is `Alert.to_json()`); the HTTP call itself runs in
a thread (`urllib`), so a slow or dead receiver holds neither the event loop nor trading. A
failed POST (connection refused, timeout, a non-2xx answer) is retried `retries` times, waiting
`backoff`, `2 × backoff`, `4 × backoff`... seconds; then the alert is counted as failed and the
worker goes on. `close()` lets the worker finish within `close_timeout` seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import urllib.request
from collections import deque

import attrs

from ordergate.domain.errors import InvalidValue
from ordergate.ports.alert_sink import Alert

__all__ = ["WebhookAlertSink", "WebhookStats"]


@attrs.define
class WebhookStats:
    """What the sink did: delivered, failed (after every retry), dropped (queue full)."""

    delivered: int = 0
    failed: int = 0
    dropped: int = 0
    attempts: int = 0
    last_error: str = ""


class WebhookAlertSink:
    """The `AlertSink` port over HTTP POST."""

    def __init__(
        self,
        url: str,
        *,
        queue: int = 1000,
        retries: int = 3,
        backoff: float = 0.5,
        timeout: float = 2.0,
        close_timeout: float = 5.0,
    ) -> None:
        if not url.startswith(("http://", "https://")):
            raise InvalidValue("alerts.webhook_url", url, "must be an http:// or https:// URL")
        if queue < 1:
            raise InvalidValue("alerts.queue", queue, "must be >= 1")
        if retries < 0:
            raise InvalidValue("alerts.retries", retries, "must be >= 0")
        if not backoff > 0 or not timeout > 0:
            raise InvalidValue("alerts.backoff/timeout", (backoff, timeout), "must be > 0")
        self.url = url
        self._queue: deque[Alert] = deque()
        self._bound = queue
        self._retries = retries
        self._backoff = backoff
        self._timeout = timeout
        self._close_timeout = close_timeout
        self._wake = asyncio.Event()
        self._worker: asyncio.Task[None] | None = None
        self._closing = False
        self.stats = WebhookStats()

    def send(self, alert: Alert) -> bool:
        kept = True
        if len(self._queue) >= self._bound:
            self._queue.popleft()
            self.stats.dropped += 1
            kept = False
        self._queue.append(alert)
        self._wake.set()
        if self._worker is None and not self._closing:
            with contextlib.suppress(RuntimeError):  # no running loop: started by the next send
                self._worker = asyncio.get_running_loop().create_task(self._run())
        return kept

    async def _run(self) -> None:
        while True:
            while self._queue:
                await self._deliver(self._queue.popleft())
            if self._closing:
                return
            self._wake.clear()
            await self._wake.wait()

    async def _deliver(self, alert: Alert) -> None:
        body = json.dumps(alert.to_json()).encode()
        for attempt in range(self._retries + 1):
            self.stats.attempts += 1
            try:
                await asyncio.to_thread(self._post, body)
            except Exception as exc:  # any failure: retry, then count it
                self.stats.last_error = f"{type(exc).__name__}: {exc}"
                if attempt < self._retries:
                    await asyncio.sleep(self._backoff * 2**attempt)
                continue
            self.stats.delivered += 1
            return
        self.stats.failed += 1

    def _post(self, body: bytes) -> None:
        request = urllib.request.Request(
            self.url, data=body, method="POST", headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=self._timeout) as answer:
            answer.read()

    async def close(self) -> None:
        self._closing = True
        self._wake.set()
        if self._worker is None:
            return
        try:
            await asyncio.wait_for(asyncio.shield(self._worker), self._close_timeout)
        except TimeoutError:
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._worker
