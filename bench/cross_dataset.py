"""Does a training choice generalise? Train EfficientNet-Lite0 on ONE dataset, test on the OTHER.

Each variant trains on the training rows of ``--train-on`` (default ``dfdc``; several datasets:
``dfdc,ffpp``) of a split manifest made from several sources (``dvc repro`` with
``data.raw_dir=../shared/data``), then is scored:

  in-dataset   the test split of the training dataset: frame AUC, log loss (calibration and
               threshold fitted on that dataset's val split, as evaluate does)
  cross        every row of each other dataset (never seen in this training): frame AUC, video
               AUC (the serving rule: fakest deciding person), and the share of REAL videos called
               FAKE at the threshold the release would serve (promote.serve_threshold): the failure
               a trust-and-safety team cannot live with
  unfamiliar   per dataset (its test split if trained on, else every row), the share of videos the
               unfamiliar-media test flags (most of their faces past its threshold), fitted as promote
               fits it: on the training datasets' train crops, its threshold from their val crops

Variants change ``train.augment`` or one setting of the model (all else is params.yaml, with a
shorter schedule):

  light      the old recipe: flip + brightness/contrast, no platform augmentation, no pseudo-fakes
  platform   + downscale-upscale, JPEG, blur, noise (what platforms do to video)
  sbi        + self-blended pseudo-fakes on the fly, no platform augmentation
  both       platform augmentation and pseudo-fakes (params.yaml)
  whole_net  both, fine-tuning the whole network (``freeze_blocks: 0``; params.yaml keeps the stem
             and the first blocks at ImageNet weights, which trains faster: compare at equal time
             by giving the faster variant more ``--steps``)

    python bench/cross_dataset.py --manifest data/split/manifest.csv --variants light,both --out reports/bench/cross.csv
    python bench/cross_dataset.py --manifest data/split/manifest.csv --train-on dfdc,ffpp --variants both

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
OFF = {"downscale_prob": 0.0, "jpeg_prob": 0.0, "h264_prob": 0.0, "blur_prob": 0.0, "noise_prob": 0.0}
VARIANTS = {  # train.augment changes
    "light": {**OFF, "self_blend": 0.0},
    "platform": {"self_blend": 0.0},
    "sbi": OFF,
    "both": {},
    "whole_net": {},
}
MODEL = {"whole_net": {"freeze_blocks": 0}}  # train.efficientnet_lite0 changes


def _auc(y: np.ndarray, p: np.ndarray) -> float:
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(y, p)) if len(np.unique(y)) == 2 else float("nan")


def score_crops(pred, paths: list[str], batch: int, label: str) -> tuple[np.ndarray, np.ndarray]:
    """Served P(FAKE) and embedding of every crop at ``paths``: one forward pass per batch of files."""
    from tqdm import tqdm

    from deepfake_detect.media.images import read_rgb

    starts = tqdm(range(0, len(paths), batch), desc=f"score {label}", unit="batch")
    parts = [pred.score([read_rgb(x) for x in paths[i : i + batch]], batch) for i in starts]
    return np.concatenate([prob for prob, _ in parts]), np.concatenate([emb for _, emb in parts])


def run_variant(
    variant: str, manifest: Path, root: Path, train_on: list[str], out_dir: Path, epochs: int, steps: int
) -> dict:
    from deepfake_detect.config import load_params
    from deepfake_detect.models import efficientnet_lite0
    from deepfake_detect.models.dataset import load_split
    from deepfake_detect.models.predictor import load_predictor
    from deepfake_detect.pipeline.evaluate import evaluate_probs, score_split
    from deepfake_detect.pipeline.promote import pooled_features, sample_paths
    from deepfake_detect.release.gate import served_threshold
    from deepfake_detect.release.metrics import video_scores
    from deepfake_detect.release.ood import fit_embedding

    p = load_params(ROOT / "params.yaml")
    cfg = p.train.efficientnet_lite0.model_copy(
        update={"epochs": epochs, "steps_per_epoch": steps, **MODEL.get(variant, {})}
    )
    aug = p.train.augment.model_copy(update=VARIANTS[variant])
    split = {s: load_split(manifest, s, root) for s in ("train", "val", "test")}
    mine = {s: df[df["dataset"].isin(train_on)].reset_index(drop=True) for s, df in split.items()}
    start = time.perf_counter()
    efficientnet_lite0.train(mine["train"], mine["val"], cfg, aug, out_dir / "model", out_dir / "c.csv", seed=p.seed)
    minutes = (time.perf_counter() - start) / 60
    pred = load_predictor(out_dir / "model")
    name = "+".join(train_on)
    row: dict = {
        "variant": variant,
        "train_on": name,
        "steps": f"{epochs} x {steps}",
        "train_minutes": round(minutes, 1),
    }
    val_test = pd.concat([mine["val"], mine["test"]], ignore_index=True)
    raw = score_split({"m": pred}, val_test, p.evaluate.batch_size, f"{variant} {name}").probs["m"]
    n_val = len(mine["val"])
    m = evaluate_probs(pred.record, mine["val"], raw[:n_val], mine["test"], raw[n_val:], p.evaluate, p.seed)
    row.update({f"{name}_auc": m.frame.auc, f"{name}_log_loss": m.frame.log_loss})
    threshold = served_threshold(m, p.promote.serve_threshold)  # what the release would serve
    batch = p.evaluate.batch_size
    sample = {
        s: pooled_features(pred, sample_paths(mine[s], p.promote.embedding_samples, p.seed), batch)
        for s in ("train", "val")
    }
    projection, ood = fit_embedding(
        sample["train"], sample["val"], p.promote.embedding_components, p.promote.ood_quantile
    )
    pred.record = pred.record.model_copy(update={"calibration": m.calibration})  # as the release serves it
    pred.projection = projection
    every = pd.concat(split.values(), ignore_index=True)
    for dataset in sorted(set(every["dataset"])):
        seen = dataset in train_on  # a trained-on dataset is judged on its test split, another on every row
        rows = (split["test"] if seen else every).query("dataset == @dataset").reset_index(drop=True)
        prob, embedded = score_crops(pred, rows["path"].tolist(), batch, dataset)
        scored = rows.assign(prob=prob, unfamiliar=ood.score(embedded) > ood.threshold)
        videos = video_scores(scored, p.evaluate.clip, p.evaluate.video_aggregation, 0.25)
        real = videos["y"] == 0
        unfamiliar = scored.groupby("video")["unfamiliar"].mean() > 0.5  # as an answer flags it: most of its faces
        key = f"{dataset}_test" if seen else dataset
        if not seen:
            row[f"{key}_frame_auc"] = _auc(rows["y"].to_numpy(), prob)
        row.update(
            {
                f"{key}_video_auc": _auc(videos["y"].to_numpy(), videos["prob"].to_numpy()),
                f"{key}_real_videos_called_fake": float((videos.loc[real, "prob"] >= threshold).mean()),
                f"{key}_videos_unfamiliar": float(unfamiliar.mean()),
                f"{key}_videos": f"{int(real.sum())} REAL / {int((~real).sum())} FAKE",
            }
        )
    return row


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--manifest", type=Path, required=True, help="split manifest of a run over several datasets")
    ap.add_argument("--root", type=Path, default=Path("."), help="the project the manifest's relative paths start from")
    ap.add_argument(
        "--train-on", default="dfdc", help="the dataset(s) trained on (manifest column dataset), comma-separated"
    )
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
    train_on = args.train_on.split(",")
    for variant in variants:
        with tempfile.TemporaryDirectory(prefix=f"cross-{variant}-") as tmp:
            row = run_variant(variant, args.manifest, args.root, train_on, Path(tmp), args.epochs, args.steps)
        print(pd.DataFrame([row]).to_string(index=False), flush=True)
        earlier = [pd.read_csv(args.out)] if args.out.exists() else []  # rows of other datasets have other columns
        pd.concat([*earlier, pd.DataFrame([row])], ignore_index=True).to_csv(args.out, index=False)
    print(pd.read_csv(args.out).to_markdown(index=False, floatfmt=".3f"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
