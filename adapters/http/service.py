"""How `ordergate serve` runs the control API: `api_token(settings)` before anything starts,
then `async with control_api(settings, gate, token) as server:` while it trades.

This module imports nothing of FastAPI or uvicorn until `control_api` runs, so `serve` without
`[service] enabled` (and every other command) never loads them. A missing `service` extra, an
unset token variable or a taken port are `ConfigError`s naming the key (exit 2), raised before
the service takes any signal.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ordergate.application.config import ConfigError, Settings
from ordergate.application.facade import OrderGate

if TYPE_CHECKING:
    from ordergate.adapters.http.server import ControlServer

__all__ = ["api_token", "control_api"]


def api_token(settings: Settings, environ: Mapping[str, str]) -> str:
    """The bearer token of the control API, from the variable `service.token_env` names.

    Raises `ConfigError` (service.token_env) when it is unset or empty: the API never runs
    without a token. Checks, too, that the `service` extra is installed.
    """
    variable = settings.service.token_env
    token = environ.get(variable, "").strip()
    if not token:
        raise ConfigError.single(
            "service.token_env",
            f"service.token_env: service.enabled is true but {variable} is unset or empty; "
            f"export {variable}=<a long random token> (e.g. from `openssl rand -hex 32`) or "
            "set service.enabled = false",
        )
    try:
        import fastapi  # noqa: F401, PLC0415
        import uvicorn  # noqa: F401, PLC0415
    except ImportError as exc:
        raise ConfigError.single(
            "service.enabled",
            f"service.enabled: the control API needs the 'service' extra ({exc}); "
            "pip install 'ordergate[service]'",
        ) from None
    return token


@contextlib.asynccontextmanager
async def control_api(
    settings: Settings,
    gate: OrderGate,
    token: str,
    *,
    extra_routers: Sequence[Any] = (),
) -> AsyncIterator[ControlServer]:
    """Serve the control API of `gate` on `service.host:service.port` while the block runs.

    `extra_routers` (FastAPI `APIRouter`s: metrics, a dashboard, ...) are served beside it.
    """
    from ordergate.adapters.http.app import build_control_app  # noqa: PLC0415
    from ordergate.adapters.http.server import ControlServer, ServerStartError  # noqa: PLC0415

    service = settings.service
    app = build_control_app(
        gate,
        token=token,
        broker_kind=settings.broker.kind.value,
        account_id=settings.account_id,
        extra_routers=extra_routers,
    )
    server = ControlServer(app, host=service.host, port=service.port)
    try:
        await server.start()
    except ServerStartError as exc:
        raise ConfigError.single(exc.key, str(exc)) from None
    try:
        yield server
    finally:
        await server.stop()
