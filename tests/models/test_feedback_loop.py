"""The retrain half of the feedback loop on tiny real data: a served model that never saw a "new
technique", labelled crops of it arriving as the feedback source, a retrain on both sources, and
the release rule promoting the new model because it scores the new technique clearly better while
the old test split holds (real training, evaluate, promote and BentoML store).

Not covered here (their own tests): the service keeping crops for review (tests/serving/
test_review_queue.py), labelling them through the CLI and the feedback folder becoming the extract
stage's second source (tests/data/test_review_cli.py, test_feedback_source.py), and a running
service answering with the new tag after the promotion (tests/serving/test_model_reload.py)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest

from deepfake_detect.stages import promote as promote_stage
from deepfake_detect.stages.evaluate import run_evaluate
from deepfake_detect.stages.train import run_train

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


def _metrics(p) -> dict:
    return json.loads((p.evaluate.metrics_dir / "sklearn_fft.json").read_text())


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
    a_new = served[1]["by_source"]["feedback"]["auc"]
    run_train(p, "sklearn_fft")  # model B: both sources
    run_evaluate(p)
    b = _metrics(p)["by_source"]
    assert b["feedback"]["auc"] >= a_new + 0.15, (a_new, b["feedback"]["auc"])  # clearly better on the new technique
    assert served[1]["by_source"]["old"]["auc"] - b["old"]["auc"] <= p.promote.max_regression  # the old split holds
    second = promote_stage.run_promote(p)
    assert second.promoted, second.reason
    assert "feedback test split" in second.reason and "old test split" in second.reason
    stored = bentoml.models.get(f"{p.promote.bento_name}:latest")
    assert stored.info.metadata["release"] == second.tag != served_tag  # what serving's /reload loads next


@pytest.mark.slow
def test_the_running_service_answers_with_the_retrained_model_after_the_dags_notify(
    split_manifest: Path, tmp_path: Path, make_params, bento_home: Path
):
    """The same loop with `bentoml serve` running model A throughout: after B's promotion the DAG's
    notify step reloads it and the service answers the new technique with B's tag, no restart."""
    import httpx
    import yaml

    from deepfake_detect.dagops import notify_serving
    from deepfake_detect.processes import ServerStartError, start_bentoml_serve, stop_process_tree

    old = pd.read_csv(split_manifest)
    p = make_params(tmp_path, split_manifest)
    run_train(p, "sklearn_fft")
    run_evaluate(p)
    first = promote_stage.run_promote(p)
    raw = yaml.safe_load(REPO_PARAMS.read_text())
    raw["serve"].update(request_log_dir=str(tmp_path / "requests"), model_tag=f"{p.promote.bento_name}:latest")
    (tmp_path / "serve-params.yaml").write_text(yaml.safe_dump(raw))
    env = {**os.environ, "BENTOML_HOME": str(bento_home), "DEEPFAKE_PARAMS": str(tmp_path / "serve-params.yaml")}
    env.pop("DEEPFAKE_API_KEY", None)
    try:
        proc, url = start_bentoml_serve(env, tmp_path / "serve.log", REPO_PARAMS.parent, ready_timeout=300)
    except ServerStartError as exc:
        pytest.fail(str(exc))
    try:
        crop = tmp_path / "new.png"
        cv2.imwrite(str(crop), new_technique_crop(np.random.default_rng(5), fake=True))

        def tag() -> str:
            with crop.open("rb") as fh:
                r = httpx.post(
                    f"{url}/score_image", files={"file": ("new.png", fh)}, data={"crop": "true"}, timeout=120
                )
            assert r.status_code == 200, r.text[:300]
            return r.json()["model_tag"]

        assert tag() == first.tag
        pd.concat([old, new_technique_rows(tmp_path)]).to_csv(split_manifest, index=False)
        run_train(p, "sklearn_fft")
        run_evaluate(p)
        second = promote_stage.run_promote(p)
        assert second.promoted, second.reason
        said = notify_serving(f"{url}/reload", None, {"promotion": second.model_dump(mode="json")})
        assert said.startswith("reloaded"), said
        assert tag() == second.tag
    finally:
        stop_process_tree(proc)
