"""The drift verdict reads Evidently 0.7's snapshot: pinned on a saved snapshot of its real output.

``evidently_snapshot.json`` holds two small fixed tables and the snapshot Evidently 0.7 made of them
(``make_evidently_snapshot.py`` writes it). An Evidently upgrade that changes the snapshot fails
here, loudly, before a drift report silently reads nothing."""

from __future__ import annotations

import copy
import json

import pandas as pd
import pytest
from make_evidently_snapshot import SNAPSHOT, snapshot_of

from deepfake_detect.config import load_params
from deepfake_detect.contracts.drift import MeanProbability
from deepfake_detect.monitoring.verdict import SnapshotFormatError, asked_metrics, read_snapshot, verdict


@pytest.fixture(scope="module")
def saved(repo_root):
    data = json.loads(SNAPSHOT.read_text())
    dp = load_params(repo_root / "params.yaml").drift.model_copy(update=data["drift"])
    return data, dp


def test_the_verdict_reads_the_saved_snapshot(saved):
    data, dp = saved
    figures = read_snapshot(data["snapshot"], asked_metrics(dp))
    assert figures.share == 0.25  # sharpness alone of the four image statistics
    assert [c for c, v in figures.columns.items() if v.drifted] == ["sharpness"]
    assert figures.columns["sharpness"].score < 1e-10 and figures.columns["saturation"].score > 0.5
    assert figures.prediction.drifted and figures.prediction.score < 1e-10
    base = {"window": {}, "n_reference": 40, "n_current": 40, "created": "2026-01-01T00:00:00+00:00"}
    result = verdict(figures, (0.5, False), dp, base, MeanProbability(reference=0.3, current=0.7), 3)
    assert result.signals == ["columns", "prediction"] and result.drift_detected
    assert result.drifted_columns == ["sharpness"]


def test_installed_evidently_makes_the_saved_snapshot(saved):
    data, dp = saved
    now = snapshot_of(pd.DataFrame(data["reference"]), pd.DataFrame(data["current"]), dp)
    was = data["snapshot"]
    assert _metrics(now) == pytest.approx(_metrics(was)), (
        f"Evidently's metric results changed since the saved {data['evidently']} snapshot: check "
        "drift_verdict.read_snapshot, then run tests/monitoring/make_evidently_snapshot.py"
    )
    assert _tests(now) == _tests(was), f"Evidently's test results changed since {data['evidently']}"
    read_snapshot(now, asked_metrics(dp))


def _metrics(snapshot: dict) -> dict:
    """(metric id, its config, value field) → value: the part of a snapshot the verdict relies on."""
    out = {}
    for m in snapshot["metrics"]:
        config = json.dumps(m["config"], sort_keys=True)
        values = m["value"] if isinstance(m["value"], dict) else {"": m["value"]}
        out |= {(m["id"], config, k): v for k, v in values.items()}
    return out


def _tests(snapshot: dict) -> list:
    return sorted((t["metric_config"]["metric_id"], t["status"]) for t in snapshot["tests"])


@pytest.mark.parametrize(
    "change",
    [
        lambda s: s["metrics"].pop(3),  # a column's result gone
        lambda s: s["metrics"][0].update(value={"count": 1.0}),  # the share renamed
        lambda s: [t["metric_config"].pop("metric_id") for t in s["tests"]],  # tests no longer name their metric
        lambda s: [m.update(id=m["id"][::-1]) for m in s["metrics"]],  # ids no longer the metrics' fingerprints
    ],
)
def test_a_changed_snapshot_fails_loudly(saved, change):
    data, dp = saved
    snapshot = copy.deepcopy(data["snapshot"])
    change(snapshot)
    with pytest.raises(SnapshotFormatError, match=r"Evidently [\d.]+ snapshot"):
        read_snapshot(snapshot, asked_metrics(dp))
