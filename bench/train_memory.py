"""Peak memory of training: the train stage's streamed tf.data input vs the seed notebook's
load-everything-into-numpy approach, on 1k and 10k crops of ../shared/data/deepfake-faces.

Each (approach, size) runs in its own subprocess, and its peak RSS is read from ``os.wait4``'s
resource usage of that child, so the numbers do not mix. Both train the same baseline CNN for the
same capped number of steps; only the input path differs.

    python bench/train_memory.py                    # 1000 and 10000 crops, 10 steps each
    python bench/train_memory.py --sizes 500 --steps 3 --out reports/bench/train_memory.json
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FACES = ROOT.parent / "shared" / "data" / "deepfake-faces"


def crops(n: int, faces: Path) -> tuple[list[str], list[int]]:
    """The first ``n`` listed crops of the deepfake-faces layout (paths, FAKE = 1)."""
    from deepfake_detect.data.sources import list_ready_crops

    items, _ = list_ready_crops(faces)
    if len(items) < n:
        raise SystemExit(f"{faces}: only {len(items)} crops, asked for {n}")
    items = items[:n]
    return [str(c.path) for c in items], [1 if c.label == "FAKE" else 0 for c in items]


def worker(mode: str, n: int, steps: int, size: int, faces: Path) -> None:
    """Train the baseline CNN for ``steps`` steps on ``n`` crops, streamed or from one numpy array."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import numpy as np

    from deepfake_detect.config import load_params
    from deepfake_detect.models.baseline_cnn import build
    from deepfake_detect.models.dataset import load_image, make_dataset
    from deepfake_detect.models.keras_common import compile_model, seed_everything

    paths, labels = crops(n, faces)
    cfg = load_params(ROOT / "params.yaml", {"train": {"baseline_cnn": {"input_size": size}}}).train.baseline_cnn
    seed_everything(0)
    model = build(size)
    compile_model(model, cfg.learning_rate, 0.0)
    if mode == "stream":  # the train stage's input: file paths → tf.data, repeat for capped epochs
        ds = make_dataset(paths, np.array(labels), size, cfg.batch_size, training=True, seed=0, repeat=True)
        model.fit(ds, epochs=1, steps_per_epoch=steps, verbose=0)
    else:  # the seed notebook: every image decoded into one float array, then fit on it
        x = np.stack([load_image(p, size) for p in paths])  # float32, N x size x size x 3
        y = np.array(labels, np.float32).reshape(-1, 1)
        model.fit(x, y, batch_size=cfg.batch_size, epochs=1, steps_per_epoch=steps, verbose=0)


def measure(mode: str, n: int, steps: int, size: int, faces: Path) -> dict:
    cmd = [
        sys.executable,
        __file__,
        "--worker",
        mode,
        "--sizes",
        str(n),
        "--steps",
        str(steps),
        "--size",
        str(size),
        "--faces",
        str(faces),
    ]
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, env={**os.environ, "PYTHONPATH": str(ROOT / "src")})
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{mode} worker on {n} crops failed (exit {os.waitstatus_to_exitcode(status)})")
    return {
        "approach": mode,
        "crops": n,
        "steps": steps,
        "input_size": size,
        "peak_rss_mib": round(usage.ru_maxrss / 1024, 1),
        "seconds": round(seconds, 1),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="1000,10000", help="comma-separated crop counts")
    ap.add_argument("--steps", type=int, default=10, help="training steps per run (batch 32)")
    ap.add_argument("--size", type=int, default=128, help="input side (the seed's 128)")
    ap.add_argument("--faces", type=Path, default=FACES, help="deepfake-faces folder")
    ap.add_argument("--out", type=Path, default=ROOT / "reports" / "bench" / "train_memory.json")
    ap.add_argument("--worker", choices=["stream", "numpy"], help=argparse.SUPPRESS)
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    if args.worker:
        worker(args.worker, sizes[0], args.steps, args.size, args.faces)
        return
    if not (args.faces / "metadata.csv").exists():
        raise SystemExit(f"{args.faces}: deepfake-faces not found (metadata.csv + faces_224/); pass --faces")
    rows = [measure(mode, n, args.steps, args.size, args.faces) for n in sizes for mode in ("stream", "numpy")]
    print("| approach | crops | steps | peak RSS (MiB) | wall (s) |\n|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['approach']} | {r['crops']} | {r['steps']} | {r['peak_rss_mib']} | {r['seconds']} |")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
