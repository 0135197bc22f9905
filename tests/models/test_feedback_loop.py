"""The feedback loop on tiny real data (issue 13, item 6, reduced): a served model A that never saw a
"new technique" (a soft recolouring blend behind JPEG quality 20) reaching it, drift found on its
request log (columns, embedding and prediction signals), then crops of it kept by the running
service's review queue while drifted and labelled with `deepfake review label`, the labelled folder joining the
split as the feedback source, a retrain on both sources that scores the new technique better while
the old test split holds, its promotion by the release rule, and the running service answering
with the new tag after the DAG's notify step (real `bentoml serve`, training, evaluate, promote,
BentoML store, CLI).

Left out, each covered elsewhere: extract / validate / clean / balance on the feedback folder (here
its rows are written as balance would, tests/data/test_feedback_source.py runs those stages; the
synthetic crops hold no face a detector would confirm), the drift Asset and the Airflow DAG around
it (tests/dags): the monitor and promote run in-process, the DAG's notify step is called directly."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest

from deepfake_detect.contracts.metrics import ModelMetrics
from deepfake_detect.pipeline import promote as promote_stage
from deepfake_detect.pipeline.evaluate import run_evaluate
from deepfake_detect.pipeline.train import run_train

REPO_PARAMS = Path(__file__).resolve().parents[2] / "params.yaml"
SIDE = 48
SPLITS = ["train"] * 6 + ["val"] * 3 + ["test"] * 3


def new_technique_crop(rng: np.random.Generator, fake: bool) -> np.ndarray:
    """A face-like ellipse like the old crops, through heavy JPEG (quality 20, which also wipes the
    old fakes' fine checkerboard trace); a FAKE has its centre recoloured by a smooth, soft-edged
    blend instead: a technique model A never saw."""
    img = np.full((SIDE, SIDE, 3), rng.integers(30, 90), np.uint8)
    colour = tuple(int(c) for c in rng.integers(120, 220, 3))
    cv2.ellipse(img, (SIDE // 2, SIDE // 2), (SIDE // 3, SIDE // 2 - 4), 0, 0, 360, colour, -1)
    img = np.clip(img + rng.normal(0, 6, img.shape), 0, 255)
    if fake:
        mask = np.zeros((SIDE, SIDE), np.float64)
        cv2.circle(mask, (SIDE // 2, SIDE // 2), SIDE // 4, 1.0, -1)
        mask = cv2.GaussianBlur(mask, (0, 0), 3)[..., None]
        img = img * (1 - mask) + (img * [0.6, 1.3, 0.6]) * mask
    img = np.clip(img, 0, 255).astype(np.uint8)
    _, jpg = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 20])
    return cv2.imdecode(jpg, cv2.IMREAD_COLOR)


def new_technique_rows(root: Path, n_groups: int = 12, per_video: int = 4, seed: int = 1) -> pd.DataFrame:
    """Manifest rows of the feedback source (as extract and balance write them for labelled review
    crops): REAL and FAKE crops of the new technique, groups split like the old ones."""
    rng = np.random.default_rng(seed)
    folder = root / "feedback-crops"
    folder.mkdir(parents=True, exist_ok=True)
    rows = []
    for g in range(n_groups):
        group = f"fbreal{g:02d}.mp4"
        for label, video in (("REAL", group), ("FAKE", f"fbfake{g:02d}.mp4")):
            for f in range(per_video):
                crop_id = f"{Path(video).stem}_f{f}_0"
                path = folder / f"{crop_id}.png"
                cv2.imwrite(str(path), new_technique_crop(rng, label == "FAKE"))
                rows.append(
                    {
                        "crop_id": crop_id,
                        "path": str(path),
                        "video": video,
                        "part": "feedback",
                        "frame": f,
                        "person": 0,
                        "x": 0,
                        "y": 0,
                        "w": SIDE,
                        "h": SIDE,
                        "confidence": 0.0,
                        "label": label,
                        "group": group,
                        "source": "feedback",
                        "split": SPLITS[g % len(SPLITS)],
                    }
                )
    return pd.DataFrame(rows)


def _metrics(p) -> ModelMetrics:
    return ModelMetrics.read(p.evaluate.metrics_dir / "sklearn_fft.json")


def test_labelled_feedback_of_a_new_technique_retrains_a_model_that_is_promoted(
    split_manifest: Path, tmp_path: Path, make_params, bento_home: Path
):
    import bentoml

    old = pd.read_csv(split_manifest)
    p = make_params(tmp_path, split_manifest)
    run_train(p, "sklearn_fft")
    run_evaluate(p)
    first = promote_stage.run_promote(p)
    assert first.promoted  # model A: never saw the new technique

    pd.concat([old, new_technique_rows(tmp_path)]).to_csv(split_manifest, index=False)  # labelled feedback arrives
    served_tag = first.tag
    served = promote_stage.served_metrics(p)
    assert served is not None and served[0] == served_tag
    a_new = served[1].by_source["feedback"].auc
    run_train(p, "sklearn_fft")  # model B: both sources
    run_evaluate(p)
    b = _metrics(p).by_source
    assert b["feedback"].auc >= a_new + 0.15, (a_new, b["feedback"].auc)  # clearly better on the new technique
    assert served[1].by_source["old"].auc - b["old"].auc <= p.promote.max_regression  # the old split holds
    second = promote_stage.run_promote(p)
    assert second.promoted, second.reason
    assert "feedback test split" in second.reason and "old test split" in second.reason
    stored = bentoml.models.get(f"{p.promote.bento_name}:latest")
    assert stored.info.metadata["release"] == second.tag != served_tag  # what serving's /reload loads next


def _deepfake(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess:
    exe = Path(sys.executable).with_name("deepfake")
    return subprocess.run([str(exe), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


def _feedback_manifest_rows(feedback: Path, group_of_item: dict[str, int]) -> pd.DataFrame:
    """The labelled crops of ``data.feedback_dir`` as manifest rows of the feedback source, split by
    the request they came from (standing in for extract, clean and balance on that folder)."""
    meta = pd.read_csv(feedback / "metadata.csv", dtype=str)
    rows = [
        {
            "crop_id": Path(r.videoname).stem,
            "path": str(feedback / "faces_224" / r.videoname),
            "video": r.videoname,
            "part": "feedback",
            "frame": 0,
            "person": 0,
            "x": 0,
            "y": 0,
            "w": SIDE,
            "h": SIDE,
            "confidence": 0.0,
            "label": r.label,
            "group": r.original,
            "source": "feedback",
            "split": SPLITS[group_of_item[r.original] % len(SPLITS)],
        }
        for r in meta.itertuples()
    ]
    return pd.DataFrame(rows)


@pytest.mark.slow
def test_served_crops_of_a_new_technique_are_kept_labelled_retrained_on_and_the_service_reloads(
    split_manifest: Path, tmp_path: Path, make_params, bento_home: Path
):
    """The loop with `bentoml serve` running model A throughout: the monitor finds drift in its
    request log, its review queue then keeps the crops of requests showing the new technique, a
    person labels them with `deepfake review label`, the labelled folder joins the split as the
    feedback source, model B is trained and promoted, and after the DAG's notify step the running
    service answers with B's tag, without a restart."""
    import httpx
    import yaml

    from deepfake_detect.config import load_params
    from deepfake_detect.monitoring.drift import drift_report
    from deepfake_detect.pipeline.dagops import notify_serving
    from deepfake_detect.scoring.requestlog import read_request_log
    from deepfake_detect.scoring.review import ReviewQueue
    from deepfake_detect.scoring.service_process import ServerStartError, start_bentoml_serve, stop_process_tree

    old = pd.read_csv(split_manifest)
    p = make_params(tmp_path, split_manifest)
    run_train(p, "sklearn_fft")
    run_evaluate(p)
    first = promote_stage.run_promote(p)
    raw = yaml.safe_load(REPO_PARAMS.read_text())
    review = {"keep_crops": True, "dir": str(tmp_path / "review"), "margin": 0.0, "audit_rate": 0.0, "on_drift": True}
    raw["serve"].update(request_log_dir=str(tmp_path / "requests"), model_tag=f"{p.promote.bento_name}:latest")
    raw["serve"]["review"].update(review)  # kept only while the latest drift result says drifted
    raw["drift"]["report_dir"] = str(tmp_path / "drift")
    raw["data"]["feedback_dir"] = str(tmp_path / "feedback")
    serve_params = tmp_path / "serve-params.yaml"
    serve_params.write_text(yaml.safe_dump(raw))
    env = {**os.environ, "BENTOML_HOME": str(bento_home), "DEEPFAKE_PARAMS": str(serve_params)}
    env.pop("DEEPFAKE_API_KEY", None)  # open on loopback; /reload still needs the admin key
    env["DEEPFAKE_ADMIN_KEY"] = "feedback-admin-key"
    try:
        proc, url = start_bentoml_serve(env, tmp_path / "serve.log", REPO_PARAMS.parent, ready_timeout=300)
    except ServerStartError as exc:
        pytest.fail(str(exc))
    try:

        def score(path: Path) -> dict:
            with path.open("rb") as fh:
                r = httpx.post(
                    f"{url}/score_image",
                    files={"file": (path.name, fh)},
                    data={"crop": "true"},
                    headers={"X-API-Key": ""},  # an open server: the header alone (a page of another site cannot)
                    timeout=120,
                )
            assert r.status_code == 200, r.text[:300]
            return r.json()

        rng = np.random.default_rng(5)

        def traffic(folder: Path) -> None:  # the new technique: one REAL and one FAKE request per clip
            folder.mkdir()
            for g in range(12):
                for label in ("real", "fake"):
                    path = folder / f"fb{label}{g:02d}.png"
                    cv2.imwrite(str(path), new_technique_crop(rng, fake=label == "fake"))
                    assert score(path)["model_tag"] == first.tag

        traffic(tmp_path / "before")
        queue = ReviewQueue(load_params(serve_params))
        assert not [i for i in queue.items() if i.reason == "drift"]  # no drift result yet
        monitor = p.model_copy(
            update={
                "drift": p.drift.model_copy(update={"report_dir": tmp_path / "drift", "min_rows": 20}),
                "serve": p.serve.model_copy(update={"request_log_dir": tmp_path / "requests"}),
            }
        )
        deadline = time.time() + 60  # the request log is written by a background thread
        while len(read_request_log(tmp_path / "requests")) < 24 and time.time() < deadline:
            time.sleep(0.5)
        assert drift_report(monitor, html=False).drift_detected  # A's request log against its val split
        traffic(uploads := tmp_path / "uploads")
        items = [i for i in queue.items() if i.reason == "drift"]
        assert len(items) == 24  # while drifted the queue keeps every request (its face crops only)
        group_of_item = {}
        for item in items:
            group_of_item[item.id] = int(item.file[6:8])  # fbreal03.png / fbfake03.png: clip 3
            label = "FAKE" if item.file.startswith("fbfake") else "REAL"
            done = _deepfake("review", "label", item.id, label, env=env, cwd=tmp_path)
            assert done.returncode == 0, done.stderr[-500:]
        status = json.loads(_deepfake("review", "status", env=env, cwd=tmp_path).stdout.strip().splitlines()[-1])
        assert status["waiting"] == 0 and status["labelled"] == 24

        pd.concat([old, _feedback_manifest_rows(tmp_path / "feedback", group_of_item)]).to_csv(
            split_manifest, index=False
        )
        a = promote_stage.served_metrics(p)[1].by_source  # A re-scored on the split with the labelled crops
        run_train(p, "sklearn_fft")
        run_evaluate(p)
        b = _metrics(p).by_source
        assert b["feedback"].auc > a["feedback"].auc and a["old"].auc - b["old"].auc <= 0.02
        second = promote_stage.run_promote(p)
        assert second.promoted, second.reason
        said = notify_serving(f"{url}/reload", env["DEEPFAKE_ADMIN_KEY"], {"promotion": second.model_dump(mode="json")})
        assert said.startswith("reloaded"), said
        assert score(uploads / "fbfake00.png")["model_tag"] == second.tag
    finally:
        stop_process_tree(proc)
