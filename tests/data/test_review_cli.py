"""`deepfake review list|show|label`: a person labels kept requests; labels become a feedback dataset in
the deepfake-faces layout whose group is the request's clip; bad input is one line and exit 2."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from deepfake_detect.data.sources import list_ready_crops
from deepfake_detect.faces.clip import FaceCrop
from deepfake_detect.scoring.review import ReviewItem, ReviewQueue

REVIEW = {"keep_crops": True, "dir": "review", "margin": 0.5, "audit_rate": 0.0, "on_drift": False, "days": 7}


def _deepfake(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    exe = Path(sys.executable).with_name("deepfake")
    return subprocess.run([str(exe), *args], cwd=cwd, capture_output=True, text=True, timeout=120)


def _queue_two_requests(workspace) -> tuple[ReviewQueue, list[ReviewItem]]:
    params = workspace(serve={"review": REVIEW}, data={"feedback_dir": "data/feedback"})
    queue = ReviewQueue(params)
    rng = np.random.default_rng(1)
    items = []
    for request_id, n in (("req-a", 3), ("req-b", 1)):
        faces = [
            FaceCrop(2 * i, 0, (0, 0, 80, 80), 0.9, rng.integers(0, 255, (64, 64, 3), np.uint8), 0, 0.6)
            for i in range(n)
        ]
        items.append(
            queue.consider(
                request_id=request_id,
                endpoint="score_video",
                file=f"{request_id}.mp4",
                model_tag="m:1",
                threshold=0.5,
                score=0.6,
                faces=faces,
            )
        )
    return queue, items


def test_list_show_label_write_a_feedback_dataset_grouped_by_clip(tmp_path, workspace):
    _, (a, b) = _queue_two_requests(workspace)
    listed = _deepfake("review", "list", cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    assert a.id in listed.stdout and b.id in listed.stdout and "2 waiting" in listed.stdout

    shown = _deepfake("review", "show", a.id, cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    detail = json.loads(shown.stdout)
    assert detail["request_id"] == "req-a" and len(detail["crops"]) == 3
    assert all(Path(c["path"]).exists() for c in detail["crops"])

    done = _deepfake("review", "label", a.id, "FAKE", "--note", "new face-swap tool", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert _deepfake("review", "label", b.id[:6], "real", cwd=tmp_path).returncode == 0  # a unique prefix will do

    feedback = tmp_path / "data" / "feedback"
    meta = pd.read_csv(feedback / "metadata.csv")
    assert {"videoname", "original_width", "original_height", "label", "original"} <= set(meta.columns)
    assert sorted(meta["label"]) == ["FAKE", "FAKE", "FAKE", "REAL"]
    crops, rejects = list_ready_crops(feedback)  # the deepfake-faces reader takes it as it is
    assert not rejects and len(crops) == 4
    groups = {c.label: set() for c in crops}
    for c in crops:
        groups[c.label].add(c.group)
    assert groups == {"FAKE": {a.id}, "REAL": {b.id}}  # every crop of a clip shares one group, REAL ones too
    assert ReviewItem.read(tmp_path / "review" / a.id / "item.json").note == "new face-swap tool"

    again = _deepfake("review", "label", a.id, "REAL", cwd=tmp_path)  # a relabel replaces, never duplicates
    assert again.returncode == 0, again.stderr
    meta = pd.read_csv(feedback / "metadata.csv")
    assert len(meta) == 4 and (meta["label"] == "REAL").all()
    assert "0 waiting" in _deepfake("review", "list", cwd=tmp_path).stdout


def test_unknown_id_and_bad_label_are_one_line_and_exit_2(tmp_path, workspace):
    _, (a, _) = _queue_two_requests(workspace)
    for args, needle in (
        (("label", "nope", "FAKE"), "nope"),
        (("show", "nope"), "nope"),
        (("label", a.id, "MAYBE"), "MAYBE"),
    ):
        proc = _deepfake("review", *args, cwd=tmp_path)
        assert proc.returncode == 2, (args, proc.stdout, proc.stderr)
        assert "Traceback" not in proc.stderr
        errors = [line for line in proc.stderr.splitlines() if line.startswith("error: ")]
        assert len(errors) == 1 and needle in errors[0], proc.stderr
    assert not (tmp_path / "data" / "feedback" / "metadata.csv").exists()


def _served(tmp_path: Path, promoted_at: str) -> None:
    from deepfake_detect.contracts.model import ModelRecord

    fields = {"name": "m", "family": "sklearn", "artifact": "model.joblib", "input_size": 64, "params": {}}
    record = ModelRecord(
        **fields,
        created="2026-01-01T00:00:00Z",
        git_rev="x",
        data_version="x",
        train_seconds=0.0,
        n_train=1,
        n_val=1,
        threshold=0.5,
        metrics={},
        tag="m-release",
        promoted_at=promoted_at,
    )
    record.write(tmp_path / "models" / "promoted" / "record.json")


def test_status_counts_the_labels_the_served_model_has_not_seen(tmp_path, workspace):
    from deepfake_detect.scoring.feedback import LabelStatus, retrain_wanted

    _, (a, _) = _queue_two_requests(workspace)

    def status() -> LabelStatus:
        proc = _deepfake("review", "status", cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr
        return LabelStatus.model_validate_json(proc.stdout.strip().splitlines()[-1])

    first = status()
    assert (first.waiting, first.labelled, first.new_labels, first.served) == (2, 0, 0, None)
    assert retrain_wanted(first, drift_triggered=False)  # the schedule retrains whatever the labels
    assert not retrain_wanted(first, drift_triggered=True)  # drift with no labels: the same data, the same model

    assert _deepfake("review", "label", a.id, "FAKE", cwd=tmp_path).returncode == 0
    _served(tmp_path, "2000-01-01T00:00:00Z")  # promoted long before the label
    fresh = status()
    assert (fresh.waiting, fresh.labelled, fresh.new_labels, fresh.served) == (1, 3, 3, "m-release")
    assert retrain_wanted(fresh, drift_triggered=True)

    _served(tmp_path, "2999-01-01T00:00:00Z")  # a model promoted after every label has seen them
    assert status().new_labels == 0


def _label_in_child(params, item_id: str, verdict: str, start) -> None:
    from deepfake_detect.scoring.feedback import label_item

    start.wait()  # every child reads metadata.csv at the same moment
    label_item(params, item_id, verdict)


def test_twenty_items_labelled_from_parallel_processes_are_twenty_rows(workspace):
    import multiprocessing

    params = workspace(serve={"review": REVIEW}, data={"feedback_dir": "data/feedback"})
    queue = ReviewQueue(params)
    rng = np.random.default_rng(2)
    items = [
        queue.consider(
            request_id=f"req-{n}",
            endpoint="score_image",
            file=f"{n}.jpg",
            model_tag="m:1",
            threshold=0.5,
            score=0.6,
            faces=[FaceCrop(None, 0, (0, 0, 80, 80), 0.9, rng.integers(0, 255, (64, 64, 3), np.uint8), 0, 0.6)],
        )
        for n in range(20)
    ]
    verdicts = {i.id: ("FAKE" if n % 2 else "REAL") for n, i in enumerate(items)}
    ctx = multiprocessing.get_context("fork")
    start = ctx.Event()
    children = [ctx.Process(target=_label_in_child, args=(params, i, v, start)) for i, v in verdicts.items()]
    for child in children:
        child.start()
    start.set()
    for child in children:
        child.join(120)
    assert [c.exitcode for c in children] == [0] * 20

    meta = pd.read_csv(Path(params.data.feedback_dir) / "metadata.csv")
    assert len(meta) == 20 and meta["original"].nunique() == 20
    assert dict(zip(meta["original"], meta["label"], strict=True)) == verdicts
    assert {i.id: i.label for i in ReviewQueue(params).items()} == verdicts  # each item.json agrees with the rows
    assert not list(Path(params.data.feedback_dir).glob(".*tmp"))  # no temp file left behind


def test_two_uploads_of_one_name_in_one_request_are_two_review_items(workspace):
    params = workspace(serve={"review": REVIEW})
    queue = ReviewQueue(params)
    rng = np.random.default_rng(3)
    kept = [
        queue.consider(
            request_id="req-same",
            endpoint="score_images",
            file="photo.jpg",
            model_tag="m:1",
            threshold=0.5,
            score=0.6,
            faces=[FaceCrop(None, 0, (0, 0, 80, 80), 0.9, rng.integers(0, 255, (64, 64, 3), np.uint8), 0, 0.6)],
        )
        for _ in range(2)
    ]
    assert kept[0].id != kept[1].id
    assert sorted(i.id for i in ReviewQueue(params).items()) == sorted(i.id for i in kept)
    assert not list(queue.dir.glob(".*"))  # no temp folder left behind


EVIL_NAME = "x\x1b[2J\nabcdef123456  2026-01-01T00:00:00  margin  P(FAKE) 0.010  forged.jpg"


def test_review_list_prints_a_name_with_terminal_escapes_as_data(tmp_path, workspace):
    queue, (a, _) = _queue_two_requests(workspace)
    raw = a.model_copy(update={"file": EVIL_NAME})  # an item stored before names were cleaned
    raw.write(queue.dir / a.id / "item.json")
    listed = _deepfake("review", "list", cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    assert "\x1b" not in listed.stdout  # nothing reaches the terminal as control
    lines = listed.stdout.splitlines()
    assert len(lines) == 3 and "forged.jpg" in lines[[a.id in line for line in lines].index(True)]
    assert "\\x1b[2J\\nabcdef123456" in listed.stdout  # shown, escaped
