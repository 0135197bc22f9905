"""Is an ensemble worth its cost: trained members against their combinations, on one split, in one run.

Each member scores val and test once; the combinations are made from those scores and judged as the
evaluate stage judges any model (calibration fitted on val, threshold from val, per dataset):

  <member>       each trained model alone
  ensemble       the ``ensemble`` family: mean of the members' calibrated logits (models/combine.py)
  mean_prob      naive: mean of the members' raw P(FAKE)
  stack          a logistic regression on the members' calibrated logits, fitted on val (the alternative
                 the issue names; its calibration and threshold then come from the same val rows)

Cost, measured in the same run on the same crops: inference img/s of each member's and the
ensemble's serving call (:meth:`Predictor.score`: P(FAKE) and embedding, batches of
``evaluate.batch_size``; the best of interleaved rounds), and training minutes (the members' records;
the ensemble's is their sum).

    python bench/ensemble.py --manifest data/split/manifest.csv --models models/trained \\
        --members efficientnet_lite0 sklearn_fft --out reports/bench/ensemble.csv
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]


def throughput(score, crops: np.ndarray, batch: int) -> float:
    """Crops per second of ``score`` over ``crops`` in batches (after one warm-up batch)."""
    score(crops[:batch])
    start = time.perf_counter()
    for i in range(0, len(crops), batch):
        score(crops[i : i + batch])
    return len(crops) / (time.perf_counter() - start)


def row(name: str, m, seconds: float, img_s: float) -> dict:
    """One line of the table: frame, video and per-dataset quality, calibration, cost."""
    out = {
        "model": name,
        "frame_auc": m.frame.auc,
        "frame_auc_95": f"{m.frame.intervals['auc'].low:.3f}-{m.frame.intervals['auc'].high:.3f}"
        if "auc" in m.frame.intervals
        else "",
        "video_auc": m.video.auc,
        "log_loss": m.calibration_quality.log_loss,
        "ece": m.calibration_quality.ece,
        "balanced_accuracy": m.frame.balanced_accuracy,
    }
    for ds, d in sorted(m.by_dataset.items()):
        out[f"{ds}_frame_auc"] = d.frame.auc if d.frame else float("nan")
        out[f"{ds}_video_auc"] = d.video.auc if d.video else float("nan")
    return {**out, "train_minutes": round(seconds / 60, 1), "img_s": round(img_s, 1)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--manifest", type=Path, required=True, help="split manifest (val and test are used)")
    ap.add_argument("--models", type=Path, required=True, help="folder of trained model folders")
    ap.add_argument("--members", nargs="+", required=True, help="two or more model folder names in --models")
    ap.add_argument("--root", type=Path, default=None, help="folder the manifest's relative paths start from")
    ap.add_argument("--speed-crops", type=int, default=256, help="crops timed per model (img/s)")
    ap.add_argument("--speed-rounds", type=int, default=3, help="timing rounds (img/s: the best round)")
    ap.add_argument("--out", type=Path, default=Path("reports/bench/ensemble.csv"))
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    from sklearn.linear_model import LogisticRegression

    from deepfake_detect.config import load_params
    from deepfake_detect.contracts.calibration import logit
    from deepfake_detect.media.images import read_rgb, resize_batch
    from deepfake_detect.models.combine import ensemble_record, mean_logit
    from deepfake_detect.models.dataset import load_split
    from deepfake_detect.models.predictor import EnsemblePredictor, load_predictor, read_record
    from deepfake_detect.pipeline.evaluate import evaluate_probs, score_split
    from deepfake_detect.release.members import calibrated

    p = load_params(ROOT / "params.yaml")
    ep = p.evaluate
    splits = {s: load_split(args.manifest, s) for s in ("val", "test")}
    if args.root is not None:
        for df in splits.values():
            df["path"] = [str(x if Path(x).is_absolute() else args.root / x) for x in df["path"]]
    val, test = splits["val"], splits["test"]
    members = {m: load_predictor(args.models / m) for m in args.members}
    raw = {s: score_split(members, df, ep.batch_size, s).probs for s, df in splits.items()}

    results, rows = {}, []
    for name, pred in members.items():
        results[name] = evaluate_probs(pred.record, val, raw["val"][name], test, raw["test"][name], ep, p.seed)
    cal = {s: [results[m].calibration.apply(raw[s][m]) for m in members] for s in raw}
    z = {s: np.stack([logit(c) for c in cal[s]], axis=1) for s in cal}
    stack = LogisticRegression().fit(z["val"], val["y"])
    combos = {
        "ensemble": {s: mean_logit(cal[s]) for s in raw},
        "mean_prob": {s: np.mean([raw[s][m] for m in members], axis=0) for s in raw},
        "stack": {s: stack.predict_proba(z[s])[:, 1] for s in raw},
    }
    ens_rec = ensemble_record(
        read_record(args.models / args.members[0]).model_copy(update={"name": "ensemble"}),
        [pred.record for pred in members.values()],
    )
    for name, probs in combos.items():
        results[name] = evaluate_probs(ens_rec, val, probs["val"], test, probs["test"], ep, p.seed)

    # cost: the serving call of each member and of the ensemble, on the same crops, in this run
    paths = test["path"].drop_duplicates().head(args.speed_crops).tolist()
    side = max(pred.input_size for pred in members.values())
    crops = resize_batch([read_rgb(x) for x in paths], side)
    ensemble = EnsemblePredictor(args.models, ens_rec, None, None, None, members=list(members.values()))
    ensemble = calibrated(ensemble, {m: results[m].calibration for m in members}, list(members))
    calls = {**{name: pred.score for name, pred in members.items()}, "ensemble": ensemble.score}
    speed = {name: 0.0 for name in calls}
    for _ in range(args.speed_rounds):  # interleaved rounds, the best of each: the least disturbed by other load
        for name, call in calls.items():
            speed[name] = max(speed[name], throughput(call, crops, ep.batch_size))
    for name, m in results.items():
        seconds = members[name].record.train_seconds if name in members else ens_rec.train_seconds
        rows.append(row(name, m, seconds, speed.get(name, speed["ensemble"])))
    table = pd.DataFrame(rows)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(args.out, index=False)
    print(f"{len(val)} val / {len(test)} test crops; stack weights {np.round(stack.coef_[0], 3).tolist()}")
    print(table.to_markdown(index=False, floatfmt=".3f"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
