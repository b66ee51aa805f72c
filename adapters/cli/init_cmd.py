"""`ordergate init [DIR]`: write a commented starter configuration.

The file is the example configuration shipped in the wheel (`ordergate.examples`, the
repository's `examples/` folder): every key with its default and a comment, the simulated broker
selected, and the `paper` / `live` profiles. Nothing is overwritten unless `--force`.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Annotated

import typer

from ordergate.adapters.cli.app import fail, out_console
from ordergate.adapters.cli.exit_codes import ExitCode

__all__ = ["STARTER", "register", "starter_config"]

STARTER = "ordergate.toml"
"""The file `init` writes, and its name in the shipped examples."""


def register(app: typer.Typer) -> None:
    """Add `init` to `app`."""
    app.command("init")(init)


def starter_config() -> str:
    """The text of the shipped example configuration."""
    return resources.files("ordergate.examples").joinpath(STARTER).read_text(encoding="utf-8")


def init(
    directory: Annotated[
        Path,
        typer.Argument(file_okay=False, help="Folder to write ordergate.toml into (created)."),
    ] = Path(),
    force: Annotated[
        bool, typer.Option("--force", help="Overwrite an existing ordergate.toml.")
    ] = False,
) -> None:
    """Write a commented starter config (ordergate.toml) into DIR (default: here)."""
    target = directory / STARTER
    if target.exists() and not force:
        raise fail(f"{target} exists; pass --force to overwrite it", ExitCode.REFUSED)
    try:
        directory.mkdir(parents=True, exist_ok=True)
        target.write_text(starter_config(), encoding="utf-8")
    except OSError as error:
        raise fail(f"cannot write {target}: {error.strerror or error}", ExitCode.FAILURE) from None
    console = out_console()
    console.print(f"wrote {target}", markup=False)
    console.print(
        f"next: ordergate check-config -c {target} && ordergate run -c {target}", markup=False
    )
