"""Heavier compression than any training clip is unfamiliar media too: a release records the bits per
pixel of its training clips (fitted at promotion), and a clip carrying fewer than that floor is
flagged "unlike the training data" with the reason ``compression``, whatever its faces' embeddings say
(at CRF 40 they stay near the training ones, so the embedding test alone never fires: docs/models.md)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from deepfake_detect.cli.main import app
from deepfake_detect.config import Params
from deepfake_detect.contracts.unfamiliar import CompressionFit
from deepfake_detect.media.codec import CLIP_CRF, write_clip
from deepfake_detect.media.video import decode_all_frames, probe
from deepfake_detect.models.predictor import load_predictor
from deepfake_detect.pipeline.evaluate import run_evaluate
from deepfake_detect.pipeline.promote import run_promote
from deepfake_detect.pipeline.train import run_train
from deepfake_detect.release.ood import fit_compression
from deepfake_detect.scoring.recorder import Recorder
from deepfake_detect.scoring.requestlog import RequestLog, read_request_log
from deepfake_detect.scoring.scorer import local_scorer


def _frames(clip: Path) -> list[np.ndarray]:
    return [rgb for _, rgb in decode_all_frames(clip)]


def test_bits_per_pixel_falls_as_the_same_frames_are_compressed_harder(tiny_sample: Path, tmp_path: Path):
    frames = _frames(sorted(tiny_sample.glob("*.mp4"))[0])
    light = probe(write_clip(tmp_path / "light.mp4", frames, fps=10, crf=CLIP_CRF))
    heavy = probe(write_clip(tmp_path / "heavy.mp4", frames, fps=10, crf=45))
    assert light.bit_rate and heavy.bit_rate
    assert light.bits_per_pixel == pytest.approx(light.bit_rate / (light.width * light.height * light.fps))
    assert heavy.bits_per_pixel < 0.5 * light.bits_per_pixel, (heavy.bits_per_pixel, light.bits_per_pixel)


def test_the_floor_is_a_quantile_of_the_training_clips_and_only_clips_below_it_are_flagged():
    fit = fit_compression([0.04, 0.05, 0.06, 0.08, 0.02], quantile=0.2)
    assert fit is not None and fit.n_clips == 5 and fit.quantile == 0.2
    assert fit.floor == pytest.approx(float(np.quantile([0.02, 0.04, 0.05, 0.06, 0.08], 0.2)))
    assert fit.too_compressed(0.005) is True and fit.too_compressed(0.05) is False
    assert fit.too_compressed(None) is None  # an image, or a header without a bit rate: not judged
    assert fit_compression([], quantile=0.2) is None  # trained on ready crops only: no clip to learn from
    with pytest.raises(ValueError, match="bits_per_pixel"):
        fit_compression([0.04, float("nan")], quantile=0.2)
    assert CompressionFit.model_validate_json(fit.model_dump_json()) == fit


def _raw_clips_for_the_split(p: Params, manifest: Path, sample: Path, raw: Path) -> dict[str, float]:
    """A DFDC-layout raw folder holding a clip (the sample's frames at CLIP_CRF) for every video of the
    split manifest: what extract would have cut the crops from. Returns the train clips' bits per pixel."""
    rows = pd.read_csv(manifest)
    sources = sorted(sample.glob("*.mp4"))
    meta, bpp = {}, {}
    for i, (video, label, group, split) in enumerate(
        rows[["video", "label", "group", "split"]].drop_duplicates("video").itertuples(index=False)
    ):
        clip = write_clip(raw / video, _frames(sources[i % len(sources)]), fps=10)
        meta[video] = {"label": label, **({"original": group} if label == "FAKE" else {})}
        if split == "train":
            bpp[video] = probe(clip).bits_per_pixel
    (raw / "metadata.json").write_text(json.dumps(meta))
    return bpp


def test_a_release_flags_a_clip_compressed_past_its_training_clips(
    split_manifest: Path, tmp_path: Path, make_params, bento_home, tiny_sample: Path, caplog
):
    raw = tmp_path / "raw"
    p = make_params(tmp_path, split_manifest)
    p = p.model_copy(update={"data": p.data.model_copy(update={"raw_dir": raw})})
    train_bpp = _raw_clips_for_the_split(p, split_manifest, tiny_sample, raw)
    run_train(p, "sklearn_fft")
    run_evaluate(p)
    assert run_promote(p).promoted

    model = load_predictor(p.promote.dir)
    fit = model.record.compression
    assert fit is not None and fit.n_clips == len(train_bpp) and fit.quantile == p.promote.compression_quantile
    assert fit.floor == pytest.approx(float(np.quantile(list(train_bpp.values()), fit.quantile)), rel=1e-6)

    richest = max(train_bpp, key=train_bpp.get)  # a training clip as it was: at or above the floor
    frames = _frames(raw / richest)
    crushed = write_clip(tmp_path / f"crushed_{richest}", frames, fps=10, crf=51)
    log = RequestLog(tmp_path / "requests")
    scorer = local_scorer(p, model, Recorder(p, log))
    kept, heavy = scorer.score_video(raw / richest), scorer.score_video(crushed)
    log.close()
    assert heavy.media.bits_per_pixel < fit.floor <= kept.media.bits_per_pixel
    assert heavy.unfamiliar is True and "compression" in heavy.unfamiliar_reasons
    assert "compression" not in kept.unfamiliar_reasons
    assert kept.unfamiliar is bool(kept.unfamiliar_reasons)
    logged = read_request_log(tmp_path / "requests")  # monitoring can count compressed traffic
    assert heavy.faces_found and kept.faces_found, "the sample's faces are found in both clips"
    by_file = logged.groupby("file")["too_compressed"].agg(set).to_dict()
    assert by_file == {richest: {False}, crushed.name: {True}}
    assert set(logged["bits_per_pixel"].round(6)) == {heavy.media.bits_per_pixel, kept.media.bits_per_pixel}

    shown = CliRunner().invoke(app, ["score", str(crushed), "--model-dir", str(p.promote.dir)], env={"COLUMNS": "300"})
    assert shown.exit_code == 0, shown.output[-2000:]
    assert "compressed harder than the training clips" in " ".join(shown.output.split())  # the summary says why


def test_a_release_without_its_training_clips_has_no_compression_test_and_says_why(
    split_manifest: Path, tmp_path: Path, make_params, bento_home, caplog
):
    p = make_params(tmp_path, split_manifest)
    p = p.model_copy(update={"data": p.data.model_copy(update={"raw_dir": tmp_path / "moved_away"})})
    run_train(p, "sklearn_fft")
    run_evaluate(p)
    with caplog.at_level("WARNING"):
        assert run_promote(p).promoted
    assert load_predictor(p.promote.dir).record.compression is None
    assert any("moved_away" in r.getMessage() and "compression" in r.getMessage() for r in caplog.records)
