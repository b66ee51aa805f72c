"""Config fuzz: seeded mutations of examples/ordergate.toml never crash `ordergate check-config`.

Each run makes `CASES` mutations (types, values, keys, encodings, nesting, sizes, profiles) from
one fixed seed and runs `check-config` on each, in process through the CLI app itself (Click's
runner: the same command, options and error handling as the console script), plus a handful
through the real console process. Every result must be exit 0 or exit 2; never a traceback.
Exit 2 must name the mutated key (and, where the value is printable, the value) on stderr, one
`error: ` line per problem; exit 0 must show the mutated key with the value it was given, taken
from the file (nothing silently ignored).
"""

from __future__ import annotations

import collections
import io
import json
import math
import os
import random
import subprocess
import sys
import tomllib
from collections.abc import Callable, Iterator
from contextlib import redirect_stderr, redirect_stdout
from datetime import date, datetime
from pathlib import Path
from typing import Any

import attrs
import pytest
import typer

from ordergate.adapters.cli.main import build_app

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "ordergate.toml"
SEED = 20_261_207
CASES = 520
IN_SUBPROCESS = 3


# --- a small TOML writer for the example's shapes ------------------------------------------------


def literal(value: Any) -> str:
    """`value` as TOML text (strings escaped so that any text round-trips)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        out = []
        for char in value:
            if char in '"\\':
                out.append("\\" + char)
            elif ord(char) < 32 or ord(char) == 127:
                out.append(f"\\u{ord(char):04x}")
            else:
                out.append(char)
        return '"' + "".join(out) + '"'
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, list):
        return "[" + ", ".join(literal(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{bare(k)} = {literal(v)}" for k, v in value.items()) + "}"
    raise TypeError(value)


def bare(key: str) -> str:
    return key if key and all(c.isalnum() or c in "_-" for c in key) else literal(key)


def dump(document: dict[str, Any]) -> str:
    """TOML text of `document`: scalars first, then one [table] per nested table."""
    lines: list[str] = []

    def table(prefix: list[str], content: dict[str, Any]) -> None:
        scalars = [(k, v) for k, v in content.items() if not isinstance(v, dict)]
        tables = [(k, v) for k, v in content.items() if isinstance(v, dict)]
        if prefix and (scalars or not tables):
            lines.append("[" + ".".join(bare(p) for p in prefix) + "]")
        lines.extend(f"{bare(k)} = {literal(v)}" for k, v in scalars)
        for key, value in tables:
            table([*prefix, key], value)

    table([], document)
    return "\n".join(lines) + "\n"


def leaves(document: dict[str, Any], prefix: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    for key, value in document.items():
        if isinstance(value, dict):
            yield from leaves(value, (*prefix, key))
        else:
            yield (*prefix, key)


def assign(document: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    for part in path[:-1]:
        document = document.setdefault(part, {})
    document[path[-1]] = value


# --- mutations -----------------------------------------------------------------------------------


@attrs.frozen
class Case:
    """One mutated file: what was done, its bytes, the key it touched and a text of the value
    that an error must show (None when the value has no printable form)."""

    what: str
    data: bytes
    key: str
    needle: str | None
    table_value: str | None = None  # what check-config must show for the key when accepted


def shown_key(path: tuple[str, ...]) -> str:
    return ".".join(path)


def needle_of(value: Any) -> str | None:
    """A piece of the value that any message naming it contains."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)[:12]
    if isinstance(value, float):
        return repr(value)[:6] if math.isfinite(value) else None
    if isinstance(value, str):
        head = value[:12]
        return head if head and head.isalnum() else None
    return None


WEIRD_VALUES: list[Any] = [
    0,
    -1,
    1,
    3,
    10,
    100,
    65536,
    2**31,
    2**63,
    10**30,
    0.5,
    -0.5,
    1e300,
    -1e300,
    1e-300,
    float("nan"),
    float("inf"),
    True,
    False,
    "",
    " ",
    "3%",
    "300%",
    "-5%",
    "0.5",
    "1e999",
    "NaN",
    "AAPL",
    "aapl",
    "a:b",
    "x\u0000y",
    "line\nbreak",
    "\u00e9t\u00e9",
    "\U0001f600",
    "/tmp",
    "../../etc/passwd",
    "postgres",
    "redis",
    "ibkr",
    "fake",
    "memory",
    "live",
    "dry_run",
    [],
    [1, 2],
    ["AAPL", "AAPL"],
    ["ZZZZ"],
    {},
    {"x": 1},
    date(2024, 1, 2),
    datetime(2024, 1, 2, 3, 4, 5),
]


class Mutator:
    """Seeded generator of `Case`s over the example document."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.text = EXAMPLE.read_text(encoding="utf-8")
        self.document = tomllib.loads(self.text)
        self.paths = list(leaves(self.document))
        self.operators: list[Callable[[], Case]] = [
            self.change_value,
            self.change_value,
            self.change_value,
            self.change_type,
            self.rename_key,
            self.add_key,
            self.bad_bytes,
            self.reencode,
            self.nest,
            self.huge_number,
            self.huge_text,
            self.override_key,
            self.profile_value,
            self.break_syntax,
        ]

    def copy(self) -> dict[str, Any]:
        return json.loads(json.dumps(self.document, default=str))  # the example has no dates

    def path(self) -> tuple[str, ...]:
        return self.rng.choice(self.paths)

    def case(self) -> Case:
        return self.rng.choice(self.operators)()

    def with_value(self, what: str, path: tuple[str, ...], value: Any) -> Case:
        document = self.copy()
        assign(document, path, value)
        shown = None if path[0] == "profiles" else _table_text(value)
        return Case(
            what, dump(document).encode(), shown_key(path), needle_of(value), table_value=shown
        )

    def change_value(self) -> Case:
        path, value = self.path(), self.rng.choice(WEIRD_VALUES)
        return self.with_value(f"value {value!r}", path, value)

    def change_type(self) -> Case:
        path = self.path()
        current = _dig(self.document, path)
        value = self.rng.choice(
            [str(current), [current], {"v": current}, True, 1.5, 7, date(2020, 2, 29)]
        )
        return self.with_value(f"type {type(value).__name__}", path, value)

    def rename_key(self) -> Case:
        path = self.path()
        name = path[-1]
        renamed = self.rng.choice(
            [name.upper(), name + "s", name[:-1], name.replace("_", "-"), name[::-1], "x" * 200]
        )
        document = self.copy()
        parent = _dig(document, path[:-1]) if len(path) > 1 else document
        parent[renamed] = parent.pop(name)
        return Case(f"rename {name}->{renamed}", dump(document).encode(), renamed[:20], None)

    def add_key(self) -> Case:
        path = self.path()[:-1] or ("broker",)
        new = (*path, self.rng.choice(["enabled", "password", "kind2", "max_positon", "_"]))
        value = self.rng.choice([1, "x", True])
        document = self.copy()
        assign(document, new, value)
        return Case(f"add {shown_key(new)}", dump(document).encode(), shown_key(new), None)

    def override_key(self) -> Case:
        key = self.rng.choice(["aapl", "APPL", "AAPL ", "ibm", "TSLA", "", "A" * 40])
        document = self.copy()
        document["risk"]["overrides"][key] = {"max_position": 1}
        where = f"risk.overrides.{key}"
        return Case(f"override {key!r}", dump(document).encode(), where.strip(), None)

    def profile_value(self) -> Case:
        name = self.rng.choice(["paper", "live", "extra"])
        path = self.rng.choice([p for p in self.paths if p[0] != "profiles"])
        value = self.rng.choice(WEIRD_VALUES)
        return self.with_value(f"profile {name} {value!r}", ("profiles", name, *path), value)

    def line_of(self, path: tuple[str, ...]) -> tuple[list[str], int]:
        """The lines of the example and the index of the line assigning `path` (not profiles)."""
        lines = self.text.splitlines()
        header = "[" + ".".join(path[:-1]) + "]" if len(path) > 1 else None
        inside = header is None
        for index, line in enumerate(lines):
            stripped = line.split("#", 1)[0].strip()
            if stripped.startswith("["):
                inside = stripped == header
            elif inside and stripped.split("=", 1)[0].strip() == path[-1]:
                return lines, index
        raise LookupError(path)

    def raw(self, what: str, raw_value: bytes, needle: str | None = None) -> Case:
        path = self.rng.choice([p for p in self.paths if p[0] != "profiles"])
        lines, index = self.line_of(path)
        encoded = [line.encode() for line in lines]
        encoded[index] = path[-1].encode() + b" = " + raw_value
        return Case(what, b"\n".join(encoded) + b"\n", shown_key(path), needle)

    def bad_bytes(self) -> Case:
        junk = bytes(self.rng.choice([0x80, 0xC0, 0xFF, 0xFE, 0xED]) for _ in range(3))
        return self.raw(f"bytes {junk!r}", b'"' + junk + b'"')

    def nest(self) -> Case:
        depth = self.rng.choice([17, 100, 999, 5000])
        opener, closer = self.rng.choice([(b"[", b"]"), (b"{a=", b"}")])
        return self.raw(f"nest {depth}", opener * depth + b"1" + closer * depth)

    def huge_number(self) -> Case:
        digits = self.rng.choice([65, 4301, 5000, 20000])
        return self.raw(f"digits {digits}", b"9" * digits, "9999999999")

    def huge_text(self) -> Case:
        size = self.rng.choice([300, 5000, 100_000])
        return self.raw(f"text {size}", b'"' + b"a" * size + b'"', "aaaaaaaaaa")

    def reencode(self) -> Case:
        codec = self.rng.choice(["utf-16", "utf-32", "latin-1", "utf-8-sig"])
        text = self.text.replace("CSATSPRIM", "CSATSPR\u00cdM")
        return Case(f"encoding {codec}", text.encode(codec, errors="replace"), "", None)

    def break_syntax(self) -> Case:
        data = bytearray(self.text.encode())
        cut = self.rng.randrange(len(data))
        choice = self.rng.randrange(4)
        if choice == 0:
            del data[cut:]
        elif choice == 1:
            del data[cut]
        elif choice == 2:
            data.insert(cut, self.rng.choice(b'[]{}="#\\\n'))
        else:
            data[cut:cut] = data[cut : cut + 200]
        return Case(f"syntax {choice}@{cut}", bytes(data), "", None)


def _dig(document: dict[str, Any], path: tuple[str, ...]) -> Any:
    for part in path:
        document = document[part]
    return document


def _table_text(value: Any) -> str | None:
    """How `check-config` prints an accepted value (None: not compared)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str) and value.isalnum():
        return value
    return None


# --- the checks ----------------------------------------------------------------------------------


def check(case: Case, code: int, stdout: str, stderr: str) -> str | None:
    """What is wrong with this outcome (None if it is as promised)."""
    if code not in (0, 2):
        return f"exit {code}"
    if "Traceback" in stdout + stderr:
        return "traceback"
    if code == 2:
        lines = stderr.splitlines()
        if not lines or not all(line.startswith("error: ") for line in lines):
            return f"stderr is not error lines: {stderr[:300]!r}"
        if case.key and case.key not in stderr:
            return f"key {case.key!r} not named: {stderr[:300]!r}"
        if case.needle and case.needle not in stderr:
            return f"value {case.needle!r} not shown: {stderr[:300]!r}"
        return None
    if stderr.strip():
        return f"exit 0 with stderr {stderr[:200]!r}"
    if case.key and case.table_value is not None:
        rows = {
            cells[1].strip(): [c.strip() for c in cells[1:]]
            for line in stdout.splitlines()
            if len(cells := line.split("│")) >= 4
        }
        row = rows.get(case.key)
        if row is None or row[2] != "file" or not _same(row[1], case.table_value):
            return f"accepted but not shown as set from the file: {row!r}"
    return None


def _same(shown: str, expected: str) -> bool:
    try:
        return shown == expected or float(shown) == float(expected)
    except ValueError:
        return False


def cases() -> list[Case]:
    mutator = Mutator(random.Random(SEED))
    return [mutator.case() for _ in range(CASES)]


@attrs.frozen
class Outcome:
    """What one `ordergate check-config` printed and how it exited (or what it raised)."""

    code: int
    stdout: str
    stderr: str
    raised: BaseException | None = None


def in_process() -> Callable[[list[str]], Outcome]:
    """Run the console script's own Click command in this process: the command built once from
    the same Typer app, `main()` as `ordergate` calls it, stdout and stderr captured."""
    command = typer.main.get_command(build_app())

    def invoke(args: list[str]) -> Outcome:
        out, err = io.StringIO(), io.StringIO()
        with redirect_stdout(out), redirect_stderr(err):
            try:
                command.main(args, prog_name="ordergate")
            except SystemExit as exit_:
                code = exit_.code if isinstance(exit_.code, int) else 1
                return Outcome(code, out.getvalue(), err.getvalue())
            except Exception as exc:  # a traceback: the thing this test is for
                return Outcome(1, out.getvalue(), err.getvalue(), exc)
        return Outcome(0, out.getvalue(), err.getvalue())

    return invoke


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    for name in list(os.environ):
        if name.startswith("ORDERGATE_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("COLUMNS", "250")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_no_mutated_config_crashes_check_config(clean_env: Path) -> None:
    invoke = in_process()
    file = clean_env / "mutated.toml"
    failures, outcomes = [], collections.Counter[int]()
    generated = cases()
    for number, case in enumerate(generated):
        file.write_bytes(case.data)
        result = invoke(["check-config", "-c", str(file)])
        if result.raised is not None:
            raised = f"{type(result.raised).__name__}: {str(result.raised)[:200]}"
            failures.append(f"#{number} {case.what}: raised {raised}")
            continue
        outcomes[result.code] += 1
        problem = check(case, result.code, result.stdout, result.stderr)
        if problem is not None:
            failures.append(f"#{number} {case.what} ({case.key}): {problem}")

    report = [f"{len(failures)} of {len(generated)} failed", *failures[:20]]
    assert [] == failures, "\n".join(report)
    assert CASES == sum(outcomes.values())
    assert outcomes[2] > CASES // 2  # most mutations are errors
    assert outcomes[0] > 0  # and some are valid


def test_mutated_configs_behave_the_same_in_the_real_console_process(clean_env: Path) -> None:
    generated = cases()
    chosen = random.Random(SEED + 1).sample(range(CASES), IN_SUBPROCESS)
    env = {k: v for k, v in os.environ.items() if not k.startswith("ORDERGATE_")}
    running = []
    for number in chosen:  # started together: the machine's cores share the start-up cost
        file = clean_env / f"mutated-{number}.toml"
        file.write_bytes(generated[number].data)
        command = [sys.executable, "-m", "ordergate.adapters.cli.main", "check-config"]
        process = subprocess.Popen(
            [*command, "-c", str(file)],
            cwd=clean_env,
            env={**env, "COLUMNS": "250"},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        running.append((number, file, process))
    invoke = in_process()
    for number, file, process in running:
        stdout, stderr = process.communicate(timeout=120)
        case, here = generated[number], invoke(["check-config", "-c", str(file)])

        assert None is check(case, process.returncode, stdout, stderr), case.what
        assert (here.code, here.stderr) == (process.returncode, stderr)
