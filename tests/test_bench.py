"""Every benchmark script still starts: ``python bench/<script>.py --help`` imports all it needs at the
top and prints its usage. Nothing else runs the benchmarks, so this is what keeps them from rotting (as
``bench/soak.py`` did when a helper it imported from ``bench/serve.py`` was renamed). Part of ``make test``."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = sorted((ROOT / "bench").glob("*.py"))


def test_there_are_benchmarks_to_check():
    assert {p.name for p in SCRIPTS} >= {"soak.py", "serve.py", "extract.py"}


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_each_benchmark_script_starts_and_prints_its_usage(script: Path):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)])}
    proc = subprocess.run(
        [sys.executable, str(script), "--help"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, f"{script.name}: {proc.stderr[-2000:]}"
    assert "usage:" in proc.stdout, proc.stdout[-1000:]
