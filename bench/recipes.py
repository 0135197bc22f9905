"""Which EfficientNet-Lite0 recipe: each training choice of ``train.efficientnet_lite0`` measured
against the plain recipe, on the same leak-free split, scored on the test split exactly as the
evaluate stage scores (calibration fitted on val, threshold from val).

The split manifest must keep the whole training side (``balance.strategy: none``) so that
"one fixed undersample" and "fakes drawn afresh each epoch" see the same crops. Variants:

  plain         one fixed undersample, no warm-up, constant Adam 3e-4, 5 epochs (the issue's baseline)
  undersampled  recipe, but one fixed undersample instead of pairs drawn afresh each epoch
  resampled     recipe, but a fresh balanced draw of the FAKE crops every epoch instead of pairs
  recipe        params.yaml as it stands (pairs + head warm-up + cosine decay + early stopping)
  self_blend    recipe, with half the pair partners self-blended pseudo-fakes made on the fly
  size224       recipe at 224 px

Each variant appends one row to ``--out`` (CSV) as soon as it finishes, so a long run can be read
while it goes on.

    python bench/recipes.py --manifest data/split/manifest.csv --variants plain,undersampled --out reports/recipes.csv
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
AUGMENT = {"self_blend": {"self_blend": 0.5}}  # train.augment changes per variant (else self_blend 0)
VARIANTS = {
    "plain": {"sampling": "as_split", "warmup_epochs": 0, "lr_schedule": "constant", "epochs": 5},
    "undersampled": {"sampling": "as_split"},
    "resampled": {"sampling": "balanced"},
    "recipe": {},
    "self_blend": {},  # train.augment.self_blend = 0.5 (AUGMENT below)
    "size224": {"input_size": 224},
}


def train_rows(train: pd.DataFrame, variant: str, seed: int) -> pd.DataFrame:
    """The training rows a variant sees: a fixed undersample for ``plain`` and ``undersampled``,
    the whole training side otherwise."""
    from deepfake_detect.pipeline.balance import undersample

    if variant in ("plain", "undersampled"):
        return undersample(train, np.random.default_rng(seed)).reset_index(drop=True)
    return train


def run_variant(variant: str, manifest: Path, out_dir: Path) -> dict:
    from deepfake_detect.config import load_params
    from deepfake_detect.models import efficientnet_lite0
    from deepfake_detect.models.dataset import load_split
    from deepfake_detect.models.predictor import load_predictor
    from deepfake_detect.pipeline.evaluate import evaluate_probs, score_split

    p = load_params(ROOT / "params.yaml")
    cfg = p.train.efficientnet_lite0.model_copy(update=VARIANTS[variant])
    train, val, test = (load_split(manifest, s) for s in ("train", "val", "test"))
    rows = train_rows(train, variant, p.seed)
    aug = p.train.augment.model_copy(update={"self_blend": 0.0, **AUGMENT.get(variant, {})})
    start = time.perf_counter()
    efficientnet_lite0.train(rows, val, cfg, aug, out_dir / "model", out_dir / "curves.csv", seed=p.seed)
    seconds = time.perf_counter() - start
    pred = load_predictor(out_dir / "model")
    probs = score_split({"m": pred}, pd.concat([val, test]), p.evaluate.batch_size, variant).probs["m"]
    m = evaluate_probs(pred.record, val, probs[: len(val)], test, probs[len(val) :], p.evaluate, p.seed)
    curves = pd.read_csv(out_dir / "curves.csv")
    return {
        "variant": variant,
        "auc": m.frame.auc,
        "log_loss": m.frame.log_loss,
        "ece": m.calibration_quality.ece,
        "balanced_accuracy": m.frame.balanced_accuracy,
        "recall_at_fpr": m.operating_point.test_recall,
        "test_fpr": m.operating_point.test_fpr,
        "train_auc_last": float(curves["auc"].iloc[-1]),
        "epochs_run": len(curves),
        "train_rows": len(rows),
        "train_minutes": round(seconds / 60, 1),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--manifest", type=Path, required=True, help="split manifest with the whole training side")
    ap.add_argument("--variants", default=",".join(VARIANTS), help="comma-separated, of: " + ", ".join(VARIANTS))
    ap.add_argument("--out", type=Path, default=Path("reports/bench/recipes.csv"))
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    variants = args.variants.split(",")
    unknown = sorted(set(variants) - set(VARIANTS))
    if unknown:
        ap.error(f"unknown variant(s) {', '.join(unknown)}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    for variant in variants:
        with tempfile.TemporaryDirectory(prefix=f"recipe-{variant}-") as tmp:
            row = run_variant(variant, args.manifest, Path(tmp))
        print(pd.DataFrame([row]).to_string(index=False), flush=True)
        pd.DataFrame([row]).to_csv(args.out, mode="a", header=not args.out.exists(), index=False)
    print(pd.read_csv(args.out).to_markdown(index=False, floatfmt=".3f"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
