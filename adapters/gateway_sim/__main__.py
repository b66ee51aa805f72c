"""`python -m ordergate.adapters.gateway_sim --port 4002`: run the TWS gateway emulator.

Argument parsing only; the work is `cli.run_gateway`. Must never import `ib_async`.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from ordergate.adapters.gateway_sim.cli import DEFAULT_PORT, run_gateway
from ordergate.adapters.gateway_sim.server import GatewayServer


def main(argv: Sequence[str] | None = None) -> int:
    """Parse arguments and serve until interrupted; returns the process exit code."""
    parser = argparse.ArgumentParser(
        prog="python -m ordergate.adapters.gateway_sim",
        description="TWS API gateway emulator (immediate-fill engine) for IB clients.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="interface to bind (loopback)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="port; 0 picks a free one")
    parser.add_argument("--account", action="append", dest="accounts", metavar="CODE",
                        help="account code to manage (repeatable; default DU1234567)")
    parser.add_argument("--faults", metavar="FILE_OR_SCRIPT",
                        help="fault script: a file path, or inline steps separated by ';'")
    parser.add_argument("--log-level", default="INFO", help="logging level (DEBUG, INFO, ...)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    script = args.faults
    if script and Path(script).is_file():
        script = Path(script).read_text(encoding="utf-8")

    def ready(server: GatewayServer) -> None:
        print(f"TWS gateway emulator listening on {server.host}:{server.port}", flush=True)

    run_gateway(args.host, args.port, accounts=tuple(args.accounts or ("DU1234567",)),
                fault_script=script, on_ready=ready)
    return 0


if __name__ == "__main__":
    sys.exit(main())
