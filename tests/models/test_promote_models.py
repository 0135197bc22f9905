"""Promotion: only a better model is promoted; an interrupted promote leaves the previous model
served; rollback serves the previous release again; the BentoML store gets each promotion."""

from __future__ import annotations

import json
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pytest
from sklearn.dummy import DummyClassifier
from sklearn.pipeline import Pipeline

from deepfake_detect.config import Params, load_params
from deepfake_detect.contracts.decisions import PromotionDecision
from deepfake_detect.contracts.metrics import ModelMetrics
from deepfake_detect.contracts.model import BentoMetadata
from deepfake_detect.models.predictor import ModelLoadError, load_predictor, read_record
from deepfake_detect.pipeline import promote as promote_stage
from deepfake_detect.pipeline.evaluate import run_evaluate
from deepfake_detect.pipeline.promote import served_threshold
from deepfake_detect.pipeline.train import run_train
from deepfake_detect.release.gate import CandidateError
from deepfake_detect.release.metrics import MetricsError

REPO_PARAMS = Path(__file__).resolve().parents[2] / "params.yaml"  # the one place defaults are written


def _worse_model(p: Params) -> None:
    """Replace the trained sklearn model by a real but uninformed pipeline (constant prior): AUC 0.5."""
    folder = p.train.models_dir / "sklearn_fft"
    model = joblib.load(folder / "model.joblib")
    x = np.zeros((4, model.named_steps["scale"].n_features_in_))
    dummy = Pipeline([("clf", DummyClassifier(strategy="prior"))]).fit(x, [0, 1, 1, 0])
    joblib.dump(dummy, folder / "model.joblib")


@pytest.fixture
def promoted(split_manifest: Path, tmp_path: Path, make_params, bento_home: Path) -> Params:
    p = make_params(tmp_path, split_manifest)
    run_train(p, "sklearn_fft")
    run_evaluate(p)
    decision = promote_stage.run_promote(p)
    assert decision.promoted and decision.current is None
    return p


def test_first_promotion_serves_the_model_and_saves_it_to_bentoml(promoted: Params):
    import bentoml

    p = promoted
    served = load_predictor(p.promote.dir)
    metrics = ModelMetrics.read(p.evaluate.metrics_dir / "sklearn_fft.json")
    assert p.promote.dir.is_symlink()
    assert served.threshold == pytest.approx(served_threshold(metrics, p.promote.serve_threshold))
    assert served.record.metrics == metrics  # the release keeps what evaluate found, typed
    assert served.embed([np.zeros((48, 48, 3), np.uint8)]).shape == (1, p.promote.embedding_components)
    assert served.record.crop_margin == pytest.approx(p.extract.margin)  # clip crops: extract's own framing
    bento = bentoml.models.get(f"{p.promote.bento_name}:latest")
    metadata = BentoMetadata.parse(bento.info.metadata, "store")
    assert metadata.release == served.tag and metadata.threshold == pytest.approx(served.threshold)
    assert metadata.metrics["auc"] == pytest.approx(metrics.frame.auc)
    assert metadata.video_metrics["auc"] == pytest.approx(metrics.video.auc)
    assert metadata.data_version == served.record.data_version
    assert (Path(bento.path) / "record.json").is_file() and (Path(bento.path) / "projection.npz").is_file()


def test_a_worse_model_is_not_promoted(promoted: Params):
    p = promoted
    before = load_predictor(p.promote.dir).tag
    _worse_model(p)
    run_evaluate(p)
    decision = promote_stage.run_promote(p)
    assert decision.promoted is False and "does not beat" in decision.reason
    assert decision.candidate_score == pytest.approx(0.5)
    assert decision.current_score > 0.9  # the served model re-scored on the same test split
    assert load_predictor(p.promote.dir).tag == before
    assert PromotionDecision.read(p.promote.decision) == decision


def _served_everywhere(p: Params) -> str:
    """The release that the symlink, the history and the BentoML store all name (they must agree)."""

    link = p.promote.dir.resolve().name
    history = promote_stage.read_history(p.promote.releases_dir)
    store = promote_stage.store_release(p.promote.bento_name)
    assert link == history[-1] == store, {"symlink": link, "history": history, "store": store}
    return link


def _crash(monkeypatch: pytest.MonkeyPatch, step: str, after: bool) -> None:
    """Make promote_stage.<step> raise, before it does anything or once it has done its work."""
    real = getattr(promote_stage, step)

    def crash(*args, **kwargs):
        if after:
            real(*args, **kwargs)
        raise KeyboardInterrupt(f"power cut {'after' if after else 'in'} {step}")

    monkeypatch.setattr(promote_stage, step, crash)


STEPS = ["write_release", "swap_link", "write_json_atomic", "save_to_bentoml"]  # write_json_atomic: the history
# a crash in every step, and after every step but the last (once the store is written, the promotion is complete)
CRASHES = [(step, False) for step in STEPS] + [(step, True) for step in STEPS[:-1]]


@pytest.mark.parametrize(("crash_in", "after"), CRASHES, ids=[f"{'after' if a else 'in'}-{s}" for s, a in CRASHES])
def test_interrupted_promote_leaves_the_previous_model_served(
    promoted: Params, monkeypatch: pytest.MonkeyPatch, crash_in: str, after: bool
):
    p = promoted
    before = _served_everywhere(p)
    _crash(monkeypatch, crash_in, after)
    # make the candidate win, so that promote goes all the way to the crash
    monkeypatch.setattr(promote_stage, "is_better", lambda *a, **k: True)
    with pytest.raises(KeyboardInterrupt):
        promote_stage.run_promote(p)
    assert _served_everywhere(p) == before
    served = load_predictor(p.promote.dir)
    assert served.tag == before
    assert served.predict([np.zeros((48, 48, 3), np.uint8)]).shape == (1,)


@pytest.mark.parametrize("killed_after", ["swap_link", "write_json_atomic", "save_to_bentoml"])
def test_rollback_after_a_killed_promote_goes_back_exactly_one_release(
    promoted: Params, monkeypatch: pytest.MonkeyPatch, killed_after: str
):

    p = promoted
    _served_everywhere(p)
    monkeypatch.setattr(promote_stage, "is_better", lambda *a, **k: True)
    assert promote_stage.run_promote(p).promoted  # a second release, so there are two to go back over
    with monkeypatch.context() as m:  # SIGKILL: no handler runs, the next command finds the pieces
        _crash(m, killed_after, after=True)
        m.setattr(promote_stage, "reconcile", lambda *a, **k: None, raising=False)
        with pytest.raises(KeyboardInterrupt):
            promote_stage.run_promote(p)
    served = promote_stage.store_release(p.promote.bento_name)  # what serving loads
    releases = sorted(d.name for d in p.promote.releases_dir.iterdir() if d.is_dir() and d.name[0] != ".")
    expected = releases[releases.index(served) - 1]
    result = promote_stage.run_rollback(p)
    assert result.serving == expected
    assert _served_everywhere(p) == expected
    assert load_predictor(p.promote.dir).tag == expected


def test_interrupted_rollback_keeps_the_release_served(promoted: Params, monkeypatch: pytest.MonkeyPatch):
    p = promoted
    first = _served_everywhere(p)
    monkeypatch.setattr(promote_stage, "is_better", lambda *a, **k: True)
    second = promote_stage.run_promote(p).tag
    with monkeypatch.context() as m:
        _crash(m, "save_to_bentoml", after=False)
        with pytest.raises(KeyboardInterrupt):
            promote_stage.run_rollback(p)
    assert _served_everywhere(p) == second
    assert promote_stage.run_rollback(p).serving == first
    assert _served_everywhere(p) == first


def test_rollback_serves_the_previous_release(promoted: Params, monkeypatch: pytest.MonkeyPatch):

    p = promoted
    first = load_predictor(p.promote.dir).tag
    monkeypatch.setattr(promote_stage, "is_better", lambda *a, **k: True)
    second = promote_stage.run_promote(p).tag
    assert second != first and load_predictor(p.promote.dir).tag == second
    result = promote_stage.run_rollback(p)
    assert (result.rolled_back_from, result.serving) == (second, first)
    assert load_predictor(p.promote.dir).tag == first
    assert promote_stage.store_release(p.promote.bento_name) == first
    with pytest.raises(promote_stage.PromoteError, match="nothing to roll back to"):
        promote_stage.run_rollback(p)


def test_evaluate_refuses_a_single_class_test_split(tmp_path: Path, make_params, make_split):
    manifest = make_split(tmp_path / "one", split_of_group=["train", "val", "test"])
    df = pd.read_csv(manifest)
    df = df[~((df["split"] == "test") & (df["label"] == "REAL"))]
    df.to_csv(manifest, index=False)
    p = make_params(tmp_path, manifest)
    run_train(p, "sklearn_fft")
    with pytest.raises(MetricsError, match=r"test split \(frames\).*only FAKE"):
        run_evaluate(p)


# what promote fills in (data_version: the data the release was evaluated on)
RELEASE_FIELDS = (
    "tag",
    "threshold",
    "metrics",
    "calibration",
    "operating_point",
    "ood",
    "promoted_at",
    "promote_git_rev",
    "data_version",
    "data_path",
)


def test_promote_completes_the_trained_record(promoted: Params):
    trained = read_record(promoted.train.models_dir / "sklearn_fft")
    release = read_record(promoted.promote.dir)
    assert trained.tag is None and trained.calibration is None
    assert release.tag == promoted.promote.dir.resolve().name and release.promoted_at is not None
    assert release.calibration is not None
    assert release.threshold == served_threshold(release.metrics, promoted.promote.serve_threshold)
    blank = dict.fromkeys(RELEASE_FIELDS)
    assert release.model_copy(update=blank) == trained.model_copy(update=blank)  # the rest is the trained record


def test_the_release_serves_the_threshold_promote_names(promoted: Params):
    """video_fpr (the default: production is mostly REAL) serves the cut that calls at most
    evaluate.target_video_fpr of the REAL val clips FAKE; balanced serves the val faces' best cut."""
    m = read_record(promoted.promote.dir).metrics
    assert promoted.promote.serve_threshold == "video_fpr"
    assert served_threshold(m, "video_fpr") == m.video_operating_point.threshold
    assert served_threshold(m, "balanced") == m.threshold
    assert m.video_operating_point.val_fpr <= promoted.evaluate.target_video_fpr


def test_a_record_missing_a_field_fails_loading_naming_it(promoted: Params, tmp_path: Path):
    import shutil

    folder = tmp_path / "broken"
    shutil.copytree(promoted.train.models_dir / "sklearn_fft", folder)
    record = json.loads((folder / "record.json").read_text())
    del record["input_size"]
    (folder / "record.json").write_text(json.dumps(record))
    with pytest.raises(ModelLoadError, match="input_size"):
        load_predictor(folder)


def test_pick_best_follows_the_metric_direction_and_level(make_metrics):
    c = {
        "a": make_metrics("a", frame={"auc": 0.7, "log_loss": 0.5}, video={"auc": 0.9}),
        "b": make_metrics("b", frame={"auc": 0.8, "log_loss": 0.6}, video={"auc": 0.6}),
    }
    assert promote_stage.pick_best(c, "auc", "frame") == "b"
    assert promote_stage.pick_best(c, "log_loss", "frame") == "a"
    assert promote_stage.pick_best(c, "auc", "video") == "a"


def test_candidates_restrict_what_may_be_promoted(tmp_path: Path, make_metrics):
    for name, auc in (("xception", 0.6), ("sklearn_fft", 0.9)):
        make_metrics(name, frame={"auc": auc}).write(tmp_path / f"{name}.json")
    base = {"train": {"models": ["xception", "sklearn_fft"]}, "evaluate": {"metrics_dir": str(tmp_path)}}
    everyone = promote_stage.read_candidates(load_params(REPO_PARAMS, base))
    assert promote_stage.pick_best(everyone, "auc", "frame") == "sklearn_fft"
    only = promote_stage.read_candidates(load_params(REPO_PARAMS, {**base, "promote": {"candidates": ["xception"]}}))
    assert list(only) == ["xception"]
    with pytest.raises(CandidateError, match="baseline_cnn"):
        promote_stage.read_candidates(load_params(REPO_PARAMS, {**base, "promote": {"candidates": ["baseline_cnn"]}}))


@pytest.mark.parametrize("family", ["efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2"])
def test_efficientnet_lite_promotes_calibrated_and_serves_explainable(
    family: str, split_manifest: Path, tmp_path: Path, make_params, bento_home: Path
):
    """Each Lite family end to end: train → evaluate (calibration fitted on val) → promote (BentoML
    store) → the serving scorer gives the calibrated probability, a projected embedding and Grad-CAM."""
    from deepfake_detect.media.images import read_rgb
    from deepfake_detect.models.dataset import load_split

    p = make_params(tmp_path, split_manifest, models=[family])
    run_train(p, family)
    (metrics,) = run_evaluate(p).values()
    assert metrics.calibration.method == p.evaluate.calibration and metrics.calibration_quality.ece >= 0
    assert promote_stage.run_promote(p).promoted
    served = load_predictor(p.promote.dir)
    assert served.record.pretrained == "imagenet" and served.record.name == family
    assert served.record.test_time_flip == getattr(p.train, family).test_time_flip  # as trained and calibrated
    assert served.record.calibration == served.calibration
    crops = [read_rgb(x) for x in load_split(split_manifest, "test")["path"][:4]]
    np.testing.assert_allclose(served.predict(crops), served.calibration.apply(served.predict_raw(crops)), atol=1e-6)
    probs, emb = served.score(np.stack(crops))
    np.testing.assert_allclose(probs, served.predict(crops), atol=1e-5)
    assert emb.shape == (4, p.promote.embedding_components)
    pngs = served.explain(np.stack(crops[:2]))
    assert len(pngs) == 2 and all(png[:4] == b"\x89PNG" for png in pngs)


def test_concurrent_publishes_from_two_threads_never_fail(promoted: Params, monkeypatch: pytest.MonkeyPatch):
    import threading

    p = promoted
    first = load_predictor(p.promote.dir).tag
    monkeypatch.setattr(promote_stage, "is_better", lambda *a, **k: True)
    second = promote_stage.run_promote(p).tag
    releases = {tag: p.promote.releases_dir / tag for tag in (first, second)}
    errors: list[BaseException] = []
    start = threading.Barrier(2)

    def publish_many(tag: str) -> None:
        start.wait()
        for _ in range(40):
            try:
                promote_stage.swap_link(p.promote.dir, releases[tag])
                promote_stage.write_json_atomic(p.promote.releases_dir / promote_stage.HISTORY_FILE, [tag])
            except BaseException as exc:  # collected: the assertion below names them
                errors.append(exc)
        try:
            promote_stage.publish(p, releases[tag], [first, second] if tag == second else [first])
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=publish_many, args=(tag,)) for tag in releases]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors[:3]
    assert p.promote.dir.is_symlink() and p.promote.dir.resolve().name in releases
    assert _served_everywhere(p) in releases  # symlink, history and store agree on one of them
    assert not [f for f in p.promote.dir.parent.iterdir() if f.name.endswith(".tmp")]


def test_the_unfamiliar_media_test_is_fitted_on_every_dataset_the_model_trained_on():
    """A 5% source (FF++ beside DFDC) must not be a handful of the embedding sample: the model trained
    on it at train.augment.min_dataset_share of each epoch, and a sample without it flagged 25 of the
    40 FF++ clips it trained on as unfamiliar (docs/models.md). Paths stay distinct and seeded."""
    rows = pd.DataFrame({"path": [f"dfdc/{i}.jpg" for i in range(950)] + [f"ffpp/{i}.jpg" for i in range(50)]}).assign(
        dataset=lambda d: d["path"].str.split("/").str[0]
    )
    paths = promote_stage.sample_paths(rows, 200, seed=0, min_dataset_share=0.2)
    assert len(paths) == len(set(paths)) == 200
    assert sum(p.startswith("ffpp/") for p in paths) == 40  # 20% of the sample, not ~5%
    assert paths == promote_stage.sample_paths(rows, 200, seed=0, min_dataset_share=0.2)
    small = promote_stage.sample_paths(rows, 600, seed=0, min_dataset_share=0.2)
    assert sum(p.startswith("ffpp/") for p in small) == 50 and len(small) == 600  # all it has; DFDC fills the rest
    plain = promote_stage.sample_paths(rows, 200, seed=0)
    assert sum(p.startswith("ffpp/") for p in plain) < 25  # no share asked: a plain draw
