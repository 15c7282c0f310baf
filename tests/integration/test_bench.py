"""The benchmark (bench/run.py) runs end to end and prints its table.

Tiny repetition counts; how fast anything is never matters here. The venv +
pip side needs the supervisor wheel: cached in build/bench, or downloaded once.
"""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
FIGURES = ("`status`, both instances, warm", "`status`, 5 programs per instance",
           "file-name system calls", "redeploy with no change: programs restarted",
           "cold start", ".pyz size")


def test_bench_runs_and_prints_its_table(pyz):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "PYTEST"))}

    result = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "run.py"), "--pyz", str(pyz), "--repeat", "1",
         "--cold-repeat", "1", "--redeploy-repeat", "1", "--programs", "5"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True,
        timeout=1800, env=env)

    assert result.returncode == 0, result.stderr[-3000:]
    table = result.stdout
    assert "| figure | jaws-bootstrap | counterpart |" in table
    for figure in FIGURES:
        assert figure in table, figure
    assert "python: " in table and "machine: " in table
    assert "| redeploy with no change: programs restarted | 0 |" in table
