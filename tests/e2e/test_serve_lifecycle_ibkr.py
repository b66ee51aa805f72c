"""Issue 11 acceptance on the IBKR adapter: `ordergate gateway-sim` in one process, `ordergate
serve --broker ibkr` in another (Redis signals, SQLite audit, control API), through the real
ib_async client over a real socket. Signals in, reads through the CLI and the API, halt, SIGKILL
and restart from the broker's truth (the gateway keeps the account), resume, flatten, audit
verify — the scenario of test_serve_lifecycle_sim.py."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from ordergate.domain.values import Side
from tests.e2e._serve_rig import CLI, ServeRig, free_port

pytestmark = [pytest.mark.services, pytest.mark.timeout(90)]

ACCOUNT = "DU7654321"


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[int]:
    """`ordergate gateway-sim` on a free port, its own config: the account serve trades, paper,
    no pacing limit (a local emulator has nothing to pace)."""
    port = free_port()
    config = tmp_path / "gateway.toml"
    config.write_text(
        f'mode = "paper"\naccount_id = "{ACCOUNT}"\n[broker]\nport = {port}\n'
        "max_requests_per_second = 0\n",
        encoding="utf-8",
    )
    log = (tmp_path / "gateway.log").open("wb")
    process = subprocess.Popen(
        [*CLI, "gateway-sim", "--config", str(config)],
        cwd=tmp_path,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 30
        while "listening on" not in (tmp_path / "gateway.log").read_text(errors="replace"):
            assert process.poll() is None, (tmp_path / "gateway.log").read_text()
            assert time.monotonic() < deadline, "the gateway emulator did not start"
            time.sleep(0.1)
        yield port
    finally:
        process.terminate()
        process.wait(10)
        log.close()


@pytest.fixture
def rig(tmp_path: Path, redis_url: str, gateway: int) -> Iterator[ServeRig]:
    rig = ServeRig(
        tmp_path,
        redis_url,
        broker="ibkr",
        top=f'account_id = "{ACCOUNT}"',
        broker_extra=f"port = {gateway}\nmax_requests_per_second = 0\nrequest_timeout = 20.0",
    )
    yield rig
    rig.close()


def _lines(text: str) -> list[dict[str, object]]:
    """`--json` output: one object per line."""
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def _over(rig: ServeRig, symbol: str, factor: str) -> Decimal:
    """A limit `factor` times the position's average cost (the emulator's mark filled it)."""
    held = rig.get("/positions")
    [cost] = [Decimal(str(p["avg_cost"])) for p in held if p["instrument"] == symbol]
    return (cost * Decimal(factor)).quantize(Decimal("0.01"))


def test_serve_lifecycle_on_ibkr_survives_sigkill_and_ends_flat(rig: ServeRig) -> None:
    first = rig.start()
    assert first["mode"] == "paper"

    # A market buy fills at the emulator's mark.
    rig.send("E2E-BUY", "AAPL", Side.BUY, 10)
    rig.wait_for(lambda: rig.positions().get("AAPL") == Decimal(10), 30, "the AAPL fill")
    # A limit sell 5% over the fill (inside the 10% collar) stays working.
    rig.send("E2E-LIMIT", "AAPL", Side.SELL, 5, limit=_over(rig, "AAPL", "1.05"))
    rig.wait_for(lambda: rig.decision("E2E-LIMIT"), 20, "the limit's decision")
    assert rig.decision("E2E-LIMIT")["approved"] is True, rig.decision("E2E-LIMIT")
    working = rig.wait_for(
        lambda: [c for c, o in rig.orders().items() if o["limit_price"] is not None],
        20,
        "the working limit order",
    )
    [limit_cid] = working

    # Halt through the CLI (the trading control the service polls); new risk is denied.
    halted = rig.cli("halt", "-c", str(rig.config), "--reason", "e2e halt")
    assert halted.returncode == 0, halted.stderr
    rig.wait_for(lambda: rig.get("/status")["trading"]["state"] == "HALTED", 10, "HALTED")
    rig.send("E2E-DENIED", "MSFT", Side.BUY, 5)
    denied = rig.wait_for(lambda: rig.decision("E2E-DENIED"), 20, "the denial")
    assert denied["approved"] is False
    assert "MSFT" not in rig.positions()

    # SIGKILL mid-session; the restart adopts the working order and the position from IB.
    assert rig.kill(signal.SIGKILL) == -signal.SIGKILL
    rig.start()
    rig.wait_for(lambda: rig.positions() == {"AAPL": Decimal(10)}, 20, "the adopted position")
    orders = rig.wait_for(rig.orders, 20, "the adopted order")
    assert list(orders) == [limit_cid]
    assert Decimal(str(orders[limit_cid]["leaves_qty"])) == Decimal(5)
    assert rig.get("/status")["trading"]["state"] == "HALTED"  # the halt holds too
    check = rig.get("/reconcile")
    assert check["clean"] is True, check["diffs"]
    # the CLI reaches the running service: the same positions, orders and a clean reconcile
    cfg = str(rig.config)
    listed = rig.cli("positions", "-c", cfg, "--json")
    assert listed.returncode == 0, listed.stderr
    assert {p["instrument"]: Decimal(str(p["quantity"])) for p in _lines(listed.stdout)} == {
        "AAPL": Decimal(10)
    }
    listed = rig.cli("orders", "-c", cfg, "--json")
    assert listed.returncode == 0, listed.stderr
    assert [o["client_order_id"] for o in _lines(listed.stdout)] == [limit_cid]
    dry = rig.cli("reconcile", "--dry-run", "-c", cfg, "--json")
    assert dry.returncode == 0, dry.stdout + dry.stderr
    [answer] = _lines(dry.stdout)
    assert answer["diffs"] == [], answer
    assert rig.decision("E2E-BUY")["approved"] is True  # the first process's decisions

    # The adopted order is managed: cancel it through the API (the gate's cancel, sent to IB
    # for an order an earlier process placed).
    rig.post(f"/cancel/{limit_cid}")
    rig.wait_for(lambda: not rig.orders(), 20, "the adopted order's cancel")

    # Resume, put another working order up, then flatten: flat, nothing working.
    rig.post("/resume", reason="e2e resume")
    rig.send("E2E-LIMIT2", "AAPL", Side.SELL, 3, limit=_over(rig, "AAPL", "1.05"))
    rig.wait_for(lambda: rig.decision("E2E-LIMIT2"), 20, "the second decision")
    assert rig.decision("E2E-LIMIT2")["approved"] is True, rig.decision("E2E-LIMIT2")
    rig.wait_for(rig.orders, 20, "the second working order")
    report = rig.post("/flatten", reason="e2e flatten")
    assert report["outcome"] in ("ok", "incomplete"), report
    rig.wait_for(lambda: not rig.positions() and not rig.orders(), 30, "a flat account")

    # SIGTERM drains and exits 0; the audit log verifies.
    assert rig.kill(signal.SIGTERM) == 0
    verify = rig.cli("audit", "verify", "--path", str(rig.audit))
    assert verify.returncode == 0, verify.stdout + verify.stderr
    assert "adopted 1 orders" in rig.output()
