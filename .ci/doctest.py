"""Run the documentation's runnable code blocks, and type-check the Python ones.

A fenced block is runnable when the line before its opening fence is `<!-- run -->`:

    <!-- run -->
    ```python
    ...
    ```

Python blocks run with `--python` (the interpreter of a fresh venv the wheel was installed
into) in an empty temporary folder, and are checked with `mypy --strict` against that
interpreter's site-packages; `bash` blocks run with `bash -euo pipefail` there too, with that
venv's bin folder first on PATH. Usage:

    python .ci/doctest.py --python /tmp/venv/bin/python README.md docs/*.md

Exit status 1 if any block fails (each failure is printed with its file and line).
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

MARK = "<!-- run -->"
FENCE = re.compile(r"^```(\w+)\s*$")


def blocks(path: Path) -> list[tuple[int, str, str]]:
    """(line, language, code) of every runnable block of `path`."""
    lines = path.read_text(encoding="utf-8").splitlines()
    found: list[tuple[int, str, str]] = []
    for n, line in enumerate(lines):
        if line.strip() != MARK or n + 1 >= len(lines):
            continue
        opening = FENCE.match(lines[n + 1].strip())
        if opening is None:
            raise SystemExit(f"{path}:{n + 1}: {MARK} must be followed by a fenced block")
        body: list[str] = []
        for inner in lines[n + 2 :]:
            if inner.strip() == "```":
                break
            body.append(inner)
        else:
            raise SystemExit(f"{path}:{n + 2}: unterminated block")
        found.append((n + 2, opening.group(1), "\n".join(body) + "\n"))
    return found


def run(python: str, mypy: bool, files: list[Path]) -> int:
    failures = 0
    count = 0
    env = {**os.environ, "PATH": f"{Path(python).parent}{os.pathsep}{os.environ['PATH']}"}
    env.pop("ORDERGATE_CONFIG", None)
    for path in files:
        for line, language, code in blocks(path):
            count += 1
            where = f"{path}:{line} ({language})"
            with tempfile.TemporaryDirectory(prefix="ordergate-doc-") as folder:
                if language == "python":
                    script = Path(folder) / "block.py"
                    script.write_text(code, encoding="utf-8")
                    commands = [[python, str(script)]]
                    if mypy:
                        commands.append(
                            [
                                sys.executable,
                                "-m",
                                "mypy",
                                "--strict",
                                "--no-incremental",
                                "--python-executable",
                                python,
                                str(script),
                            ]
                        )
                elif language == "bash":
                    commands = [["bash", "-euo", "pipefail", "-c", code]]
                else:
                    print(f"FAIL {where}: no runner for {language!r}")
                    failures += 1
                    continue
                for command in commands:
                    done = subprocess.run(
                        command,
                        check=False,
                        cwd=folder,
                        env=env,
                        capture_output=True,
                        text=True,
                        timeout=900,
                    )
                    if done.returncode != 0:
                        failures += 1
                        what = "mypy --strict" if "mypy" in command else "run"
                        print(f"FAIL {where}: {what} exited {done.returncode}")
                        print(done.stdout[-4000:], done.stderr[-4000:], sep="\n")
                        break
                else:
                    print(f"ok   {where}")
    print(f"{count} runnable blocks, {failures} failed")
    return 1 if failures or not count else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--python", default=sys.executable, help="interpreter to run blocks with")
    parser.add_argument("--no-mypy", action="store_true", help="skip mypy --strict")
    parser.add_argument("files", nargs="+", type=Path)
    args = parser.parse_args()
    return run(args.python, not args.no_mypy, args.files)


if __name__ == "__main__":
    sys.exit(main())
