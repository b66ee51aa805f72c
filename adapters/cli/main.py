"""The `ordergate` console script: builds the Typer app from one module per command.

To add a command, write `adapters/cli/<name>_cmd.py` with `register(app)` and list it in
`COMMAND_MODULES`. `python -m ordergate.adapters.cli.main` runs the same app as `ordergate`.
"""

from __future__ import annotations

import typer

from ordergate.adapters.cli import (
    audit_cmds,
    config_cmds,
    gateway_cmds,
    init_cmd,
    ops_cmds,
    reset_cmd,
    run_cmd,
    serve_cmd,
    verify_risk_cmd,
)
from ordergate.adapters.cli.app import new_app

__all__ = ["COMMAND_MODULES", "app", "build_app"]

COMMAND_MODULES = (
    run_cmd,
    serve_cmd,
    ops_cmds,
    config_cmds,
    audit_cmds,
    gateway_cmds,
    verify_risk_cmd,
    reset_cmd,
    init_cmd,
)


def build_app() -> typer.Typer:
    """A fresh `ordergate` app with every command of `COMMAND_MODULES` registered."""
    application = new_app()
    for module in COMMAND_MODULES:
        module.register(application)
    return application


app = build_app()

if __name__ == "__main__":
    app()
