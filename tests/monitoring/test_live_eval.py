"""`deepfake eval live`: reviewer labels joined to the request log by request id give each served model
version's precision, recall, FPR, AUC and ECE per ISO week, honest about small counts."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from deepfake_detect.contracts.live import LiveResult
from deepfake_detect.faces.clip import FaceCrop
from deepfake_detect.monitoring.live import evaluate_live, live_report, wilson
from deepfake_detect.scoring.feedback import label_item
from deepfake_detect.scoring.requestlog import append_records, make_record
from deepfake_detect.scoring.review import ReviewQueue

REVIEW = {"keep_crops": True, "dir": "review", "margin": 0.5, "audit_rate": 0.0, "on_drift": False, "days": 30}
WEEK_48 = "2026-11-24T10:00:00+00:00"  # ISO week 2026-W48
WEEK_49 = "2026-12-01T10:00:00+00:00"  # ISO week 2026-W49
START, END = datetime(2026, 11, 16, tzinfo=UTC), datetime(2026, 12, 7, tzinfo=UTC)
# (request id, model version, served at, P(FAKE) as served, what the reviewer says)
SERVED = [
    ("a1", "xception-v1", WEEK_48, 0.9, "FAKE"),  # agrees: TP
    ("a2", "xception-v1", WEEK_48, 0.8, "REAL"),  # disagrees: FP
    ("a3", "xception-v1", WEEK_48, 0.2, "REAL"),  # agrees: TN
    ("a4", "xception-v1", WEEK_48, 0.3, "FAKE"),  # disagrees: FN
    ("b1", "xception-v2", WEEK_49, 0.7, "FAKE"),  # TP
    ("b2", "xception-v2", WEEK_49, 0.1, "REAL"),  # TN (its queue item is gone: the feedback dataset keeps the label)
    ("b3", "xception-v2", WEEK_49, 0.6, "FAKE"),  # TP
]


def _serve_and_label(workspace, min_n: int = 4):
    p = workspace(
        serve={"review": REVIEW, "request_log_dir": "logs/requests"},
        data={"feedback_dir": "data/feedback"},
        live={"report_dir": "reports/live", "min_n": min_n, "calibration_bins": 5, "weeks": 4},
    )
    queue = ReviewQueue(p)
    rng = np.random.default_rng(0)
    records, items = [], {}
    for rid, tag, when, score, _ in SERVED:
        crop = FaceCrop(0, 0, (0, 0, 64, 64), 0.9, rng.integers(0, 255, (64, 64, 3), np.uint8), 0, score)
        items[rid] = queue.consider(
            request_id=rid,
            endpoint="score_video",
            file=f"{rid}.mp4",
            model_tag=tag,
            threshold=0.5,
            score=score,
            faces=[crop],
        )
        records.append(
            make_record(
                time=when,
                request_id=rid,
                endpoint="score_video",
                file=f"{rid}.mp4",
                frame=0,
                face=0,
                model_tag=tag,
                probability=score,
                label="FAKE" if score >= 0.5 else "REAL",
            )
        )
    records.append(make_record(time=WEEK_49, request_id="unlabelled", file="x.mp4", model_tag="xception-v2"))
    append_records(p.serve.request_log_dir, records)
    for rid, *_, label in SERVED:
        label_item(p, items[rid].id, label, note=f"reviewer on {rid}")
    shutil.rmtree(queue.dir / items["b2"].id)  # pruned from the queue; its label lives on in data/feedback
    return p


def test_two_versions_two_weeks_agreeing_and_disagreeing_labels(workspace):
    p = _serve_and_label(workspace)
    result = evaluate_live(p, START, END)
    assert result.n_labels == 7 and result.n_evaluated == 7 and result.n_in_log == 7
    v1, v2 = sorted(result.versions, key=lambda s: s.model_tag)
    assert (v1.model_tag, v1.n, v1.n_fake) == ("xception-v1", 4, 2)
    assert v1.confusion.model_dump() == {"tp": 1, "fp": 1, "fn": 1, "tn": 1}
    assert v1.precision.value == v1.recall.value == v1.fpr.value == pytest.approx(0.5)
    assert v1.auc == pytest.approx(0.75) and v1.ece is not None and not v1.too_small
    assert v1.thresholds == [0.5]
    # three items are under live.min_n: rates with wide intervals, no AUC or ECE
    assert v2.n == 3 and v2.too_small and v2.auc is None and v2.ece is None and "n too small" in v2.note
    assert v2.confusion.model_dump() == {"tp": 2, "fp": 0, "fn": 0, "tn": 1}
    assert v2.precision.value == 1.0 and v2.precision.low < 0.5  # 2 of 2 says little
    assert [(s.model_tag, s.week) for s in result.weeks] == [("xception-v1", "2026-W48"), ("xception-v2", "2026-W49")]
    assert {(d.request_id, d.model, d.reviewer) for d in result.disagreements} == {
        ("a2", "FAKE", "REAL"),
        ("a4", "REAL", "FAKE"),
    }
    assert next(d for d in result.disagreements if d.request_id == "a2").note == "reviewer on a2"


def test_a_window_keeps_only_the_labels_served_inside_it(workspace):
    p = _serve_and_label(workspace)
    result = evaluate_live(p, datetime(2026, 11, 30, tzinfo=UTC), END)
    assert [s.model_tag for s in result.versions] == ["xception-v2"] and result.n_evaluated == 3


def test_report_writes_json_latest_and_html_with_plots(workspace):
    p = _serve_and_label(workspace, min_n=2)
    result = live_report(p, START, END)
    assert LiveResult.read(p.live.report_dir / "latest.json") == result
    html = Path(result.report_html).read_text()
    assert html.count("data:image/png;base64,") >= 3  # rates per week + a confusion per version
    assert "xception-v1" in html and "2026-W49" in html


def test_wilson_interval_always_holds_its_rate():
    """A perfect week (24 of 24) once had high = 0.9999999999999999 < 1.0 from rounding, and the live
    report's error bar (high - value) went negative: matplotlib refused the plot, `deepfake eval live` failed."""
    for n in range(1, 80):
        for k in range(n + 1):
            rate = wilson(k, n)
            assert rate.low <= rate.value <= rate.high, (k, n, rate)


def test_wilson_interval_is_honest_at_small_n():
    one = wilson(1, 1)
    assert one.value == 1.0 and one.low == pytest.approx(0.2065, abs=1e-3) and one.high == 1.0
    many = wilson(500, 1000)
    assert many.high - many.low < 0.07
    assert wilson(0, 0).value is None


def test_cli_prints_the_summary_and_names_the_report(workspace, tmp_path):
    _serve_and_label(workspace)
    exe = Path(sys.executable).with_name("deepfake")
    run = subprocess.run(
        [str(exe), "eval", "live", "--start", START.isoformat(), "--end", END.isoformat()],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    summary = json.loads(run.stdout.splitlines()[0])
    assert summary["n_evaluated"] == 7 and summary["versions"]["xception-v1"]["auc"] == pytest.approx(0.75)
    assert "n too small" in run.stderr and ".html" in run.stderr
    bad = subprocess.run([str(exe), "eval", "live", "--start", "monday"], cwd=tmp_path, capture_output=True, text=True)
    assert bad.returncode == 2 and "--start" in bad.stderr
