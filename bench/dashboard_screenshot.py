"""Regenerate docs/img/dashboard.png: the dashboard in headless Chromium during a sim session.

A simulated session (Strategy A on the bundled bars, the sim broker, an in-memory audit) trades
for `--days` daily bars through a gate recording Prometheus metrics; with the gate still running
(positions open, orders working, fills and decisions behind it), the control API and the
dashboard are served on loopback and Debian's chromium, driven by Playwright, takes the
screenshot once the page is live. Nothing is measured.

Run: `python bench/dashboard_screenshot.py [--days N] [--out docs/img/dashboard.png]`.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
from datetime import timedelta
from pathlib import Path

from playwright.async_api import async_playwright

from ordergate.adapters.fakes.audit_log import InMemoryAuditLog
from ordergate.adapters.fakes.publisher import InMemoryPublisher
from ordergate.adapters.http.app import build_control_app
from ordergate.adapters.http.dashboard import observability_router
from ordergate.adapters.http.server import ControlServer
from ordergate.adapters.observability.metrics import PrometheusMetrics
from ordergate.adapters.sim.session import DAILY_BAR, SimSession
from ordergate.application.facade import GateOptions, OrderGate, Ports
from ordergate.application.session import MomentumStrategyA, SessionRunner

ROOT = Path(__file__).resolve().parents[1]


async def shoot(days: int, out: Path) -> None:
    sim = SimSession.build(["AAPL", "MSFT", "IBM"], bars=days, seed=7)
    metrics = PrometheusMetrics()
    gate = OrderGate(
        Ports(
            sim.broker,
            sim.market_data,
            InMemoryAuditLog(clock=sim.clock),
            sim.clock,
            InMemoryPublisher(),
            metrics=metrics,
        ),
        GateOptions(
            operator_id="CSATSPRIM",
            snapshot_window=timedelta(days=120),
            snapshot_bar_size=DAILY_BAR,
            staleness_seconds=3 * 86_400,
        ),
    )
    metrics.watch(gate)
    async with gate:
        router = observability_router(gate, interval=0.1)
        app = build_control_app(gate, token="screenshot", broker_kind="sim", extra_routers=[router])
        async with ControlServer(app, host="127.0.0.1", port=0) as server, async_playwright() as pw:
            browser = await pw.chromium.launch(
                executable_path=shutil.which("chromium") or "/usr/bin/chromium",
                args=["--no-sandbox", "--disable-gpu"],
            )
            page = await browser.new_page(viewport={"width": 1400, "height": 1000})
            await page.goto(server.url + "/")
            # the curve grows while the session trades: run it with the page open
            await SessionRunner(gate, sim.pacer, [MomentumStrategyA(sim.stocks)]).run()
            await page.wait_for_function(
                "document.getElementById('live').textContent === 'live'", timeout=10_000
            )
            await asyncio.sleep(0.5)
            await page.screenshot(path=str(out), full_page=True)
            await browser.close()
    print(f"wrote {out}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=120)
    parser.add_argument("--out", default=str(ROOT / "docs" / "img" / "dashboard.png"))
    args = parser.parse_args()
    asyncio.run(shoot(args.days, Path(args.out)))


if __name__ == "__main__":
    main()
