"""The dashboard in a real headless Chromium (Debian's `chromium`, driven by Playwright with
`executable_path`): it loads with no console errors, shows a fill within 2 s of the fill
happening in the session, and its Halt button with the token halts the gate and shows HALTED.

Skipped, with the reason, only where the browser or Playwright is missing — unless
`ORDERGATE_REQUIRE_SERVICES=1`, where that is a failure (`.ci/run` installs both)."""

from __future__ import annotations

import os
import shutil
from decimal import Decimal

import pytest

from tests.unit._signal_rig import AAPL, T0

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
TOKEN = "dashboard-test-token-0123456789"


def _browser_or_skip() -> None:
    missing = []
    if not os.path.exists(CHROMIUM):
        missing.append("chromium (apt-get install chromium)")
    try:
        import playwright.async_api  # noqa: F401
    except ImportError:
        missing.append("playwright (pip install playwright)")
    try:
        import fastapi  # noqa: F401
    except ImportError:
        missing.append("the service extra (fastapi, uvicorn)")
    if missing:
        reason = "the browser test needs " + ", ".join(missing)
        if os.environ.get("ORDERGATE_REQUIRE_SERVICES") == "1":
            pytest.fail(reason)
        pytest.skip(reason)


async def test_the_dashboard_shows_a_fill_live_and_halts_with_the_token() -> None:
    _browser_or_skip()
    from playwright.async_api import async_playwright

    from ordergate.adapters.fakes.audit_log import InMemoryAuditLog
    from ordergate.adapters.fakes.broker import FakeBroker
    from ordergate.adapters.fakes.clock import FakeClock
    from ordergate.adapters.fakes.market_data import FakeMarketData
    from ordergate.adapters.fakes.publisher import InMemoryPublisher
    from ordergate.adapters.http.app import build_control_app
    from ordergate.adapters.http.dashboard import observability_router
    from ordergate.adapters.http.server import ControlServer
    from ordergate.adapters.observability.metrics import PrometheusMetrics
    from ordergate.application.facade import GateOptions, OrderGate, Ports
    from ordergate.domain.risk.decision import TradingState
    from ordergate.domain.signals import Signal
    from ordergate.domain.values import Side, SignalId

    clock = FakeClock(T0)
    broker = FakeBroker(clock, [AAPL])
    market = FakeMarketData(clock, [AAPL])
    broker.set_price(AAPL, Decimal(100))
    market.set_price(AAPL, Decimal(100))
    metrics = PrometheusMetrics()
    gate = OrderGate(
        Ports(
            broker,
            market,
            InMemoryAuditLog(clock=clock),
            clock,
            InMemoryPublisher(),
            metrics=metrics,
        ),
        GateOptions(operator_id="CSATSPRIM"),
    )
    metrics.watch(gate)
    errors: list[str] = []
    async with gate:
        app = build_control_app(
            gate,
            token=TOKEN,
            broker_kind="fake",
            extra_routers=[observability_router(gate, interval=0.1, stream_seconds=5)],
        )
        async with ControlServer(app, host="127.0.0.1", port=0) as server, async_playwright() as pw:
            browser = await pw.chromium.launch(
                executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"]
            )
            try:
                page = await browser.new_page()
                page.on(
                    "console",
                    lambda m: errors.append(m.text) if m.type == "error" else None,
                )
                page.on("pageerror", lambda e: errors.append(str(e)))
                await page.goto(server.url + "/")
                await page.wait_for_function(
                    "document.getElementById('live').textContent === 'live'", timeout=10_000
                )
                # a fill happens in the session: the page shows it within 2 s
                signal = Signal(SignalId("dash-1"), AAPL, Side.BUY, T0, quantity=Decimal(5))
                (result,) = await gate.submit_signal(signal)
                await gate.settle()
                assert gate.portfolio.position_qty(AAPL.id) == Decimal(5)
                cid = result.client_order_id.value
                await page.wait_for_function(
                    f"document.getElementById('fills').textContent.includes('{cid}')",
                    timeout=2_000,
                )
                assert "AAPL" in await page.inner_text("#positions")
                assert "approved" in await page.inner_text("#decisions")
                # Halt with the token: the gate halts and the page says so
                await page.fill("#token", TOKEN)
                await page.fill("#operator", "alice")
                await page.click("#halt")
                await page.wait_for_function(
                    "document.getElementById('trading-state').textContent === 'HALTED'",
                    timeout=10_000,
                )
                assert TradingState.HALTED is gate.trading_state
                assert TOKEN == await page.evaluate("sessionStorage.getItem('ordergate.token')")
                metrics_text = await (await page.request.get(server.url + "/metrics")).text()
                assert "ordergate_fills_total 1.0" in metrics_text
            finally:
                await browser.close()
    assert [] == errors
