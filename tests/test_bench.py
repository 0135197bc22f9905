"""Every benchmark script still starts and still runs: ``python bench/<script>.py --help`` imports all it
needs and prints its usage, and each script runs once, for real, on tiny settings (here, or in the test
named in ``RUN_ELSEWHERE``). Nothing else runs the benchmarks, so this is what keeps them from rotting (as
``bench/soak.py`` did when a helper it imported from ``bench/serve.py`` was renamed, and
``bench/measure_drift.py`` when ``record.json`` became the typed ModelRecord). Part of ``make test``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = sorted((ROOT / "bench").glob("*.py"))
SHARED = ROOT.parent / "shared" / "data"

# script → arguments of one tiny run that writes its JSON to {out}; the JSON's top-level keys it must have
TINY_RUNS: dict[str, tuple[list[str], set[str]]] = {
    # --rss-bound-mb: the run also fails on any 5xx, temp file left or request-log record lost
    "soak.py": (
        ["--seconds", "5", "--clients", "2", "--size", "71", "--rss-bound-mb", "8000", "--out", "{out}"],
        {"requests", "5xx", "temp_files_left", "kill"},
    ),
    "lite_variants.py": (
        ["--families", "efficientnet_lite0", "--reps", "1", "--batch", "4", "--train-steps", "0", "--out", "{out}"],
        {"infer_img_s"},
    ),
    "extract.py": (
        [*("--videos", str(SHARED / "videos"), "--faces", "", "--max-clips", "2"), "--json", "{out}"],
        {"clips", "rows"},
    ),
    "train_memory.py": (["--sizes", "64", "--steps", "2", "--size", "64", "--out", "{out}"], {"peak_rss_mib"}),
    "measure_drift.py": (
        [
            *("--windows", "2", "--window-size", "32", "--reference-size", "64", "--train-size", "128"),
            *("--frames-per-video", "4", "--out", "{out}"),
        ],
        {"summary"},
    ),
}
# scripts whose tiny run lives in another test (it needs that test's fixtures)
RUN_ELSEWHERE = {
    "aggregation.py": "tests/models/test_bench_runs.py",
    "compression.py": "tests/models/test_bench_runs.py",
    "cross_dataset.py": "tests/models/test_bench_runs.py",
    "recipes.py": "tests/models/test_bench_runs.py",
    "temporal.py": "tests/models/test_bench_runs.py",
    "ensemble.py": "tests/models/test_bench_runs.py",
    "decode.py": "tests/models/test_bench_runs.py",
    "train_speed.py": "tests/models/test_bench_runs.py",
    "serve.py": "tests/serving/test_bench_serve.py",  # two real servers on the serving tests' tiny model
}
NEEDS_SHARED = {"train_memory.py", "measure_drift.py", "extract.py"}


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)])}


def test_there_are_benchmarks_to_check():
    assert {p.name for p in SCRIPTS} >= {"soak.py", "serve.py", "extract.py"}


def test_every_benchmark_has_a_tiny_run():
    for script in SCRIPTS:
        where = RUN_ELSEWHERE.get(script.name)
        if where is None:
            assert script.name in TINY_RUNS, f"bench/{script.name}: add a tiny run to TINY_RUNS"
        else:
            assert script.name.removesuffix(".py") in (ROOT / where).read_text(), (script.name, where)


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_each_benchmark_script_starts_and_prints_its_usage(script: Path):
    proc = subprocess.run(
        [sys.executable, str(script), "--help"], cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, f"{script.name}: {proc.stderr[-2000:]}"
    assert "usage:" in proc.stdout, proc.stdout[-1000:]


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(TINY_RUNS))
def test_each_benchmark_runs_once_on_tiny_settings(name: str, tmp_path: Path):
    if name in NEEDS_SHARED and not ((SHARED / "deepfake-faces").is_dir() and (SHARED / "videos").is_dir()):
        pytest.skip(f"bench/{name} reads the shared media in {SHARED}, absent here")
    args, keys = TINY_RUNS[name]
    out = tmp_path / "result.json"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "bench" / name), *[a.format(out=out) for a in args]],
        cwd=ROOT,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, f"bench/{name}: {proc.stdout[-1500:]}\n{proc.stderr[-2500:]}"
    result = json.loads(out.read_text())
    assert keys <= set(result if isinstance(result, dict) else result[0]), (name, str(result)[:500])
