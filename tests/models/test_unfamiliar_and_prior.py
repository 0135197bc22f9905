"""A promoted model says when media is unlike its training data (the OOD test fitted at promotion),
and shifts P(FAKE) to the deployment's base rate (serve.prior_fake / --prior-fake) without changing a
verdict; both reach the score answer and the request log."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from deepfake_detect.config import Params
from deepfake_detect.models.dataset import load_split
from deepfake_detect.models.predictor import ModelLoadError, load_predictor
from deepfake_detect.pipeline import promote as promote_stage
from deepfake_detect.pipeline.evaluate import run_evaluate
from deepfake_detect.pipeline.train import run_train
from deepfake_detect.scoring.recorder import Recorder
from deepfake_detect.scoring.requestlog import RequestLog, read_request_log
from deepfake_detect.scoring.scorer import local_scorer


def _promote(tmp_path: Path, make_params, split_manifest: Path) -> Params:
    p = make_params(tmp_path, split_manifest)
    run_train(p, "sklearn_fft")
    run_evaluate(p)
    assert promote_stage.run_promote(p).promoted
    return p


def _write(folder: Path, images: list[np.ndarray]) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, img in enumerate(images):
        paths.append(folder / f"{i}.png")
        cv2.imwrite(str(paths[-1]), cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
    return paths


def test_faces_like_the_training_ones_pass_and_noise_is_flagged_unfamiliar(
    split_manifest, tmp_path, make_params, bento_home
):
    p = _promote(tmp_path, make_params, split_manifest)
    model = load_predictor(p.promote.dir)
    ood = model.record.ood
    assert ood is not None and ood.quantile == p.promote.ood_quantile and ood.threshold > 0
    log = RequestLog(tmp_path / "requests")
    as_trained = p.model_copy(
        update={"extract": p.extract.model_copy(update={"crop_size": 48})}
    )  # the split's crop side
    scorer = local_scorer(as_trained, model, Recorder(as_trained, log))
    familiar = load_split(split_manifest, "test")["path"].tolist()[:8]
    rng = np.random.default_rng(0)
    noise = _write(tmp_path / "noise", [rng.integers(0, 256, (48, 48, 3), dtype=np.uint8) for _ in range(4)])
    results = scorer.score_images([*familiar, *noise], crop=True)
    known, odd = results[: len(familiar)], results[len(familiar) :]
    assert sum(r.unfamiliar for r in known) <= 1, [r.frames[0].faces[0].ood_score for r in known]
    assert all(r.unfamiliar for r in odd), [r.frames[0].faces[0].ood_score for r in odd]
    face = odd[0].frames[0].faces[0]
    assert face.unfamiliar is True and face.ood_score > ood.threshold and odd[0].unfamiliar_share == 1.0
    log.close()
    logged = read_request_log(tmp_path / "requests")  # drift can read it from the request log
    logged = logged[logged["unfamiliar"].fillna(False).astype(bool)]
    assert len(logged) >= 4 and (logged["ood_score"] > ood.threshold).all()


def test_prior_fake_shifts_probabilities_and_threshold_together(split_manifest, tmp_path, make_params, bento_home):
    p = _promote(tmp_path, make_params, split_manifest)
    served, rare = load_predictor(p.promote.dir), load_predictor(p.promote.dir, prior_fake=0.05)
    base = served.calibration.base_rate
    assert base == pytest.approx(0.5)  # the tiny val split is balanced
    crops = [cv2.imread(x)[..., ::-1] for x in load_split(split_manifest, "test")["path"]]
    p0, p1 = served.predict(crops), rare.predict(crops)
    assert (p1 <= p0 + 1e-6).all()  # float32: the tiny model saturates near 0 and 1
    assert rare.threshold < served.threshold, (rare.threshold, served.threshold)
    assert ((p1 >= rare.threshold) == (p0 >= served.threshold)).all()  # the same verdicts
    inside = (p0 > 0.01) & (p0 < 0.99)  # float32 saturates at the ends
    odds = (p1[inside] / (1 - p1[inside])) / (p0[inside] / (1 - p0[inside]))
    assert not inside.any() or odds == pytest.approx(np.full_like(odds, (0.05 / 0.95) / (base / (1 - base))), rel=1e-3)


def test_a_prior_on_a_model_without_a_base_rate_is_refused(split_manifest, tmp_path, make_params):
    p = make_params(tmp_path, split_manifest)
    run_train(p, "sklearn_fft")  # trained, never evaluated: no calibration, no base rate
    with pytest.raises(ModelLoadError, match="base rate"):
        load_predictor(p.train.models_dir / "sklearn_fft", prior_fake=0.1)


def test_the_served_embedding_is_wide_enough_to_see_a_shift_past_the_main_components(repo_root: Path):
    """Faces of another dataset differ from the training faces in directions of little variance (camera,
    compression), not in the main ones (pose, light): a DFDC-only Lite0 flagged 0% of FF++ clips with a
    16-d projection and 24% with 64-d (docs/models.md). Synthetic pooled features of 256 dims: 16 strong
    directions, 48 weak ones in which the other dataset is shifted, and noise."""
    from deepfake_detect.config import load_params
    from deepfake_detect.models.predictor import project
    from deepfake_detect.release.ood import fit_embedding

    p = load_params(repo_root / "params.yaml").promote
    rng = np.random.default_rng(0)
    scale = np.r_[np.full(16, 10.0), np.full(48, 1.0), np.full(192, 0.1)]

    def faces(n: int, shift: float = 0.0) -> np.ndarray:
        return rng.normal(size=(n, 256)) * scale + np.r_[np.zeros(16), np.full(48, shift), np.zeros(192)]

    train, val, same, other = faces(p.embedding_samples), faces(512), faces(400), faces(400, shift=1.0)

    def flagged(components: int) -> tuple[float, float]:
        projection, ood = fit_embedding(train, val, components, p.ood_quantile)
        share = [float(np.mean(ood.score(project(projection, x)) > ood.threshold)) for x in (same, other)]
        return share[0], share[1]

    assert flagged(16)[1] < 0.1  # the main directions alone cannot see it
    same_share, other_share = flagged(p.embedding_components)
    assert same_share < 0.05 and other_share > 0.5
