"""The dependency rule is enforced by import-linter contracts, and a violation is caught.

lint-imports needs a plain folder layout (it cannot follow the editable install's import hook),
so the test assembles `ordergate/<layer>` from the repository's four layer folders (and
`ordergate/__init__.py`, the facade) in a temporary
directory — the same layout a wheel installs — and runs the project's contracts against it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LAYERS = ("domain", "ports", "adapters", "application")


def assemble(tmp_path: Path) -> Path:
    package = tmp_path / "ordergate"
    for layer in LAYERS:
        shutil.copytree(
            ROOT / layer, package / layer, ignore=shutil.ignore_patterns("__pycache__")
        )
    for name in ("__init__.py", "py.typed"):  # the public facade, as the wheel has it
        shutil.copy2(ROOT / "ordergate" / name, package / name)
    return tmp_path


def lint_imports(tree: Path) -> subprocess.CompletedProcess[str]:
    exe = Path(sys.executable).with_name("lint-imports")
    if not exe.exists():
        pytest.skip("lint-imports is not installed (pip install -e '.[dev]')")
    env = {**os.environ, "PYTHONPATH": str(tree)}
    return subprocess.run(
        [str(exe), "--config", str(ROOT / "pyproject.toml"), "--no-cache"],
        cwd=tree,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_contracts_hold_for_the_code_as_it_is(tmp_path: Path) -> None:
    result = lint_imports(assemble(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


@pytest.mark.parametrize(
    ("planted_in", "line", "contract"),
    [
        ("domain/values.py", "import asyncio", "Domain is pure"),
        ("domain/values.py", "import ordergate.ports.clock", "Layers"),
        ("ports/clock.py", "import cattrs", "Ports import only the domain"),
        ("application/__init__.py", "import ordergate.adapters.sim", "Layers"),
        ("adapters/sim/__init__.py", "import ib_async", "ib_async only under adapters/ibkr"),
    ],
)
def test_a_planted_violation_is_caught(
    tmp_path: Path, planted_in: str, line: str, contract: str
) -> None:
    tree = assemble(tmp_path)
    target = tree / "ordergate" / planted_in
    target.write_text(target.read_text() + f"\n{line}  # planted by test_layering\n")
    result = lint_imports(tree)
    assert result.returncode != 0
    broken = [row for row in result.stdout.splitlines() if " BROKEN" in row]
    assert any(row.startswith(contract) for row in broken), result.stdout
