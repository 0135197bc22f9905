"""bench/serve.py runs for real on tiny settings (the tests' tiny model, four generated crops, two
concurrency levels, both placements of the model), so an API change breaks the suite, not the next
benchmark run; and its table holds each HTTP row next to the in-process baseline of the same run."""

from __future__ import annotations

import sys

import pytest
from serving_kit import ROOT

pytestmark = pytest.mark.slow


def test_serve_bench_compares_http_with_in_process_in_one_run(
    model_dir, bentoml_home, use_bentoml_home, tmp_path, capsys
):
    import cv2
    from skimage import data as skdata

    sys.path.insert(0, str(ROOT / "bench"))
    import serve as bench

    faces = tmp_path / "faces"
    faces.mkdir()
    face = cv2.cvtColor(skdata.astronaut()[0:220, 140:330], cv2.COLOR_RGB2BGR)
    for i, side in enumerate((224, 160, 120, 96)):
        cv2.imwrite(str(faces / f"face{i}.jpg"), cv2.resize(face, (side, side)))
    home = tmp_path / "bentoml_home"
    use_bentoml_home(home)  # the bench saves the model to its own store; the session's stays as it is
    try:
        results = bench.main(
            [
                "--model-dir", str(model_dir), "--faces", str(faces), "--bentoml-home", str(home),
                "--skip-clip", "--requests", "4", "--concurrency", "1", "2", "--rounds", "2",
                "--out", str(tmp_path / "serve.json"),
            ]
        )  # fmt: skip
    finally:
        use_bentoml_home(bentoml_home)
    crops = results["crops"]
    assert crops["one_batched_call"]["n"] == 4 and crops["c1"]["model"]["ratio"] == 1
    for c in ("c1", "c2"):
        assert set(crops[c]) == {"model", "path", "front", "service"}
        for row in crops[c].values():
            assert row["n"] == 8 and row["images_per_s"] > 0 and 0 < row["p50_ms"] <= row["p95_ms"]  # 2 rounds of 4
            assert row["ratio"] > 0
    table = capsys.readouterr().out
    assert "| HTTP, model in the front process, concurrency 2 |" in table
    assert "| HTTP, model service (two processes), concurrency 1 |" in table
