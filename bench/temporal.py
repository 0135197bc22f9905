"""Temporal head vs frame aggregation: which scores a whole video better, on the same clips?

Every clip face of a split manifest (rows with a frame number: DFDC and FaceForensics++ clips, not the
ready crops) is scored once by a released model (``--model``, e.g. models/promoted): calibrated P(FAKE)
and the compact embedding. Then, per video (the serving rule: the fakest deciding person):

  aggregation   each person's frames pooled by evaluate's rule (``evaluate.video_aggregation``)
  temporal      each person's track read by the GRU head (models/temporal.py, ``temporal`` in
                params.yaml), trained on the other folds' tracks

``temporal.folds`` grouped folds (a person's clips never in two folds; groups from the manifest) give
every video an out-of-fold score, so all clips are test clips; and a second comparison uses the
manifest's own split (head trained on train + val tracks, scored on test). Video AUC with a 95%
bootstrap interval over videos, log loss and balanced accuracy at 0.5, per method; a Markdown table
and JSON (``--out``).

    python bench/temporal.py --model models/promoted --manifest data/split/manifest.csv --out temporal.json
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]


def score_faces(rows: pd.DataFrame, model_dir: Path, batch: int) -> tuple[np.ndarray, np.ndarray]:
    """Calibrated P(FAKE) and compact embedding of every row's crop, as the service scores them."""
    from deepfake_detect.media.images import read_rgb, resize_batch
    from deepfake_detect.models.predictor import load_predictor

    model = load_predictor(model_dir)
    probs, embs = [], []
    for start in range(0, len(rows), batch):
        crops = [read_rgb(p) for p in rows["path"].iloc[start : start + batch]]
        p, e = model.score(resize_batch(crops, model.input_size))
        probs.append(p)
        embs.append(e)
    return np.concatenate(probs), np.concatenate(embs)


def video_scores(tracks, person_probs: np.ndarray, rows: pd.DataFrame, probs: np.ndarray, params) -> pd.DataFrame:
    """Per video: the label, the aggregation rule's score, and the head's (same deciding persons)."""
    from deepfake_detect.models.aggregate import clip_probability, people_scores

    ev = params.evaluate
    head = {(v, p): s for v, p, s in zip(tracks.videos, tracks.persons, person_probs, strict=True)}
    out = []
    for video, g in rows.groupby("video"):
        idx = g.index.to_numpy()
        people = people_scores(
            probs[idx],
            g["person"].to_numpy(),
            g["frame"].to_numpy(),
            ev.clip,
            ev.video_aggregation,
            ev.person_min_share,
        )
        deciding = [p for p in people if p.deciding]
        out.append(
            {
                "video": video,
                "dataset": g["dataset"].iloc[0],
                "y": int(g["label"].iloc[0] == "FAKE"),
                "aggregation": clip_probability(people),
                "temporal": max(float(head[(video, p.person)]) for p in deciding) if head else float("nan"),
            }
        )
    return pd.DataFrame(out)


def compare(videos: pd.DataFrame, params, where: str) -> list[dict]:
    from deepfake_detect.release.metrics import binary_metrics, bootstrap_intervals

    ev, rows = params.evaluate, []
    for method in ("aggregation", "temporal"):
        y, p = videos["y"].to_numpy(), videos[method].to_numpy()
        m = binary_metrics(y, p, 0.5, ev.clip, where)
        m = bootstrap_intervals(m, y, p, videos["video"].to_numpy(), ev.clip, ev.bootstrap_resamples, params.seed)
        auc_lo, auc_hi = (m.intervals["auc"].low, m.intervals["auc"].high) if m.intervals else (np.nan, np.nan)
        rows.append(
            {
                "comparison": where,
                "method": method,
                "videos": f"{int((y == 0).sum())} REAL / {int(y.sum())} FAKE",
                "video_auc": round(m.auc, 3),
                "auc_95": f"[{auc_lo:.2f}, {auc_hi:.2f}]",
                "log_loss": round(m.log_loss, 3),
                "balanced_accuracy": round(m.balanced_accuracy, 3),
            }
        )
    return rows


def run(model_dir: Path, manifest: Path, root: Path, params, batch: int = 64) -> list[dict]:
    from sklearn.model_selection import GroupKFold

    from deepfake_detect.models.temporal import fit_head, frame_features, person_tracks

    df = pd.read_csv(manifest)
    rows = df[df["frame"] >= 0].reset_index(drop=True)
    if rows.empty:
        raise SystemExit(f"{manifest}: no clip rows (frame >= 0): the temporal head needs video sources")
    rows["path"] = [str(p if Path(p).is_absolute() else root / p) for p in rows["path"]]
    t = time.perf_counter()
    probs, embs = score_faces(rows, model_dir, batch)
    logging.info(
        "scored %d clip faces of %d videos in %.0f s", len(rows), rows["video"].nunique(), time.perf_counter() - t
    )
    tp = params.temporal
    tracks = person_tracks(rows, frame_features(probs, embs, params.evaluate.clip), tp.max_frames)
    # out-of-fold: every track scored by a head that never saw its person
    oof = np.full(len(tracks), np.nan, np.float32)
    folds = GroupKFold(n_splits=min(tp.folds, len(set(tracks.groups.tolist()))))
    for k, (fit_idx, held_idx) in enumerate(folds.split(tracks.features, tracks.labels, tracks.groups)):
        head = fit_head(tracks.take(fit_idx), tp, params.seed + k)
        oof[held_idx] = head.predict(tracks.take(held_idx))
    result = compare(video_scores(tracks, oof, rows, probs, params), params, "cross-validated (all clips)")
    # the manifest's own split: fit on train + val tracks, score the test tracks
    split_of = dict(zip(rows["video"], rows["split"], strict=False))
    test = np.array([split_of[v] == "test" for v in tracks.videos])
    test_rows = rows[rows["split"] == "test"]
    if test.any() and test_rows["label"].nunique() == 2:
        head = fit_head(tracks.take(np.flatnonzero(~test)), tp, params.seed)
        test_tracks = tracks.take(np.flatnonzero(test))
        videos = video_scores(test_tracks, head.predict(test_tracks), test_rows, probs, params)
        result += compare(videos, params, "test split")
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", type=Path, required=True, help="a released model folder (models/promoted)")
    ap.add_argument("--manifest", type=Path, required=True, help="split manifest with clip rows")
    ap.add_argument("--root", type=Path, default=Path("."), help="folder the manifest's paths are relative to")
    ap.add_argument("--params", type=Path, default=ROOT / "params.yaml")
    ap.add_argument("--epochs", type=int, help="override temporal.epochs (tiny runs)")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "temporal.json")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    from deepfake_detect.config import load_params

    params = load_params(args.params)
    if args.epochs:
        params = params.model_copy(update={"temporal": params.temporal.model_copy(update={"epochs": args.epochs})})
    t = time.perf_counter()
    result = run(args.model, args.manifest, args.root, params)
    print(pd.DataFrame(result).to_markdown(index=False))
    print(f"\n({time.perf_counter() - t:.0f} s)")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
