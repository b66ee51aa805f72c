"""The service fixtures of tests/conftest.py: skip when Redis is absent, fail when required.

Runs pytest in a child process over a copy of the real conftest and one test that asks for
`redis_url`, pointed at a port where nothing listens.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

CONFTEST = Path(__file__).parent.parent / "conftest.py"
NEEDS_REDIS = """
def test_needs_redis(redis_url):
    assert redis_url
"""


def run_child(tmp_path: Path, port: int, *, require: bool) -> subprocess.CompletedProcess[str]:
    shutil.copy(CONFTEST, tmp_path / "conftest.py")
    (tmp_path / "test_child.py").write_text(NEEDS_REDIS)
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    env = dict(os.environ)
    env["ORDERGATE_TEST_REDIS_URL"] = f"redis://:hunter2@127.0.0.1:{port}/0"
    env.pop("ORDERGATE_REQUIRE_SERVICES", None)
    if require:
        env["ORDERGATE_REQUIRE_SERVICES"] = "1"
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-rA", "-p", "no:cacheprovider", str(tmp_path)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_absent_redis_skips_with_a_redacted_reason(tmp_path: Path, unused_tcp_port: int) -> None:
    child = run_child(tmp_path, unused_tcp_port, require=False)
    assert 0 == child.returncode, child.stdout
    assert "1 skipped" in child.stdout
    assert "Redis not reachable at redis://:***@127.0.0.1" in child.stdout
    assert "hunter2" not in child.stdout + child.stderr


def test_absent_redis_fails_when_services_are_required(
    tmp_path: Path, unused_tcp_port: int
) -> None:
    child = run_child(tmp_path, unused_tcp_port, require=True)
    assert 1 == child.returncode, child.stdout
    assert "ORDERGATE_REQUIRE_SERVICES=1" in child.stdout
    assert "hunter2" not in child.stdout + child.stderr
