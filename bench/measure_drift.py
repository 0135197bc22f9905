"""Measure what `deepfake drift` does on real data: its false-alarm rate over same-distribution
windows, and whether it flags real shifts. Figures go to stdout and a JSON file.

Data: ../shared/data/deepfake-faces (DFDC face crops) and ../shared/data/videos (3 DFDC + 7
FaceForensics++ c23 clips). Video groups (a FAKE with its original) are split three ways, so
nothing leaks: model-training groups, reference groups, window groups.

* model      ``--model DIR`` (e.g. models/promoted), or a small CNN trained here on the training
             groups (64 px, a few epochs on the CPU) that follows the model-folder contract
* reference  ``--reference-size`` crops of the reference groups (the role of the val split)
* same       ``--windows`` random windows of ``--window-size`` crops from the window groups
* shifts     the same windows blurred + recompressed (JPEG q=12), brightened/darkened, and the
             faces of the FF++ clips (unseen manipulations, another source) and of the DFDC clips
             (same source, but faces found and cropped by our extract path)

    python bench/measure_drift.py --windows 20 --out reports/drift_measure.json
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from deepfake_detect.models.artifacts import write_record

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
SHARED = Path(os.environ.get("DEEPFAKE_SHARED_DATA", Path(__file__).resolve().parents[1].parent / "shared" / "data"))


def degrade(crop: np.ndarray, blur: float = 2.0, quality: int = 12) -> np.ndarray:
    out = cv2.GaussianBlur(crop, (0, 0), blur)
    _, buf = cv2.imencode(".jpg", cv2.cvtColor(out, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality])
    return cv2.cvtColor(cv2.imdecode(buf, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


def relight(crop: np.ndarray, gain: float) -> np.ndarray:
    return np.clip(crop.astype(np.float32) * gain, 0, 255).astype(np.uint8)


def train_small_cnn(folder: Path, crops: list[np.ndarray], labels: np.ndarray, size: int = 64, epochs: int = 4) -> Path:
    """A small CNN under the model-folder contract (preprocessing inside, ``pooled`` layer)."""
    import keras

    keras.utils.set_random_seed(0)
    x = np.stack([cv2.resize(c, (size, size), interpolation=cv2.INTER_AREA) for c in crops]).astype(np.float32)
    inputs = keras.Input((size, size, 3))
    h = keras.layers.Rescaling(1 / 255.0)(inputs)
    for filters in (16, 32, 64):
        h = keras.layers.Conv2D(filters, 3, padding="same", activation="relu")(h)
        h = keras.layers.MaxPooling2D()(h)
    h = keras.layers.GlobalAveragePooling2D(name="pooled")(h)
    model = keras.Model(inputs, keras.layers.Dense(1, activation="sigmoid")(h))
    model.compile("adam", "binary_crossentropy", metrics=[keras.metrics.AUC(name="auc")])
    weights = {0: len(labels) / (2 * max(1, (labels == 0).sum())), 1: len(labels) / (2 * max(1, labels.sum()))}
    model.fit(x, labels, epochs=epochs, batch_size=32, class_weight=weights, verbose=2)
    folder.mkdir(parents=True, exist_ok=True)
    model.save(folder / "model.keras")
    write_record(  # the model-folder contract, typed: a field the record gains fails here, not later
        folder,
        name="measure_cnn",
        tag="measure_cnn",
        family="keras",
        artifact="model.keras",
        input_size=size,
        params={"epochs": epochs},
        data_version="deepfake-faces",
        train_seconds=0.0,
        n_train=len(labels),
        n_val=0,
        embedding_layer="pooled",
    )
    return folder


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", type=Path, help="model folder (default: train a small CNN here)")
    ap.add_argument("--params", type=Path, default=Path("params.yaml"))
    ap.add_argument("--windows", type=int, default=20)
    ap.add_argument("--window-size", type=int, default=200)
    ap.add_argument("--reference-size", type=int, default=600)
    ap.add_argument("--train-size", type=int, default=2000)
    ap.add_argument("--frames-per-video", type=int, default=16, help="frames sampled per clip for the clip windows")
    ap.add_argument("--out", type=Path, default=Path("reports/drift_measure.json"))
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)

    from deepfake_detect.config import load_params
    from deepfake_detect.media.images import read_rgb
    from deepfake_detect.media.sampler import FrameLimits
    from deepfake_detect.models.predictor import load_predictor
    from deepfake_detect.monitoring.drift import compare
    from deepfake_detect.monitoring.tables import current_from_media, features_from_crops

    p = load_params(args.params)
    dp = p.drift.model_copy(update={"frames_per_video": args.frames_per_video})
    faces = SHARED / "deepfake-faces"
    meta = pd.read_csv(faces / "metadata.csv")
    meta["path"] = [faces / "faces_224" / (Path(v).stem + ".jpg") for v in meta["videoname"]]
    meta["group"] = meta["original"].where(meta["original"].notna() & (meta["label"] == "FAKE"), meta["videoname"])
    groups = meta["group"].unique()
    rng = np.random.default_rng(0)
    rng.shuffle(groups)
    cut1, cut2 = int(0.4 * len(groups)), int(0.6 * len(groups))
    side = {g: "train" for g in groups[:cut1]} | {g: "ref" for g in groups[cut1:cut2]}
    side |= {g: "win" for g in groups[cut2:]}
    meta["side"] = meta["group"].map(side)
    t0 = time.time()
    with tempfile.TemporaryDirectory() as tmp:
        if args.model:
            predictor = load_predictor(args.model)
        else:
            tr = meta[meta["side"] == "train"].sample(n=args.train_size, random_state=0)
            crops = [read_rgb(x) for x in tr["path"]]
            predictor = load_predictor(train_small_cnn(Path(tmp) / "cnn", crops, (tr["label"] == "FAKE").to_numpy(int)))
        ref_rows = meta[meta["side"] == "ref"].sample(n=args.reference_size, random_state=1)
        reference = features_from_crops(predictor, [read_rgb(x) for x in ref_rows["path"]])
        pool = meta[meta["side"] == "win"].reset_index(drop=True)
        results: dict[str, list[dict]] = {"same": [], "blur_jpeg12": [], "darker_0.6": []}
        out_dir = Path(tmp) / "reports"
        for w in range(args.windows):
            rows = pool.sample(n=args.window_size, random_state=100 + w)
            crops = [read_rgb(x) for x in rows["path"]]
            for name, cur in (
                ("same", crops),
                ("blur_jpeg12", [degrade(c) for c in crops]),
                ("darker_0.6", [relight(c, 0.6) for c in crops]),
            ):
                if name != "same" and w >= 5:
                    continue  # 5 shifted windows are plenty; false alarms need the many
                r = compare(
                    reference,
                    features_from_crops(predictor, cur),
                    dp,
                    {"window": w},
                    out_dir,
                    stem=f"{name}-{w}",
                    html=False,
                ).result
                results[name].append(r)
        videos = SHARED / "videos"
        vmeta = json.loads((videos / "metadata.json").read_text())
        for name, pick in (
            ("ffpp_clips", lambda n: n.startswith("ffpp_")),
            ("dfdc_clips", lambda n: not n.startswith("ffpp_")),
        ):
            files = [videos / n for n in vmeta if pick(n)]
            cur = current_from_media(files, predictor, p.extract, dp, limits=FrameLimits.of(p.serve))
            r = compare(reference, cur, dp, {"files": [f.name for f in files]}, out_dir, stem=name, html=False).result
            results[name] = [r]
    summary = {}
    for name, rs in results.items():
        summary[name] = {
            "windows": len(rs),
            "alarms": sum(r.drift_detected for r in rs),
            "alarm_rate": round(sum(r.drift_detected for r in rs) / max(1, len(rs)), 3),
            "signal_counts": {s: sum(s in r.signals for r in rs) for s in ("columns", "embedding", "prediction")},
            "median_share_drifted_columns": float(np.median([r.share_drifted_columns or 0 for r in rs])),
            "median_embedding_score": float(np.median([r.embedding_drift_score or 0 for r in rs])),
            "n_current": [r.n_current for r in rs][:3],
            "per_window": [
                {
                    "signals": r.signals,
                    "drifted_columns": r.drifted_columns,
                    "embedding_drift_score": r.embedding_drift_score,
                    "prediction_drift_score": r.prediction_drift_score,
                }
                for r in rs
            ],
        }
    out = {
        "settings": dp.model_dump(mode="json"),
        "model": "given" if args.model else "small CNN trained here",
        "reference_size": len(reference),
        "window_size": args.window_size,
        "seconds": round(time.time() - t0),
        "summary": summary,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=2))
    print(json.dumps({k: {x: y for x, y in v.items() if x != "per_window"} for k, v in summary.items()}, indent=1))
    print(f"({out['seconds']} s; written to {args.out})")


if __name__ == "__main__":
    main()
