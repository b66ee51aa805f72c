"""Packaging: every code folder with an __init__.py is listed for setuptools, under `ordergate.`."""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LAYERS = ("domain", "ports", "adapters", "application")


def listed_packages() -> set[str]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    return set(config["tool"]["setuptools"]["packages"])


def package_folders() -> set[str]:
    found = {"ordergate"} if (ROOT / "ordergate" / "__init__.py").exists() else set()
    if (ROOT / "examples" / "__init__.py").exists():
        found.add("ordergate.examples")  # data, not code: the example configs and scripts
    for layer in LAYERS:
        for init in (ROOT / layer).rglob("__init__.py"):
            relative = init.parent.relative_to(ROOT).parts
            found.add(".".join(("ordergate", *relative)))
    return found


def test_every_package_folder_is_listed_for_setuptools() -> None:
    missing = package_folders() - listed_packages()
    assert not missing, f"add these to [tool.setuptools] packages in pyproject.toml: {missing}"


def test_every_listed_package_exists() -> None:
    stale = listed_packages() - package_folders()
    assert not stale, f"listed in pyproject.toml but no such folder with __init__.py: {stale}"


def test_package_dir_maps_the_facade_and_the_four_layers_under_it() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    mapping = config["tool"]["setuptools"]["package-dir"]
    assert mapping == {"ordergate": "ordergate", "ordergate.examples": "examples"} | {
        f"ordergate.{layer}": layer for layer in LAYERS
    }


def test_the_facade_folder_holds_only_the_public_init_and_its_marker() -> None:
    """ordergate/ is the one folder besides the layers: the public names, nothing else."""
    names = {p.name for p in (ROOT / "ordergate").iterdir() if p.name != "__pycache__"}
    assert names == {"__init__.py", "py.typed"}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_ib_async_is_imported_only_under_adapters_ibkr() -> None:
    offenders = []
    for layer in LAYERS:
        for path in (ROOT / layer).rglob("*.py"):
            if path.is_relative_to(ROOT / "adapters" / "ibkr"):
                continue
            if any(n == "ib_async" or n.startswith("ib_async.") for n in _imports(path)):
                offenders.append(str(path.relative_to(ROOT)))
    assert offenders == []


def test_every_package_has_py_typed_marker_at_its_layer_root() -> None:
    for layer in LAYERS:
        assert (ROOT / layer / "py.typed").exists(), layer
