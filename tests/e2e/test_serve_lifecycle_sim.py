"""Issue 11 acceptance on the sim broker: `ordergate serve` as its own process (moving market,
Redis signals, SQLite audit, control API), signals in, reads, halt, SIGKILL and restart from
the broker's truth, resume, flatten, audit verify."""

from __future__ import annotations

import json
import signal
from decimal import Decimal
from pathlib import Path

import pytest

from ordergate.domain.values import Side
from tests.e2e._serve_rig import ServeRig

pytestmark = [pytest.mark.services, pytest.mark.timeout(120)]


@pytest.fixture
def rig(tmp_path: Path, redis_url: str) -> ServeRig:
    rig = ServeRig(tmp_path, redis_url)
    yield rig  # type: ignore[misc]
    rig.close()


def _lines(text: str) -> list[dict[str, object]]:
    """`--json` output: one object per line."""
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def _spot(rig: ServeRig, symbol: str) -> Decimal:
    return rig.spot(symbol)


def test_serve_lifecycle_on_the_sim_survives_sigkill_and_ends_flat(rig: ServeRig) -> None:
    first = rig.start()
    assert first["mode"] == "paper"
    start_time = first["now"]

    # A market buy fills as the market moves (a replayed day every 2 s).
    rig.send("E2E-BUY", "AAPL", Side.BUY, 10)
    rig.wait_for(lambda: rig.positions().get("AAPL") == Decimal(10), 30, "the AAPL fill")
    assert rig.get("/status")["now"] > start_time  # the market moved
    # A limit sell 5% over the last close (inside the 10% collar) stays working. (A buy 8% under
    # it filled: this replay reaches 5 December 2012, when AAPL fell 6.4% in a day.)
    limit = (_spot(rig, "AAPL") * Decimal("1.05")).quantize(Decimal("0.01"))
    rig.send("E2E-LIMIT", "AAPL", Side.SELL, 5, limit=limit)
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

    # SIGKILL mid-session, then a restart adopts the working order and the position.
    assert rig.kill(signal.SIGKILL) == -signal.SIGKILL
    rig.start()
    assert rig.positions() == {"AAPL": Decimal(10)}
    orders = rig.orders()
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

    # The adopted order is managed: cancel it through the API (the gate's cancel).
    rig.post(f"/cancel/{limit_cid}")
    rig.wait_for(lambda: not rig.orders(), 20, "the adopted order's cancel")

    # Resume, put another working order up, then flatten: flat, nothing working.
    rig.post("/resume", reason="e2e resume")
    limit = (_spot(rig, "AAPL") * Decimal("1.05")).quantize(Decimal("0.01"))
    rig.send("E2E-LIMIT2", "AAPL", Side.SELL, 3, limit=limit)
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
    out = rig.output()
    assert "adopted 1 orders" in out


def test_a_second_serve_on_the_same_audit_refuses_naming_the_holder(rig: ServeRig) -> None:
    rig.start()
    second = rig.cli("serve", "-c", str(rig.config), timeout=60)
    assert second.returncode == 3, second.stdout + second.stderr
    assert f"pid {rig.proc.pid}" in second.stderr  # type: ignore[union-attr]
    assert "another ordergate serve already runs" in second.stderr
    assert rig.kill(signal.SIGTERM) == 0
