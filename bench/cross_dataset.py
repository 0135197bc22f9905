"""Does a training choice generalise? Train EfficientNet-Lite0 on ONE dataset, test on the OTHER.

Each variant trains on the training rows of ``--train-on`` (default ``dfdc``) of a split manifest
made from several sources (``dvc repro`` with ``data.raw_dir=../shared/data``), then is scored:

  in-dataset   the test split of the training dataset: frame AUC, log loss (calibration and
               threshold fitted on that dataset's val split, as evaluate does)
  cross        every row of each other dataset (never seen in this training): frame AUC, video
               AUC (the serving rule: fakest deciding person), and the share of REAL videos called
               FAKE at the threshold the release would serve (promote.serve_threshold): the failure
               a trust-and-safety team cannot live with

Variants change only ``train.augment`` (all else is params.yaml, with a shorter schedule):

  light     the old recipe: flip + brightness/contrast, no platform augmentation, no pseudo-fakes
  platform  + downscale-upscale, JPEG, blur, noise (what platforms do to video)
  sbi       + self-blended pseudo-fakes on the fly, no platform augmentation
  both      platform augmentation and pseudo-fakes (params.yaml)

    python bench/cross_dataset.py --manifest data/split/manifest.csv --variants light,both --out reports/bench/cross.csv

Each variant appends a row to ``--out`` as soon as it finishes; the table is printed at the end.
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
OFF = {"downscale_prob": 0.0, "jpeg_prob": 0.0, "blur_prob": 0.0, "noise_prob": 0.0}
VARIANTS = {
    "light": {**OFF, "self_blend": 0.0},
    "platform": {"self_blend": 0.0},
    "sbi": OFF,
    "both": {},
}


def _auc(y: np.ndarray, p: np.ndarray) -> float:
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(y, p)) if len(np.unique(y)) == 2 else float("nan")


def run_variant(
    variant: str, manifest: Path, root: Path, train_on: str, out_dir: Path, epochs: int, steps: int
) -> dict:
    from deepfake_detect.config import load_params
    from deepfake_detect.models import efficientnet_lite0
    from deepfake_detect.models.dataset import load_split
    from deepfake_detect.models.predictor import load_predictor
    from deepfake_detect.pipeline.evaluate import evaluate_probs, score_split
    from deepfake_detect.release.gate import served_threshold
    from deepfake_detect.release.metrics import video_scores

    p = load_params(ROOT / "params.yaml")
    cfg = p.train.efficientnet_lite0.model_copy(update={"epochs": epochs, "steps_per_epoch": steps})
    aug = p.train.augment.model_copy(update=VARIANTS[variant])
    split = {s: load_split(manifest, s, root) for s in ("train", "val", "test")}
    every = pd.concat(split.values(), ignore_index=True)
    mine = {s: df[df["dataset"] == train_on].reset_index(drop=True) for s, df in split.items()}
    start = time.perf_counter()
    efficientnet_lite0.train(mine["train"], mine["val"], cfg, aug, out_dir / "model", out_dir / "c.csv", seed=p.seed)
    minutes = (time.perf_counter() - start) / 60
    pred = load_predictor(out_dir / "model")
    row: dict = {"variant": variant, "train_on": train_on, "train_minutes": round(minutes, 1)}
    val_test = pd.concat([mine["val"], mine["test"]], ignore_index=True)
    raw = score_split({"m": pred}, val_test, p.evaluate.batch_size, f"{variant} {train_on}").probs["m"]
    n_val = len(mine["val"])
    m = evaluate_probs(pred.record, mine["val"], raw[:n_val], mine["test"], raw[n_val:], p.evaluate, p.seed)
    row.update({f"{train_on}_auc": m.frame.auc, f"{train_on}_log_loss": m.frame.log_loss})
    calibration = m.calibration
    threshold = served_threshold(m, p.promote.serve_threshold)  # what the release would serve
    for other in sorted(set(every["dataset"]) - {train_on}):
        rows = every[every["dataset"] == other].reset_index(drop=True)
        prob = calibration.apply(score_split({"m": pred}, rows, p.evaluate.batch_size, other).probs["m"])
        videos = video_scores(rows.assign(prob=prob), p.evaluate.clip, p.evaluate.video_aggregation, 0.25)
        real = videos["y"] == 0
        row.update(
            {
                f"{other}_frame_auc": _auc(rows["y"].to_numpy(), prob),
                f"{other}_video_auc": _auc(videos["y"].to_numpy(), videos["prob"].to_numpy()),
                f"{other}_real_videos_called_fake": float((videos.loc[real, "prob"] >= threshold).mean()),
                f"{other}_videos": f"{int(real.sum())} REAL / {int((~real).sum())} FAKE",
            }
        )
    return row


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--manifest", type=Path, required=True, help="split manifest of a run over several datasets")
    ap.add_argument("--root", type=Path, default=Path("."), help="the project the manifest's relative paths start from")
    ap.add_argument("--train-on", default="dfdc", help="the dataset trained on (manifest column dataset)")
    ap.add_argument("--variants", default=",".join(VARIANTS), help="comma-separated, of: " + ", ".join(VARIANTS))
    ap.add_argument("--epochs", type=int, default=3, help="fine-tuning epochs per variant (after the head warm-up)")
    ap.add_argument("--steps", type=int, default=60, help="steps per epoch")
    ap.add_argument("--out", type=Path, default=Path("reports/bench/cross_dataset.csv"))
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    variants = args.variants.split(",")
    unknown = sorted(set(variants) - set(VARIANTS))
    if unknown:
        ap.error(f"unknown variant(s) {', '.join(unknown)}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    for variant in variants:
        with tempfile.TemporaryDirectory(prefix=f"cross-{variant}-") as tmp:
            row = run_variant(variant, args.manifest, args.root, args.train_on, Path(tmp), args.epochs, args.steps)
        print(pd.DataFrame([row]).to_string(index=False), flush=True)
        pd.DataFrame([row]).to_csv(args.out, mode="a", header=not args.out.exists(), index=False)
    print(pd.read_csv(args.out).to_markdown(index=False, floatfmt=".3f"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
