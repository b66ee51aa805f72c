"""TWS gateway emulator: an asyncio server speaking the TWS API wire protocol (server version
178) so unmodified IB clients such as ib_async connect to it, driven by a `GatewayEngine`.

`GatewayServer` owns the protocol; `InstantEngine` is the immediate-fill engine used when no
simulator is plugged in; the sim matching engine implements `GatewayEngine` too. This package
is a server: it must never import `ib_async`.
"""

from ordergate.adapters.gateway_sim.cli import DEFAULT_PORT, run_gateway, serve_gateway
from ordergate.adapters.gateway_sim.engine import EngineRefusal, GatewayEngine, RefusalReason
from ordergate.adapters.gateway_sim.faults import FaultPlan, FaultScript
from ordergate.adapters.gateway_sim.instant_engine import InstantEngine
from ordergate.adapters.gateway_sim.server import GatewayServer

__all__ = [
    "DEFAULT_PORT",
    "EngineRefusal",
    "FaultPlan",
    "FaultScript",
    "GatewayEngine",
    "GatewayServer",
    "InstantEngine",
    "RefusalReason",
    "run_gateway",
    "serve_gateway",
]
