"""Training throughput per Keras family, before and after the run's crop cache, in one run, on real crops:

    python bench/train_speed.py [--faces ../shared/data/deepfake-faces] [--crops 320] [--steps 4] [--rounds 2]

For each family (``--families``; params.yaml settings: input size, batch, sampling, augmentation,
self-blended pseudo-fakes) on the same ``--crops`` crops of deepfake-faces (REAL crops and FAKE crops
of their own videos, so ``pairs`` sampling finds partners):

* input before   images/s of the training stream alone, every crop read and decoded from its JPEG file
* input after    the same stream through a warm :class:`CropCache` (epochs after the first)
* step, whole    images/s of the training step alone, on one batch held in memory, with every layer that
                 the longest phase trained before ``freeze_blocks`` (EfficientNet-Lite: the whole network)
* step only      the same with params.yaml's layers (EfficientNet-Lite: the stem and the first
                 ``freeze_blocks`` blocks stay at ImageNet weights); other families train the same layers
* fit before     ``model.fit`` on the stream as training ran it before: no cache, the whole network
* fit after      ``model.fit`` on the stream through the warm cache, params.yaml's layers

Each is timed over ``--steps`` batches after one warm-up batch, in ``--rounds`` interleaved rounds,
the best kept (the machine is shared). ``cache fill`` is the one-time pass that decodes the crops.
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pandas as pd

from deepfake_detect.config import KerasTrainParams, Params, load_params
from deepfake_detect.data.sources import list_ready_crops
from deepfake_detect.models.dataset import CropCache, sampled_dataset

ROOT = Path(__file__).resolve().parents[1]
FACES = ROOT.parent / "shared" / "data" / "deepfake-faces"
FAMILIES = ("baseline_cnn", "xception", "efficientnet_lite0")


def real_crops(faces: Path, n: int) -> pd.DataFrame:
    """About ``n`` crops: REAL ones and up to two FAKE crops made from each of their videos."""
    crops, _ = list_ready_crops(faces)
    df = pd.DataFrame([{"path": str(c.path), "label": c.label, "group": c.group, "dataset": c.dataset} for c in crops])
    df["y"] = (df["label"] == "FAKE").astype(int)
    fakes = df[df["y"] == 1].groupby("group").head(2)
    reals = df[(df["y"] == 0) & df["group"].isin(fakes["group"])].head(n // 3)
    return pd.concat([reals, fakes[fakes["group"].isin(reals["group"])]]).reset_index(drop=True)


def build(family: str, params: Params, *, whole_net: bool = False):
    """The family's network, compiled, with the layers its longest phase trains (as ``train`` sets them;
    ``whole_net``: EfficientNet-Lite with no block frozen, as before ``freeze_blocks``)."""
    from deepfake_detect.models.keras_common import compile_model

    cfg = getattr(params.train, family)
    if family == "baseline_cnn":
        from deepfake_detect.models.baseline_cnn import build as build_cnn

        model = build_cnn(cfg.input_size)
    elif family == "xception":
        from deepfake_detect.models.xception import build as build_xception
        from deepfake_detect.models.xception import resolve_weights

        weights = resolve_weights(cfg.pretrained)
        model, base = build_xception(cfg, weights)
        base.trainable = weights is None  # phase 1, as train runs it
    else:
        from deepfake_detect.models import efficientnet_lite
        from deepfake_detect.models.efficientnet_lite0 import build as build_lite

        model, base = build_lite(cfg)
        efficientnet_lite._set_base_trainable(base, True, cfg.pretrained, 0 if whole_net else cfg.freeze_blocks)
    compile_model(model, cfg.learning_rate, cfg.label_smoothing)
    return model


def stream(train: pd.DataFrame, cfg: KerasTrainParams, params: Params, cache: CropCache | None):
    augment = params.train.augment if cfg.augment else None
    return sampled_dataset(
        train, cfg.sampling, cfg.input_size, cfg.batch_size, augment=augment, seed=params.seed, cache=cache
    )


def rate(run: Callable[[int], None], steps: int, batch: int) -> float:
    """Images/s of ``run(steps)`` after ``run(1)`` warmed it up."""
    run(1)
    start = time.perf_counter()
    run(steps)
    return steps * batch / (time.perf_counter() - start)


def family_rates(family: str, train: pd.DataFrame, params: Params, steps: int, rounds: int) -> dict[str, float]:
    import tensorflow as tf

    cfg = getattr(params.train, family)
    cache = CropCache(cfg.input_size, params.train.cache_mb)
    start = time.perf_counter()
    for path in train["path"]:
        cache.load(path)
    fill = time.perf_counter() - start
    model = build(family, params)
    whole = build(family, params, whole_net=True) if "efficientnet_lite" in family else model
    before, after = stream(train, cfg, params, None), stream(train, cfg, params, cache)
    x, y = next(iter(before.take(1)))
    held = tf.data.Dataset.from_tensors((x, y)).repeat()

    def consume(ds) -> Callable[[int], None]:
        def run(n: int) -> None:
            for _ in ds.take(n):
                pass

        return run

    def fit(ds, net) -> Callable[[int], None]:
        def run(n: int) -> None:
            net.fit(ds, epochs=1, steps_per_epoch=n, verbose=0)

        return run

    ways = {
        "input before": consume(before),
        "input after": consume(after),
        "step, whole": fit(held, whole),
        "step only": fit(held, model),
        "fit before": fit(before, whole),
        "fit after": fit(after, model),
    }
    best = {name: 0.0 for name in ways}
    for _ in range(rounds):
        for name, run in ways.items():
            best[name] = max(best[name], rate(run, steps, cfg.batch_size))
    return {**best, "cache fill s": fill, "cached crops": float(len(cache))}


def main(argv: list[str] | None = None) -> dict[str, dict[str, float]]:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--faces", type=Path, default=FACES, help="deepfake-faces folder (metadata.csv + faces_224/)")
    ap.add_argument("--crops", type=int, default=320)
    ap.add_argument("--steps", type=int, default=4, help="batches timed per measurement")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--families", default=",".join(FAMILIES))
    ap.add_argument("--params", type=Path, default=ROOT / "params.yaml")
    args = ap.parse_args(argv)
    if not (args.faces / "metadata.csv").exists():
        raise SystemExit(f"{args.faces}: deepfake-faces not found (metadata.csv + faces_224/); pass --faces")
    params = load_params(args.params)
    train = real_crops(args.faces, args.crops)
    fakes, cores = int(train["y"].sum()), os.cpu_count()
    print(f"{len(train)} crops ({fakes} FAKE), {cores} CPU cores; images/s, best of {args.rounds} rounds")
    print(
        "\n| family | input before | input after | step, whole net | step only | fit before | fit after "
        "| fit after / before |"
    )
    print("|---|---|---|---|---|---|---|---|")
    out = {}
    for family in args.families.split(","):
        r = out[family] = family_rates(family, train, params, args.steps, args.rounds)
        print(
            f"| {family} | {r['input before']:.0f} | {r['input after']:.0f} | {r['step, whole']:.1f} | "
            f"{r['step only']:.1f} | "
            f"{r['fit before']:.1f} | {r['fit after']:.1f} | {r['fit after'] / r['fit before']:.2f}x |",
            flush=True,
        )
    fills = ", ".join(f"{f} {r['cache fill s']:.1f} s" for f, r in out.items())
    print(f"\ncache fill (once per run, {len(train)} crops): {fills}")
    return out


if __name__ == "__main__":
    main()
    os._exit(0)  # tf.data generator threads can hold the interpreter's exit
