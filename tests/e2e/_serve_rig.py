"""A running `ordergate serve` in its own process, for the service lifecycle e2e tests: its
config, the Redis stream it reads, its control API, and the CLI beside it."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import redis

from ordergate.adapters.serialization import encode_signal
from ordergate.adapters.sim.bars import from_units
from ordergate.adapters.sim.session import SimSession
from ordergate.application.bootstrap import sim_session
from ordergate.application.config import load_settings
from ordergate.domain.instruments import Stock
from ordergate.domain.orders import OrderType, TimeInForce
from ordergate.domain.signals import Signal
from ordergate.domain.values import Side, SignalId

CLI = [sys.executable, "-m", "ordergate.adapters.cli.main"]
TOKEN = "e2e-" + uuid.uuid4().hex
TOKEN_ENV = "ORDERGATE_E2E_API_TOKEN"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ServeRig:
    """One account (audit file, sim journal, Redis keys) and the serve processes run on it."""

    def __init__(
        self,
        tmp: Path,
        redis_url: str,
        *,
        broker: str = "sim",
        extra: str = "",
        broker_extra: str = "",
        top: str = "",
    ) -> None:
        """`top`: lines before the first table (e.g. `account_id`); `broker_extra`: lines of
        `[broker]` (e.g. the gateway's port); `extra`: further tables at the end."""
        self.tmp = tmp
        self.audit = tmp / "audit.db"
        self.stream = f"ogtest:{uuid.uuid4().hex[:12]}:signals"
        self.port = free_port()
        self.redis = redis.Redis.from_url(redis_url)
        self.config = tmp / "ordergate.toml"
        self.config.write_text(
            f"""
operator_id = "OPE2E"
mode = "paper"
{top}
[broker]
kind = "{broker}"
{broker_extra}
[market_data]
kind = "{broker}"
[audit]
kind = "sqlite"
path = "{self.audit}"
[signals]
kind = "redis"
url = "{redis_url}"
stream = "{self.stream}"
[session]
bars = 60
[service]
enabled = true
port = {self.port}
token_env = "{TOKEN_ENV}"
[serve]
speed = 43200
reconcile_every = 1
{extra}
""",
            encoding="utf-8",
        )
        self.env = {**os.environ, TOKEN_ENV: TOKEN}
        self.proc: subprocess.Popen[bytes] | None = None
        self.base = f"http://127.0.0.1:{self.port}"
        self._session: SimSession | None = None

    # -- the process -------------------------------------------------------------------------
    def start(self, timeout: float = 30.0) -> dict[str, Any]:
        self.log = (self.tmp / f"serve-{time.monotonic_ns()}.log").open("wb")
        self.proc = subprocess.Popen(
            [*CLI, "serve", "-c", str(self.config), "--monitor-interval", "1"],
            cwd=self.tmp,
            env=self.env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        return self.wait_for(lambda: self.get("/status"), timeout, "the control API")

    def output(self) -> str:
        return "".join(p.read_text(errors="replace") for p in sorted(self.tmp.glob("serve-*.log")))

    def kill(self, signum: int = signal.SIGKILL, timeout: float = 30.0) -> int:
        assert self.proc is not None
        self.proc.send_signal(signum)
        code = self.proc.wait(timeout)
        self.proc = None
        self.log.close()
        return code

    def close(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
            self.log.close()
        for key in self.redis.scan_iter(match=f"{self.stream}*"):
            self.redis.delete(key)
        self.redis.close()

    def wait_for(
        self, probe: Callable[[], Any], timeout: float, what: str, interval: float = 0.2
    ) -> Any:
        deadline = time.monotonic() + timeout
        last: Any = None
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise AssertionError(f"serve exited ({self.proc.returncode}):\n{self.output()}")
            try:
                last = probe()
            except (httpx.HTTPError, AssertionError) as exc:
                last = exc
            else:
                if last:
                    return last
            time.sleep(interval)
        raise AssertionError(f"timed out waiting for {what} (last: {last!r})\n{self.output()}")

    # -- the control API and the CLI -------------------------------------------------------
    def get(self, path: str) -> Any:
        reply = httpx.get(self.base + path, timeout=10)
        reply.raise_for_status()
        return reply.json()

    def post(self, path: str, **body: Any) -> Any:
        reply = httpx.post(
            self.base + path,
            json={"operator": "e2e", **body},
            headers={"Authorization": f"Bearer {TOKEN}"},
            timeout=30,
        )
        assert reply.status_code == 200, reply.text
        return reply.json()

    def cli(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*CLI, *args],
            cwd=self.tmp,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    # -- signals -----------------------------------------------------------------------------
    def send(
        self,
        sid: str,
        symbol: str,
        side: Side,
        qty: int,
        *,
        limit: Decimal | None = None,
    ) -> None:
        now = datetime.fromisoformat(self.get("/status")["now"])
        signal_ = Signal(
            SignalId(sid),
            Stock(symbol),
            side,
            now,
            quantity=Decimal(qty),
            order_type=OrderType.LIMIT if limit is not None else OrderType.MARKET,
            limit_price=limit,
            # a day order expires at the next replayed close: limits stay up until cancelled
            time_in_force=TimeInForce.GTC if limit is not None else TimeInForce.DAY,
        )
        self.redis.xadd(self.stream, {"data": encode_signal(signal_)})

    def decision(self, sid: str) -> dict[str, Any] | None:
        for entry in self.get("/decisions"):
            payload = entry.get("payload", {})
            if payload.get("request", {}).get("signal_id") == sid:
                return dict(payload)
        return None

    def spot(self, symbol: str) -> Decimal:
        """The last close the service's market has traded: the bundled bar ending at or before
        the service's clock (the same bars the service replays, `sim_session`)."""
        if self._session is None:
            self._session = sim_session(load_settings(self.config))
        now = datetime.fromisoformat(self.get("/status")["now"])  # read after the slow build
        [close] = [b.close for b in self._session.series[symbol] if b.end <= now][-1:]
        return from_units(close)

    def positions(self) -> dict[str, Decimal]:
        return {p["instrument"]: Decimal(str(p["quantity"])) for p in self.get("/positions")}

    def orders(self) -> dict[str, dict[str, Any]]:
        return {o["client_order_id"]: o for o in self.get("/orders")}


def dumps(value: Any) -> str:
    return json.dumps(value, indent=1, default=str)
