"""EfficientNet-Lite0 vs Lite1 vs Lite2 on this CPU: parameters, inference img/s (one batched call,
as the model service makes it) and fine-tuning img/s (the whole network, batch norm frozen, as phase 2
of training runs), each at the configured ``train.<family>.input_size`` and at the native size.

    python bench/lite_variants.py                      # configured sizes, inference only: ~2 min on 2 cores
    python bench/lite_variants.py --sizes both --train-steps 2   # + native sizes and fine-tuning: ~10 min

Random weights (``pretrained: none``): the cost of a graph does not depend on its weights. Prints a
Markdown table (docs/models.md keeps it) and writes JSON to --out (default
bench/results/lite_variants.json, git-ignored).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path

for _var, _value in (("TF_CPP_MIN_LOG_LEVEL", "2"), ("DO_NOT_TRACK", "1")):
    os.environ.setdefault(_var, _value)

ROOT = Path(__file__).resolve().parents[1]
FAMILIES = ("efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2")


def measure(family: str, size: int, batch: int, reps: int, train_steps: int) -> dict:
    """Parameters and images/s of one family at one input size."""
    import importlib

    import numpy as np

    from deepfake_detect.config import load_params
    from deepfake_detect.models.keras_common import compile_model

    module = importlib.import_module(f"deepfake_detect.models.{family}")
    p = load_params(ROOT / "params.yaml", {"train": {family: {"input_size": size, "pretrained": "none"}}})
    model, base = module.build(getattr(p.train, family))
    x = np.random.default_rng(0).integers(0, 256, (batch, size, size, 3)).astype(np.float32)
    model.predict_on_batch(x)  # trace once
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        model.predict_on_batch(x)
        times.append(time.perf_counter() - t)
    infer = batch / statistics.median(times)
    train = float("nan")
    if train_steps:
        compile_model(model, 1e-4, 0.0)
        y = np.zeros((batch, 1), np.float32)
        model.train_on_batch(x, y)  # trace once
        t = time.perf_counter()
        for _ in range(train_steps):
            model.train_on_batch(x, y)
        train = batch * train_steps / (time.perf_counter() - t)
    return {
        "family": family,
        "input_size": size,
        "native_size": module.VARIANT.native_size,
        "base_params_m": round(base.count_params() / 1e6, 2),
        "infer_img_s": round(infer, 1),
        "train_img_s": round(train, 1),
        "batch": batch,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--batch", type=int, default=32, help="crops per call (the service's batch)")
    ap.add_argument("--reps", type=int, default=3, help="timed inference calls per case (median)")
    ap.add_argument("--train-steps", type=int, default=0, help="timed training steps per case (0 = skip)")
    ap.add_argument(
        "--sizes", choices=["configured", "native", "both"], default="configured", help="which input sizes to run"
    )
    ap.add_argument("--families", nargs="+", default=list(FAMILIES), choices=FAMILIES)
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "lite_variants.json")
    args = ap.parse_args()

    from deepfake_detect.config import load_params

    p = load_params(ROOT / "params.yaml")
    rows = []
    for family in args.families:
        import importlib

        native = importlib.import_module(f"deepfake_detect.models.{family}").VARIANT.native_size
        configured = getattr(p.train, family).input_size
        sizes = {"configured": [configured], "native": [native], "both": sorted({configured, native})}[args.sizes]
        for size in sizes:
            rows.append(measure(family, size, args.batch, args.reps, args.train_steps))
            print(json.dumps(rows[-1]), flush=True)
    print(f"\n| family | input px (native) | base params | inference img/s (batch {args.batch}) | fine-tune img/s |")
    print("|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['family']} | {r['input_size']} ({r['native_size']}) | {r['base_params_m']} M "
            f"| {r['infer_img_s']} | {r['train_img_s']} |"
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
