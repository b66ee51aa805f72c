"""`/metrics`, the live dashboard at `/` and its server-sent event stream `/events`.

`observability_router(gate)` is an `APIRouter` for `build_control_app(extra_routers=...)`:

- `GET /metrics`: the Prometheus exposition of the gate's `PrometheusMetrics` registry
  (404 when the gate reports to none);
- `GET /`: the dashboard (static HTML, CSS and JavaScript shipped in the wheel, under
  `static/`; no JavaScript library);
- `GET /static/{name}`: those files;
- `GET /events`: `text/event-stream`, one `snapshot` event every `interval` seconds (trading
  state and kill switch, breakers, broker link, positions with unrealized PnL, working orders,
  recent fills and decisions with their denial reasons, PnL and the equity curve). A stream
  ends after `stream_seconds` and the browser's EventSource reconnects (a `retry` of 1 s), so a
  stopping server never waits long for an open page.

Reads need no token; the dashboard's Halt and Resume buttons call the control API's
`POST /halt` / `POST /resume` with the token the user types (kept in the tab's sessionStorage).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import deque
from decimal import Decimal
from importlib import resources
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, Response, StreamingResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from ordergate.adapters.observability.metrics import PrometheusMetrics, prometheus_of
from ordergate.application.facade import OrderGate

__all__ = ["CURVE_POINTS", "observability_router", "snapshot"]

CURVE_POINTS = 600
"""How many equity points the curve keeps (one per snapshot)."""
_STATIC = {
    "dashboard.js": "text/javascript; charset=utf-8",
    "dashboard.css": "text/css; charset=utf-8",
}


def _num(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def snapshot(
    gate: OrderGate, metrics: PrometheusMetrics | None, curve: deque[tuple[str, str]]
) -> dict[str, Any]:
    """Everything the dashboard shows, as JSON-ready values (money as decimal strings)."""
    status = gate.status()
    portfolio = gate.portfolio
    positions = []
    for p in sorted(gate.positions(), key=lambda p: p.instrument_id.value):
        mark = portfolio.mark_of(p.instrument_id)
        positions.append(
            {
                "instrument": p.instrument_id.value,
                "quantity": _num(p.quantity),
                "avg_cost": _num(p.avg_open_price),
                "mark": _num(mark),
                "unrealized_pnl": None if mark is None else _num(p.unrealized_pnl(mark)),
            }
        )
    orders = [
        {
            "client_order_id": o.client_order_id.value,
            "instrument": o.request.instrument.id.value,
            "side": o.request.side.value,
            "type": o.request.order_type.value,
            "quantity": _num(o.quantity),
            "filled": _num(o.filled_qty),
            "limit_price": _num(o.limit_price),
            "stop_price": _num(o.stop_price),
            "status": o.status.value,
        }
        for o in portfolio.working_orders()
    ]
    equity = portfolio.equity()
    now = status.now.isoformat()
    if not curve or curve[-1][1] != str(equity) or len(curve) == 1:
        curve.append((now, str(equity)))
    return {
        "now": now,
        "mode": status.mode,
        "operator_id": status.operator_id,
        "trading": {
            "state": status.trading_state.value,
            "reason": status.trading_reason,
            "kill_switch": status.kill_switch,
        },
        "breakers": [
            {"name": b.name, "state": b.state.value, "reason": b.reason} for b in status.breakers
        ],
        "connection": {
            "state": gate.connection_state.value,
            "broker_connected": status.broker_connected,
            "link_lost": status.link_lost,
        },
        "positions": positions,
        "orders": orders,
        "fills": list(reversed(metrics.recent_fills)) if metrics else [],
        "decisions": list(reversed(metrics.recent_decisions)) if metrics else [],
        "pnl": {
            "equity": str(equity),
            "cash": str(portfolio.cash),
            "realized": str(portfolio.realized_pnl()),
            "unrealized": str(portfolio.unrealized_pnl()),
        },
        "curve": list(curve),
        "parity": {
            "match": metrics.parity["match"] if metrics else 0,
            "mismatch": metrics.parity["mismatch"] if metrics else 0,
            "recent_mismatches": list(reversed(metrics.recent_mismatches)) if metrics else [],
        },
    }


def _static(name: str) -> str:
    return resources.files("ordergate.adapters.http").joinpath("static", name).read_text("utf-8")


def observability_router(
    gate: OrderGate, *, interval: float = 0.5, stream_seconds: float = 30.0
) -> APIRouter:
    """The router of `/metrics`, `/`, `/static/*` and `/events` for `gate`."""
    metrics = prometheus_of(gate.metrics)
    curve: deque[tuple[str, str]] = deque(maxlen=CURVE_POINTS)
    router = APIRouter(tags=["observability"])

    @router.get("/metrics", summary="Prometheus metrics", response_class=Response)
    async def metrics_endpoint() -> Response:
        if metrics is None:
            raise HTTPException(404, "this gate reports to no Prometheus registry")
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    @router.get("/", summary="The live dashboard", response_class=HTMLResponse)
    async def dashboard() -> HTMLResponse:
        return HTMLResponse(_static("dashboard.html"))

    @router.get("/static/{name}", summary="The dashboard's files", response_class=Response)
    async def static(name: str) -> Response:
        if name not in _STATIC:
            raise HTTPException(404, f"no static file {name!r}")
        return Response(_static(name), media_type=_STATIC[name])

    @router.get("/events", summary="Live snapshots (server-sent events)")
    async def events(request: Request) -> StreamingResponse:
        async def stream() -> Any:
            yield "retry: 1000\n\n"
            ends = time.monotonic() + stream_seconds
            while time.monotonic() < ends:
                data = json.dumps(snapshot(gate, metrics, curve))
                yield f"event: snapshot\ndata: {data}\n\n"
                if await request.is_disconnected():
                    return
                await asyncio.sleep(interval)

        return StreamingResponse(
            stream(),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
        )

    return router
