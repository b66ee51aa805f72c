"""`build_control_app`: the control API of a running gate, as a FastAPI app.

Reads (no token): `GET /status`, `/positions`, `/orders`, `/fills`, `/pnl`, `/decisions`,
`/reconcile` (a dry run). Writes (bearer token, JSON body `{"operator": ..., "reason": ...}`):
`POST /halt`, `/reduce`, `/resume`, `/kill`, `/flatten`, `/cancel/{client_order_id}`,
`/reconcile`. The app holds the `OrderGate` facade only, never the broker: every write is one of
the facade's gated use cases, so nothing reaches the broker around the risk gate.

Every accepted write is audited twice: `control.request` (operator, endpoint, reason, client
address) before it acts, `control.result` (the outcome) after. A write refused for its token
(401) or its body (4xx) is not audited and changes nothing. Writes run one at a time.

Errors are JSON `ErrorOut` bodies naming the field at fault: 401 (token), 400 (body not JSON),
422 (a field's value), 404 (unknown order or route), 409 (refused by the trading state, e.g.
reduce while the kill switch holds), 502 (the broker failed), 503 (the audit log or the trading
control failed).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from importlib import metadata
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from ordergate.adapters.http.auth import BearerTokenMiddleware, bearer_dependency
from ordergate.adapters.http.schemas import (
    AuditEntryOut,
    BreakerOut,
    CancelOut,
    ConnectionOut,
    CountsOut,
    DiffOut,
    ErrorOut,
    FlattenOut,
    OperatorRequest,
    OrderOut,
    OrderResultOut,
    OrderViewOut,
    PnLOut,
    PositionOut,
    ReconcileOut,
    StatusOut,
    TradingOut,
    WriteOut,
)
from ordergate.application.facade import OrderGate
from ordergate.application.flatten import FlattenReport
from ordergate.application.results import OrderResult, OrderResultStatus
from ordergate.domain.account import OrderView
from ordergate.domain.audit import AuditEntry
from ordergate.domain.errors import BrokerError, InvalidValue, OrdergateError, UnknownOrder
from ordergate.domain.orders.order import Order
from ordergate.domain.risk.breakers import KillSwitchEngaged
from ordergate.domain.values import ClientOrderId
from ordergate.ports.trading_control import TradingControlError

__all__ = ["WRITE_ENDPOINTS", "build_control_app", "package_version"]

WRITE_ENDPOINTS = ("halt", "reduce", "resume", "kill", "flatten", "cancel", "reconcile")
"""Every write, by the name it is audited under."""

_SAFE_WRITES = frozenset({"halt", "kill", "flatten", "cancel"})
"""Writes that only take risk away: they go ahead even when the audit log cannot record the
request (a failing store must never delay stopping); the others are refused with 503."""

_MAX_LIMIT = 10_000
_SINCE = "Only records at or after this time (ISO 8601 with a zone, e.g. 2024-01-02T15:00Z)."
_ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorOut, "description": text}
    for code, text in (
        (400, "The body is not JSON."),
        (401, "No bearer token, or the wrong one: nothing was done."),
        (404, "No such order."),
        (409, "Refused by the trading state (e.g. reduce while the kill switch holds)."),
        (422, "A field's value is invalid; `field` names it."),
        (502, "The broker failed."),
        (503, "The audit log or the trading control failed."),
    )
}
_READ_ERRORS: dict[int | str, dict[str, Any]] = {422: _ERRORS[422]}


def package_version() -> str:
    """The installed ordergate version ("unknown" when run from an uninstalled tree)."""
    try:
        return metadata.version("ordergate")
    except metadata.PackageNotFoundError:
        return "unknown"


class _ApiError(Exception):
    def __init__(self, status: int, error: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status, self.error, self.message, self.field = status, error, message, field


def _error(status: int, error: str, message: str, field: str | None = None) -> JSONResponse:
    body = ErrorOut(error=error, message=message, field=field)
    return JSONResponse(body.model_dump(mode="json"), status_code=status)


def _field_of(location: Sequence[Any]) -> str:
    """The field a validation error is about: `("body", "operator")` -> `operator`."""
    names = [str(part) for part in location if part not in ("body", "query", "path", "header")]
    return ".".join(names) if names else str(location[0] if location else "body")


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    problems = [dict(e) for e in exc.errors()]
    for problem in problems:
        problem.pop("ctx", None)  # may hold exceptions (not JSON)
        problem.pop("input", None)  # never echo what was sent (it may be anything)
        problem.pop("url", None)
    first = problems[0] if problems else {"loc": ("body",), "msg": "invalid", "type": ""}
    field = _field_of(first.get("loc", ("body",)))
    if first.get("type") == "json_invalid":
        status, code, message = 400, "invalid_json", f"the body is not JSON: {first.get('msg')}"
        field = "body"
    else:
        status, code = 422, "invalid_request"
        message = f"{field}: {first.get('msg', 'invalid')}"
    body = ErrorOut(error=code, message=message, field=field, errors=problems)
    return JSONResponse(body.model_dump(mode="json"), status_code=status)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    code = {401: "unauthorized", 404: "not_found", 405: "method_not_allowed"}.get(
        exc.status_code, "error"
    )
    field = "Authorization" if exc.status_code == 401 else None
    response = _error(exc.status_code, code, str(exc.detail), field)
    if exc.headers:
        response.headers.update(exc.headers)
    return response


async def _api_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, _ApiError)
    return _error(exc.status, exc.error, exc.message, exc.field)


# -- views -------------------------------------------------------------------------------------
def _order(order: Order) -> OrderOut:
    request = order.request
    return OrderOut(
        client_order_id=order.client_order_id.value,
        broker_order_id=None if order.broker_order_id is None else str(order.broker_order_id),
        instrument=request.instrument.id.value,
        side=request.side.value,
        order_type=request.order_type.value,
        status=order.status.value,
        quantity=order.quantity,
        filled_qty=order.filled_qty,
        leaves_qty=order.leaves_qty,
        limit_price=order.limit_price,
        stop_price=order.stop_price,
        avg_px=order.avg_px,
        intent=request.intent.value,
        closure_reason=None if request.closure_reason is None else request.closure_reason.value,
    )


def _view(view: OrderView) -> OrderViewOut:
    return OrderViewOut(
        client_order_id=view.client_order_id.value,
        broker_order_id=None if view.broker_order_id is None else str(view.broker_order_id),
        instrument=view.instrument_id.value,
        side=view.side.value,
        order_type=view.order_type.value,
        status=view.status.value,
        quantity=view.quantity,
        filled_qty=view.filled_qty,
        leaves_qty=view.leaves_qty,
        limit_price=view.limit_price,
        stop_price=view.stop_price,
    )


def _result(result: OrderResult) -> OrderResultOut:
    return OrderResultOut(
        client_order_id=result.client_order_id.value,
        status=result.status.value,
        reason=result.reason,
        broker_order_id=None if result.broker_order_id is None else str(result.broker_order_id),
        fill_quantity=result.fill_quantity,
        fill_price=result.fill_price,
    )


def _entry(entry: AuditEntry) -> AuditEntryOut:
    record = entry.record
    return AuditEntryOut(
        sequence=entry.sequence,
        kind=record.kind,
        ts=record.ts,
        correlation_id=None if record.correlation_id is None else record.correlation_id.value,
        payload=dict(record.payload),
    )


def _flatten_message(report: FlattenReport) -> str:
    problems = []
    if report.still_working:
        problems.append(f"{len(report.still_working)} order(s) still working at the broker")
    if report.unsent:
        problems.append(f"{len(report.unsent)} of {len(report.closures)} closures were not sent")
    return "; ".join(problems)


def _aware(name: str, value: datetime | None) -> datetime | None:
    if value is not None and value.tzinfo is None:
        raise _ApiError(
            422, "invalid_request", f"{name}: must carry a time zone (e.g. 2024-01-02T15:00Z)", name
        )
    return value


# -- the app -----------------------------------------------------------------------------------
def build_control_app(
    gate: OrderGate,
    *,
    token: str,
    broker_kind: str,
    account_id: str | None = None,
    extra_routers: Sequence[APIRouter] = (),
    title: str = "ordergate control API",
) -> FastAPI:
    """The control API of `gate` (see the module docstring). `token` is the bearer token every
    write needs (non-empty); `extra_routers` are included as they are (their writes need the
    token too: the middleware guards every path)."""
    if not token:
        raise InvalidValue("token", token, "must be a non-empty bearer token")
    started = time.monotonic()
    version = package_version()
    writes = asyncio.Lock()
    app = FastAPI(
        title=title,
        version=version,
        description=(
            "Steer a running `ordergate serve`: read its state, halt, reduce, resume, kill, "
            "flatten, cancel. Writes need `Authorization: Bearer <token>` and name the operator; "
            "every write is audited. See docs/operations.md."
        ),
        docs_url=None,
        redoc_url=None,
    )
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(_ApiError, _api_error)
    app.add_middleware(BearerTokenMiddleware, token=token)
    app.state.gate = gate

    reads = APIRouter(tags=["reads"], responses=_READ_ERRORS)
    auth = APIRouter(
        tags=["writes"], dependencies=[Depends(bearer_dependency(token))], responses=_ERRORS
    )

    # -- reads ---------------------------------------------------------------------------------
    @reads.get("/status", response_model=StatusOut, summary="Trading state, breakers, link")
    async def status() -> StatusOut:
        now = gate.status()
        return StatusOut(
            version=version,
            mode=now.mode,
            operator_id=now.operator_id,
            account_id=account_id,
            trading=TradingOut(
                state=now.trading_state.value,
                reason=now.trading_reason,
                changed_at=now.trading_changed_at,
                kill_switch=now.kill_switch,
            ),
            breakers=[
                BreakerOut(name=b.name, state=b.state.value, opened_at=b.opened_at, reason=b.reason)
                for b in now.breakers
            ],
            connection=ConnectionOut(
                broker_kind=broker_kind,
                broker_connected=now.broker_connected,
                link_lost=now.link_lost,
            ),
            counts=CountsOut(
                open_positions=now.open_positions,
                working_orders=now.working_orders,
                orders_tracked=now.orders_tracked,
            ),
            started_at=now.started_at,
            now=now.now,
            uptime_seconds=round(time.monotonic() - started, 3),
        )

    @reads.get("/positions", response_model=list[PositionOut], summary="Open positions")
    async def positions(
        source: Annotated[
            str,
            Query(
                pattern="^(gate|broker)$",
                description="gate: as the gate built them from fills (with PnL); broker: as "
                "the broker reports them now.",
            ),
        ] = "gate",
    ) -> list[PositionOut]:
        if source == "broker":
            held = await _broker_call(gate.broker_positions)
            return [
                PositionOut(
                    instrument=p.instrument_id.value, quantity=p.quantity, avg_cost=p.avg_cost
                )
                for p in sorted(held, key=lambda p: p.instrument_id.value)
            ]
        out = []
        for p in sorted(gate.positions(), key=lambda p: p.instrument_id.value):
            mark = gate.portfolio.mark_of(p.instrument_id)
            out.append(
                PositionOut(
                    instrument=p.instrument_id.value,
                    quantity=p.quantity,
                    avg_cost=p.avg_open_price,
                    mark=mark,
                    market_value=None if mark is None else p.market_value(mark),
                    unrealized_pnl=None if mark is None else p.unrealized_pnl(mark),
                    realized_pnl=p.realized_pnl,
                )
            )
        return out

    @reads.get("/orders", response_model=list[OrderOut], summary="Working orders")
    async def orders(
        all_orders: Annotated[
            bool, Query(alias="all", description="Also the finished orders of this session.")
        ] = False,
    ) -> list[OrderOut]:
        chosen = (
            list(gate.portfolio.orders.values())
            if all_orders
            else list(gate.portfolio.working_orders())
        )
        return [_order(o) for o in chosen]

    @reads.get("/fills", response_model=list[AuditEntryOut], summary="Fills (audit log)")
    async def fills(
        since: Annotated[datetime | None, Query(description=_SINCE)] = None,
        limit: Annotated[int, Query(ge=1, le=_MAX_LIMIT)] = 1000,
    ) -> list[AuditEntryOut]:
        return await _audit(gate, "broker.fill", _aware("since", since), limit)

    @reads.get("/pnl", response_model=PnLOut, summary="Cash, equity and PnL")
    async def pnl() -> PnLOut:
        p = gate.portfolio
        return PnLOut(
            starting_cash=p.starting_cash,
            cash=p.cash,
            equity=p.equity(),
            market_value=p.market_value(),
            realized_pnl=p.realized_pnl(),
            unrealized_pnl=p.unrealized_pnl(),
            session_pnl=p.session_pnl(),
            commissions=p.total_commissions,
            gross_notional=p.gross_notional(),
            drawdown_from_week_high=p.drawdown_from_week_high(),
        )

    @reads.get(
        "/decisions", response_model=list[AuditEntryOut], summary="Risk decisions (audit log)"
    )
    async def decisions(
        since: Annotated[datetime | None, Query(description=_SINCE)] = None,
        limit: Annotated[int, Query(ge=1, le=_MAX_LIMIT)] = 1000,
    ) -> list[AuditEntryOut]:
        return await _audit(gate, "risk.decision", _aware("since", since), limit)

    @reads.get("/reconcile", response_model=ReconcileOut, summary="Differences with the broker")
    async def reconcile_dry_run() -> ReconcileOut:
        report = await _broker_call(lambda: gate.reconcile(dry_run=True))
        return ReconcileOut(
            dry_run=True,
            clean=report.clean,
            diffs=[
                DiffOut(kind=d.kind, key=d.key, ours=d.ours, broker=d.broker) for d in report.diffs
            ],
            recovered=0,
        )

    # -- writes --------------------------------------------------------------------------------
    async def write(
        request: Request,
        endpoint: str,
        body: OperatorRequest,
        act: Callable[[str], Awaitable[tuple[str, str, dict[str, Any]]]],
        **details: str,
    ) -> dict[str, Any]:
        """Audit the request, act, audit the outcome; returns the answer's fields."""
        reason = body.reason or f"operator {endpoint}"
        told = f"{reason} (operator {body.operator} via the control API)"
        client = request.client
        async with writes:
            try:
                await gate.record(
                    "control.request",
                    {
                        "operator": body.operator,
                        "endpoint": endpoint,
                        "reason": body.reason,
                        "client": None if client is None else f"{client.host}:{client.port}",
                        **details,
                    },
                )
            except Exception as exc:  # the store failed: only risk-reducing writes go ahead
                if endpoint not in _SAFE_WRITES:
                    raise _ApiError(
                        503,
                        "audit_unavailable",
                        f"the audit log cannot record the request ({type(exc).__name__}: {exc});"
                        " nothing was done",
                    ) from None
            outcome, message = "failed", ""
            extra: dict[str, Any] = {}
            try:
                outcome, message, extra = await act(told)
            except _ApiError as exc:
                outcome, message = "refused", exc.message
                raise
            except KillSwitchEngaged as exc:
                outcome, message = "refused", str(exc)
                raise _ApiError(409, "conflict", message) from None
            except UnknownOrder:
                outcome = "refused"
                message = f"client_order_id: no order {details.get('client_order_id')!r} here"
                raise _ApiError(404, "not_found", message, "client_order_id") from None
            except TradingControlError as exc:
                message = f"the trading control failed: {exc}"
                raise _ApiError(503, "control_unavailable", message) from None
            except BrokerError as exc:
                message = f"the broker failed: {exc}"
                raise _ApiError(502, "broker_error", message) from None
            except OrdergateError as exc:
                message = str(exc)
                raise _ApiError(409, "refused", message) from None
            finally:
                await _record_result(gate, body.operator, endpoint, outcome, message)
        return {
            "endpoint": endpoint,
            "operator": body.operator,
            "outcome": outcome,
            "message": message,
            "trading_state": gate.trading_state.value,
            "kill_switch": gate.kill_switch_engaged,
            **extra,
        }

    def state_write(endpoint: str, move: Callable[[str], Awaitable[None]], summary: str) -> None:
        async def handler(request: Request, body: OperatorRequest) -> WriteOut:
            async def act(reason: str) -> tuple[str, str, dict[str, Any]]:
                await move(reason)
                return "ok", "", {}

            return WriteOut(**await write(request, endpoint, body, act))

        handler.__name__ = f"post_{endpoint}"
        auth.post(f"/{endpoint}", response_model=WriteOut, summary=summary)(handler)

    state_write("halt", gate.halt, "HALTED: only closures and flattens pass")
    state_write("reduce", gate.reduce, "REDUCING: only exposure-reducing orders pass")
    state_write("resume", gate.resume, "ACTIVE again; also releases the kill switch")

    def flatten_answer(report: FlattenReport) -> tuple[str, str, dict[str, Any]]:
        extra: dict[str, Any] = {
            "cancelled": [_view(v) for v in report.cancelled],
            "still_working": [_view(v) for v in report.still_working],
            "closures": [_result(r) for r in report.closures],
        }
        return ("ok" if report.ok else "incomplete"), _flatten_message(report), extra

    @auth.post("/flatten", response_model=FlattenOut, summary="Cancel everything, close all")
    async def post_flatten(request: Request, body: OperatorRequest) -> FlattenOut:
        async def act(reason: str) -> tuple[str, str, dict[str, Any]]:
            report = await gate.flatten()
            await gate.settle()
            return flatten_answer(report)

        return FlattenOut(**await write(request, "flatten", body, act))

    @auth.post("/kill", response_model=FlattenOut, summary="Kill switch, cancel, flatten")
    async def post_kill(request: Request, body: OperatorRequest) -> FlattenOut:
        async def act(reason: str) -> tuple[str, str, dict[str, Any]]:
            report = await gate.kill(reason)
            await gate.settle()
            outcome, message, extra = flatten_answer(report.flatten)
            if not report.persisted:
                outcome = "incomplete"
                message = "; ".join(
                    m for m in (f"not persisted: {report.control_error}", message) if m
                )
            return outcome, message, {**extra, "persisted": report.persisted}

        return FlattenOut(**await write(request, "kill", body, act))

    @auth.post(
        "/cancel/{client_order_id}", response_model=CancelOut, summary="Cancel a working order"
    )
    async def post_cancel(
        request: Request,
        body: OperatorRequest,
        client_order_id: Annotated[
            str,
            Path(
                pattern=r"^[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}$",
                description="The order's client order id.",
            ),
        ],
    ) -> CancelOut:
        async def act(reason: str) -> tuple[str, str, dict[str, Any]]:
            cid = ClientOrderId(client_order_id)
            known = cid in gate.portfolio.orders
            result = await gate.cancel(cid)
            if result.status is OrderResultStatus.REJECTED:
                if not known:  # neither this session nor the broker has it
                    raise _ApiError(
                        404,
                        "not_found",
                        f"client_order_id: no working order {client_order_id!r} here or at the "
                        f"broker ({result.reason})",
                        "client_order_id",
                    )
                raise _ApiError(
                    409,
                    "refused",
                    f"the broker refused to cancel {client_order_id}: {result.reason}",
                    "client_order_id",
                )
            outcome = {
                OrderResultStatus.FAILED: "failed",
                OrderResultStatus.TIMEOUT: "timeout",
            }.get(result.status, "refused" if result.reason == "already final" else "ok")
            return outcome, result.reason, {"result": _result(result)}

        answer = await write(request, "cancel", body, act, client_order_id=client_order_id)
        return CancelOut(**answer)

    @auth.post("/reconcile", response_model=ReconcileOut, summary="Recover missed fills")
    async def post_reconcile(request: Request, body: OperatorRequest) -> ReconcileOut:
        async def act(reason: str) -> tuple[str, str, dict[str, Any]]:
            report = await gate.reconcile(dry_run=False)
            diffs = [
                DiffOut(kind=d.kind, key=d.key, ours=d.ours, broker=d.broker) for d in report.diffs
            ]
            return (
                "ok",
                "",
                {"diffs": diffs, "clean": report.clean, "recovered": len(report.recovered)},
            )

        answer = await write(request, "reconcile", body, act)
        return ReconcileOut(
            dry_run=False,
            clean=answer["clean"],
            diffs=answer["diffs"],
            recovered=answer["recovered"],
            operator=answer["operator"],
            outcome=answer["outcome"],
        )

    app.include_router(reads)
    app.include_router(auth)
    for router in extra_routers:
        app.include_router(router)
    return app


async def _broker_call(call: Callable[[], Awaitable[Any]]) -> Any:
    try:
        return await call()
    except BrokerError as exc:
        raise _ApiError(502, "broker_error", f"the broker failed: {exc}") from None


async def _audit(
    gate: OrderGate, kind: str, since: datetime | None, limit: int
) -> list[AuditEntryOut]:
    try:
        entries = await gate.audit_entries(kind=kind, since=since, limit=limit)
    except OrdergateError as exc:
        raise _ApiError(503, "audit_unavailable", f"the audit log failed: {exc}") from None
    return [_entry(e) for e in entries]


async def _record_result(
    gate: OrderGate, operator: str, endpoint: str, outcome: str, message: str
) -> None:
    # The action is done either way; its own records (trading.request, broker.*) hold the truth.
    with contextlib.suppress(Exception):
        await gate.record(
            "control.result",
            {"operator": operator, "endpoint": endpoint, "outcome": outcome, "message": message},
        )
