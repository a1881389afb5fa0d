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
