"""Shadow scoring before promotion: a candidate re-scores the review queue's recent crops beside the served
model; the report names the requests whose verdict would flip (with the reviewers' labels), and
``promote.shadow: gate`` refuses a candidate that loses on the labelled requests, naming both figures."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import joblib
import numpy as np
import pytest
from sklearn.dummy import DummyClassifier
from sklearn.pipeline import Pipeline

from deepfake_detect.config import Params
from deepfake_detect.contracts.decisions import PromotionDecision
from deepfake_detect.contracts.live import ShadowResult
from deepfake_detect.faces.clip import FaceCrop
from deepfake_detect.models.predictor import load_predictor
from deepfake_detect.pipeline import promote as promote_stage
from deepfake_detect.pipeline.evaluate import run_evaluate
from deepfake_detect.pipeline.train import run_train
from deepfake_detect.release.shadow import run_shadow
from deepfake_detect.scoring.feedback import label_item
from deepfake_detect.scoring.review import ReviewQueue

# (request, what its crops look like, what the reviewer says; None = not labelled yet)
REQUESTS = [("f1", True, "FAKE"), ("f2", True, "FAKE"), ("f3", True, None)]
REQUESTS += [("r1", False, "REAL"), ("r2", False, "REAL"), ("r3", False, None)]


def _with(p: Params, **sections: dict) -> Params:
    return p.model_copy(update={k: getattr(p, k).model_copy(update=v) for k, v in sections.items()})


def _constant(folder: Path, value: int) -> None:
    """The model in ``folder`` replaced by a real scikit-learn pipeline that says ``value`` for every crop."""
    n = joblib.load(folder / "model.joblib").named_steps["scale"].n_features_in_
    clf = Pipeline([("clf", DummyClassifier(strategy="constant", constant=value))]).fit(np.zeros((2, n)), [0, 1])
    joblib.dump(clf, folder / "model.joblib")


@pytest.fixture
def served(split_manifest: Path, tmp_path: Path, make_params, bento_home: Path) -> Params:
    p = make_params(tmp_path, split_manifest)
    p = _with(
        p,
        serve={"review": p.serve.review.model_copy(update={"dir": tmp_path / "review", "margin": 0.5, "days": 30})},
        data={"feedback_dir": tmp_path / "feedback"},
        promote={"shadow_report": tmp_path / "reports" / "shadow.json"},
    )
    run_train(p, "sklearn_fft")
    run_evaluate(p)
    assert promote_stage.run_promote(p).promoted
    return p


def _queue(p: Params, make_crop, invert_labels: bool = False) -> dict[str, str]:
    """Six kept photos of one face, four of them labelled; their review item ids by request. (Photos: a clip's
    P(FAKE) is clipped to evaluate.clip, under the tiny model's saturated threshold.)"""
    queue, rng, ids = ReviewQueue(p), np.random.default_rng(3), {}
    for request, fake, label in REQUESTS:
        faces = [FaceCrop(None, 0, (0, 0, 48, 48), 0.9, make_crop(rng, fake), 0, 0.5)]
        item = queue.consider(
            request_id=request,
            endpoint="score_image",
            file=f"{request}.jpg",
            model_tag="served",
            threshold=0.5,
            score=0.5,
            faces=faces,
        )
        ids[request] = item.id
        if label is not None:
            label_item(p, item.id, {"FAKE": "REAL", "REAL": "FAKE"}[label] if invert_labels else label)
    return ids


def test_a_candidate_that_calls_everything_fake_flips_the_real_requests(served: Params, make_crop, tmp_path: Path):
    p = served
    ids = _queue(p, make_crop)
    candidate = tmp_path / "candidate"
    shutil.copytree(p.train.models_dir / "sklearn_fft", candidate)
    _constant(candidate, 1)
    result = run_shadow(p, candidate)
    assert ShadowResult.read(p.promote.shadow_report) == result
    assert result.n_items == 6 and result.n_labelled == 4 and result.metric == "auc"
    assert {f.request_id: f.label for f in result.flips} == {"r1": "REAL", "r2": "REAL", "r3": None}
    assert all(f.served_verdict == "REAL" and f.candidate_verdict == "FAKE" for f in result.flips)
    assert result.agreement == pytest.approx(0.5)
    assert result.served.value == pytest.approx(1.0) and result.candidate.value == pytest.approx(0.5)
    assert result.served.labelled.confusion.model_dump() == {"tn": 2, "fp": 0, "fn": 0, "tp": 2}
    assert not result.passed and "auc=0.5000" in result.reason and "auc=1.0000" in result.reason
    assert {f.id for f in result.flips} == {ids["r1"], ids["r2"], ids["r3"]}

    exe = Path(sys.executable).with_name("deepfake")
    params = tmp_path / "shadow-params.yaml"
    params.write_text(json.dumps(json.loads(p.model_dump_json(by_alias=True))))  # JSON is YAML
    run = subprocess.run(
        [str(exe), "shadow", str(candidate), "--fail-on-regression", "--params", str(params)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 3, run.stderr
    assert len(json.loads(run.stdout)["flips"]) == 3 and "REAL -> FAKE, reviewer says REAL" in run.stderr


def test_the_same_model_as_candidate_flips_nothing(served: Params, make_crop):
    ids = _queue(served, make_crop)
    (served.serve.review.dir / ids["f3"] / "image_0.jpg").unlink()  # a damaged item is left out, named in the log
    result = run_shadow(served, served.promote.dir)
    assert result.flips == [] and result.agreement == 1.0 and result.passed and result.loss == 0
    assert result.n_items == 5


def test_with_nothing_served_the_candidate_is_only_described(served: Params, make_crop, tmp_path: Path):
    _queue(served, make_crop)
    result = run_shadow(served, served.train.models_dir / "sklearn_fft", served_dir=tmp_path / "nothing")
    assert result.served is None and result.agreement is None and result.flips == [] and result.passed
    assert result.candidate.value == pytest.approx(1.0) and "no model is served" in result.reason


def _served_uninformed(p: Params) -> None:
    """The served release says FAKE for every crop (AUC 0.5 on the test split): the trained model beats it."""
    _constant(p.promote.dir.resolve(), 1)


@pytest.mark.parametrize("mode", ["gate", "report"])
def test_promote_shadow_gate_refuses_a_candidate_worse_on_the_labels(served: Params, make_crop, mode: str):
    p = _with(served, promote={"shadow": mode})
    _served_uninformed(p)
    before = load_predictor(p.promote.dir).tag
    _queue(p, make_crop, invert_labels=True)  # reviewers see what the model does not: it gets every label wrong
    decision = promote_stage.run_promote(p)
    shadow = ShadowResult.read(p.promote.shadow_report)
    assert decision.shadow_report == str(p.promote.shadow_report)
    assert shadow.served.value == pytest.approx(0.5) and shadow.candidate.value == pytest.approx(0.0)
    assert {f.request_id for f in shadow.flips} == {"r1", "r2", "r3"}
    if mode == "gate":
        assert not decision.promoted and decision.reason.startswith("shadow (3 of 6 recent request(s) would flip")
        assert "auc=0.0000 against served" in decision.reason and "auc=0.5000" in decision.reason
        assert load_predictor(p.promote.dir).tag == before
        assert PromotionDecision.read(p.promote.decision) == decision
    else:
        assert decision.promoted and load_predictor(p.promote.dir).tag != before


def test_a_clip_scores_as_its_fakest_deciding_person_a_photo_as_its_fakest_face(served: Params):
    from deepfake_detect.contracts.review import ReviewCrop, ReviewItem
    from deepfake_detect.release.shadow import request_score

    def item(crops: list[ReviewCrop]) -> ReviewItem:
        return ReviewItem(
            id="x", request_id="r", endpoint="e", file="f", time="2026-12-01T00:00:00+00:00", model_tag="m",
            score=0.5, threshold=0.5, reason="audit", crops=crops,
        )  # fmt: skip

    # person 1 is seen in one frame of eight: a stray detection that does not decide the clip
    clip = [ReviewCrop(name=f"{k}", frame=k, face=0, person=0, probability=0) for k in range(8)]
    clip.append(ReviewCrop(name="s", frame=0, face=1, person=1, probability=0))
    probs = np.array([0.2] * 8 + [0.95])
    assert request_score(probs, item(clip), served) == pytest.approx(0.2, abs=0.05)
    photo = [ReviewCrop(name=f"{k}", frame=None, face=k, person=k, probability=0) for k in range(2)]
    assert request_score(np.array([0.3, 0.9]), item(photo), served) == pytest.approx(0.9)
