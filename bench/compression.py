"""What does each kind of compression cost a model? Score one dataset's crops of the split as extracted
and after each transform a platform applies, in one run, through a model folder (a release or a trained
model), and print frame and video AUC side by side.

The transforms: H.264 at the crop's own size (what ``train.augment.h264_prob`` trains on), H.264 at a
fraction of its side and resized back (a face is smaller in a compressed frame than its crop:
``train.augment.h264_scale``), JPEG, and a downscale alone. Which of them reproduces the AUC served on
clips re-encoded at CRF 40 says which one a training augmentation should imitate (docs/models.md,
"Nor does encoding the crop at the face's size").

    python bench/compression.py --model-dir models/promoted --manifest data/split/manifest.csv --dataset ffpp
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from sklearn.metrics import roc_auc_score  # noqa: E402

from deepfake_detect.media.codec import h264_round_trip  # noqa: E402
from deepfake_detect.media.images import read_rgb  # noqa: E402
from deepfake_detect.models.predictor import load_predictor  # noqa: E402

Transform = Callable[[np.ndarray], np.ndarray]


def jpeg(rgb: np.ndarray, quality: int) -> np.ndarray:
    _, buf = cv2.imencode(".jpg", rgb[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, quality])
    return cv2.imdecode(buf, cv2.IMREAD_COLOR)[..., ::-1]


def down_up(rgb: np.ndarray, scale: float) -> np.ndarray:
    h, w = rgb.shape[:2]
    small = cv2.resize(rgb, (max(2, round(w * scale)), max(2, round(h * scale))), interpolation=cv2.INTER_AREA)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)


def transforms(crf: int, scale: float, quality: int) -> dict[str, Transform]:
    return {
        "as extracted": lambda c: c,
        f"h264 crf {crf}, crop size": lambda c: h264_round_trip(c, crf),
        f"h264 crf {crf}, {scale:g} of the side": lambda c: h264_round_trip(c, crf, scale=scale),
        f"jpeg quality {quality}": lambda c: jpeg(c, quality),
        f"downscale to {scale:g} alone": lambda c: down_up(c, scale),
    }


def auc(y: np.ndarray, p: np.ndarray) -> float | None:
    return float(roc_auc_score(y, p)) if len(set(y)) == 2 else None


def measure(model_dir: Path, rows: pd.DataFrame, crf: int, scale: float, quality: int) -> list[dict]:
    """Frame and video (mean of a clip's crops) AUC of the model on ``rows`` under each transform."""
    model = load_predictor(model_dir)
    crops = [read_rgb(p) for p in rows["path"]]
    y = (rows["label"] == "FAKE").astype(int).to_numpy()
    out = []
    for name, fn in transforms(crf, scale, quality).items():
        p = model.predict([fn(c) for c in crops])
        clips = pd.DataFrame({"video": rows["video"].to_numpy(), "y": y, "p": p}).groupby("video")
        per_clip = clips.agg(y=("y", "first"), p=("p", "mean"))
        out.append(
            {
                "transform": name,
                "frame_auc": auc(y, p),
                "video_auc": auc(per_clip["y"].to_numpy(), per_clip["p"].to_numpy()),
                "mean_p_real": float(p[y == 0].mean()) if (y == 0).any() else None,
                "mean_p_fake": float(p[y == 1].mean()) if (y == 1).any() else None,
            }
        )
    return out


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model-dir", type=Path, required=True, help="a release or trained model folder (record.json)")
    ap.add_argument("--manifest", type=Path, required=True, help="the split manifest (balance.manifest)")
    ap.add_argument("--dataset", default="ffpp", help="the manifest's dataset whose crops are scored")
    ap.add_argument("--splits", default="val,test", help="comma-separated splits (never train: it was fitted)")
    ap.add_argument("--root", type=Path, default=Path("."), help="folder the manifest's relative paths start from")
    ap.add_argument("--crf", type=int, default=40, help="x264 CRF of the H.264 transforms")
    ap.add_argument("--scale", type=float, default=0.5, help="fraction of the side for the smaller encode")
    ap.add_argument("--jpeg-quality", type=int, default=30)
    ap.add_argument("--out", type=Path, help="also write the table as JSON here")
    a = ap.parse_args(argv)
    m = pd.read_csv(a.manifest)
    rows = m[(m["dataset"] == a.dataset) & m["split"].isin(a.splits.split(","))].reset_index(drop=True)
    if rows.empty:
        ap.error(f"{a.manifest}: no {a.dataset} rows in splits {a.splits}")
    rows["path"] = [str(p if Path(p).is_absolute() else a.root / p) for p in rows["path"]]
    table = measure(a.model_dir, rows, a.crf, a.scale, a.jpeg_quality)
    result = {"model_dir": str(a.model_dir), "dataset": a.dataset, "crops": len(rows), "table": table}
    result["clips"] = int(rows["video"].nunique())
    print(f"{a.dataset} {a.splits}: {len(rows)} crops of {result['clips']} clips, model {a.model_dir}")
    for r in table:
        fa, va = (f"{v:.3f}" if v is not None else "-" for v in (r["frame_auc"], r["video_auc"]))
        print(f"  {r['transform']:32s} frame AUC {fa}  video AUC {va}")
    if a.out:
        a.out.parent.mkdir(parents=True, exist_ok=True)
        a.out.write_text(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
