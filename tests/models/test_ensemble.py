"""The ``ensemble`` family: the mean of its members' calibrated logits, calibrated, thresholded,
evaluated beside its members, promoted with copies of its members and served as one model."""

from __future__ import annotations

import json
from pathlib import Path

import joblib
import numpy as np
import pytest
from sklearn.dummy import DummyClassifier
from sklearn.pipeline import Pipeline

from deepfake_detect.config import ConfigError
from deepfake_detect.contracts.calibration import Calibration, logit
from deepfake_detect.contracts.model import MEMBERS_DIR
from deepfake_detect.media.images import read_rgb
from deepfake_detect.models.artifacts import write_untrained_record
from deepfake_detect.models.dataset import load_split
from deepfake_detect.models.predictor import EnsemblePredictor, ModelLoadError, load_predictor, read_record

REPO_PARAMS = Path(__file__).resolve().parents[2] / "params.yaml"


def _constant_member(folder: Path, p_fake: float, input_size: int, calibration: Calibration | None) -> None:
    """A real scikit-learn pipeline whose P(FAKE) is ``p_fake`` for every crop (the training prior)."""
    folder.mkdir(parents=True)
    n = 100
    y = np.r_[np.ones(round(p_fake * n)), np.zeros(n - round(p_fake * n))]
    joblib.dump(
        Pipeline([("clf", DummyClassifier(strategy="prior"))]).fit(np.zeros((n, 1)), y), folder / "model.joblib"
    )
    write_untrained_record(
        folder,
        name=folder.name,
        family="sklearn",
        artifact="model.joblib",
        input_size=input_size,
        calibration=calibration,
        train_seconds=float(input_size),
    )


def _sigmoid(z: float) -> float:
    return float(1 / (1 + np.exp(-z)))


def test_two_members_with_known_outputs_combine_as_the_mean_of_their_calibrated_logits(tmp_path: Path):
    models = tmp_path / "trained"
    halve = Calibration(method="platt", slope=0.5, bias=0.0)  # member a's calibration: logit / 2
    _constant_member(models / "a", 0.9, 64, halve)
    _constant_member(models / "b", 0.1, 96, None)
    ens_cal = Calibration(method="platt", slope=2.0, bias=-0.25)
    write_untrained_record(
        models / "ensemble",
        name="ensemble",
        family="ensemble",
        artifact=MEMBERS_DIR,
        input_size=0,
        members=["a", "b"],
        calibration=ens_cal,
    )
    ens = load_predictor(models / "ensemble")
    crops = np.zeros((3, 40, 40, 3), np.uint8)

    mean = (0.5 * logit(np.array(0.9)) + logit(np.array(0.1))) / 2  # calibrated member logits, averaged
    assert isinstance(ens, EnsemblePredictor) and [m.name for m in ens.members] == ["a", "b"]
    np.testing.assert_allclose(ens.predict_raw(crops), _sigmoid(mean), rtol=1e-5)
    assert _sigmoid(mean) != pytest.approx(
        (_sigmoid(0.5 * logit(np.array(0.9))) + 0.1) / 2, abs=0.05
    )  # not the mean of P
    np.testing.assert_allclose(ens.predict(crops), _sigmoid(2.0 * mean - 0.25), rtol=1e-5)  # its own calibration on top
    probs, emb = ens.score(crops)
    np.testing.assert_allclose(probs, ens.predict(crops), rtol=1e-6)
    assert emb.shape[0] == 3  # the lead member's (a's) features
    assert ens.input_size == 96 and ens.record.train_seconds == pytest.approx(64 + 96)  # its members' facts

    (models / "b" / "record.json").unlink()
    with pytest.raises(ModelLoadError, match=r"members \['b'\] not found"):
        load_predictor(models / "ensemble")


def test_members_must_be_trained_beside_the_ensemble(tmp_path: Path, split_manifest: Path, make_params):
    with pytest.raises(ConfigError, match=r"train\.ensemble\.members"):
        make_params(
            tmp_path,
            split_manifest,
            models=["sklearn_fft", "ensemble"],
            ensemble={"members": ["sklearn_fft", "baseline_cnn"]},
        )
    with pytest.raises(ConfigError, match="repeat"):
        make_params(tmp_path, split_manifest, ensemble={"members": ["sklearn_fft", "sklearn_fft"]})


def _service_model_answer(p, tmp_path: Path) -> dict:
    """``/model`` of the BentoML service (called in-process) serving the store's latest ``promote.bento_name``."""
    import importlib
    import os
    import sys

    import yaml

    raw = yaml.safe_load(REPO_PARAMS.read_text())
    raw["serve"].update({"model_tag": f"{p.promote.bento_name}:latest", "request_log_dir": str(tmp_path / "log")})
    (tmp_path / "serve.yaml").write_text(yaml.safe_dump(raw))
    os.environ["DEEPFAKE_PARAMS"] = str(tmp_path / "serve.yaml")
    sys.modules.pop("serving.service", None)
    try:
        return importlib.import_module("serving.service").DeepfakeDetector().model()
    finally:
        os.environ.pop("DEEPFAKE_PARAMS", None)
        sys.modules.pop("serving.service", None)


def test_ensemble_trains_evaluates_promotes_and_serves_end_to_end(
    tmp_path: Path, split_manifest: Path, make_params, bento_home: Path, tiny_sample: Path, repo_root: Path
):
    import bentoml
    from typer.testing import CliRunner

    from deepfake_detect.cli.main import app
    from deepfake_detect.pipeline.evaluate import run_evaluate
    from deepfake_detect.pipeline.promote import run_promote
    from deepfake_detect.pipeline.train import run_train
    from deepfake_detect.release.members import load_candidate
    from deepfake_detect.release.shadow import as_released
    from deepfake_detect.scoring.scorer import model_info

    members = ["sklearn_fft", "baseline_cnn"]
    p = make_params(tmp_path, split_manifest, models=[*members, "ensemble"], ensemble={"members": members})
    p = p.model_copy(update={"promote": p.promote.model_copy(update={"candidates": ["ensemble"]})})
    for name in ["ensemble", *members]:  # DVC may train it first: it reads no member
        run_train(p, name)
    results = run_evaluate(p)

    ens = results["ensemble"]
    assert ens.family == "ensemble" and ens.by_dataset["dfdc"].frame is not None  # per dataset, as any family
    assert ens.train_seconds == pytest.approx(sum(results[m].train_seconds for m in members), abs=0.2)
    assert 0 <= ens.calibration_quality.ece <= 1 and ens.calibration.n_fit == len(load_split(split_manifest, "val"))
    assert "| ensemble |" in p.evaluate.comparison.read_text()  # beside its members

    decision = run_promote(p)
    assert decision.promoted and decision.candidate == "ensemble"
    release = p.promote.dir.resolve()
    record = read_record(release)
    ranked = sorted(members, key=lambda m: -results[m].frame.auc)
    assert record.family == "ensemble" and record.members == ranked  # strongest first
    for m in members:  # the release holds its members' artifacts, each with evaluate's calibration
        assert read_record(release / MEMBERS_DIR / m).calibration == results[m].calibration
    served = load_predictor(p.promote.dir)
    assert isinstance(served, EnsemblePredictor) and served.members[0].folder.parent == p.promote.dir / MEMBERS_DIR
    test = load_split(split_manifest, "test")
    crops = [read_rgb(x) for x in test["path"]]
    from sklearn.metrics import roc_auc_score

    assert roc_auc_score(test["y"], served.predict(crops)) == pytest.approx(ens.frame.auc, abs=1e-4)  # as evaluated
    assert served.embed(crops[:2]).shape == (2, p.promote.embedding_components) and served.record.ood is not None
    candidate = as_released(load_candidate(p, "ensemble"), ens, p.promote.serve_threshold)  # what shadow scores
    np.testing.assert_allclose(candidate.predict(crops[:4]), served.predict(crops[:4]), rtol=1e-5)
    info = model_info(served)
    assert info.family == "ensemble" and info.members == ranked and info.input_size == 128
    store = Path(bentoml.models.get(f"{p.promote.bento_name}:latest").path)
    assert (store / MEMBERS_DIR / "baseline_cnn" / "model.keras").is_file()
    assert _service_model_answer(p, tmp_path)["members"] == ranked  # /model, from the store's entry

    clip = sorted(tiny_sample.glob("*.mp4"))[0]
    cams = tmp_path / "cams"
    result = CliRunner().invoke(app, ["score", str(clip), "--json", "--model-dir", str(store), "--explain", str(cams)])
    assert result.exit_code == 0, result.output[-2000:]
    (line,) = [json.loads(x) for x in result.stdout.splitlines() if x.startswith("{")]
    assert line["label"] in ("FAKE", "REAL") and 0 <= line["probability"] <= 1
    assert any(c.read_bytes()[:4] == b"\x89PNG" for c in cams.iterdir())  # Grad-CAM from its Keras member
