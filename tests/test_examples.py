"""Every example in examples/ runs and does what it says."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def test_library_api_example() -> None:
    r = subprocess.run([sys.executable, str(EXAMPLES / "library_api.py")], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert sum(line.startswith("tick ") for line in lines) == 3
    assert "sample: 50 runs, 0 failed" in r.stdout
    assert "tick: 30 runs, 0 failed" in r.stdout
    assert "date: 3 runs, 0 failed" in r.stdout


def test_timetable_example(tmp_path: Path) -> None:
    import json
    import os

    env = {**os.environ, "XDG_DATA_HOME": str(tmp_path)}
    cwd = EXAMPLES / "timetable"
    r = subprocess.run(
        [sys.executable, "-m", "supertask", "run"], capture_output=True, text=True, timeout=60, cwd=cwd, env=env
    )
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines.count("hello world 2") == 5
    assert "report: 3 items, total 12" in lines and "loaded fetched" in lines and "fetched" in lines
    assert "never printed" not in r.stdout and "cleaning" not in r.stdout
    sines = [float(x) for x in lines if x.replace(".", "").replace("-", "").isdigit()]
    assert 0.0 <= sines[0] < 0.1 and 3 <= len(sines) <= 5  # sin(elapsed) of every 10th of ~50 runs
    jobs = json.loads(
        subprocess.run(
            [sys.executable, "-m", "supertask", "list-jobs", "--ns=example", "--json"],
            capture_output=True, text=True, env=env, timeout=60,
        ).stdout
    )  # fmt: skip
    assert sorted((j["name"], j["enabled"]) for j in jobs) == [
        ("greet", True), ("nightly-cleanup", False), ("pipeline", True), ("report", True), ("sine", True)
    ]  # fmt: skip
