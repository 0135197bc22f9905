"""Read a legacy-format PyTorch checkpoint (``torch.save`` before 1.6, ``_use_new_zipfile_serialization
=False``) with numpy alone, so pretrained weights shipped as ``.pth`` need no torch install.

The legacy file is five things in a row: a pickled magic number, the protocol version, system
info (endianness, type sizes), the pickled object whose tensors refer to storages by key
(``persistent_load``), the pickled list of storage keys, then each storage's raw bytes preceded
by its element count (int64). A tensor is (storage, offset, size, stride); strides are honoured,
so a checkpoint converted from TensorFlow (channels-last memory, OIHW view) reads correctly.

Every one of the five pickles goes through one allow-list unpickler: only the classes a state dict
needs pass, anything else (code, modules) is refused before it is called, so a tampered file cannot
run code, whichever slot the payload is in.
"""

from __future__ import annotations

import collections
import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np

from deepfake_detect.errors import DeepfakeError

MAGIC_NUMBER = 0x1950A86A20F9469CFC6C
PROTOCOL_VERSION = 1001
STORAGE_DTYPES = {
    "FloatStorage": np.float32,
    "DoubleStorage": np.float64,
    "HalfStorage": np.float16,
    "LongStorage": np.int64,
    "IntStorage": np.int32,
    "ShortStorage": np.int16,
    "CharStorage": np.int8,
    "ByteStorage": np.uint8,
    "BoolStorage": np.bool_,
}


class CheckpointError(DeepfakeError, ValueError):
    """The file is not a legacy PyTorch checkpoint this reader understands (the message names it)."""


@dataclass(frozen=True)
class _StorageType:
    name: str


@dataclass(frozen=True)
class _StorageRef:
    key: str
    dtype: type


@dataclass(frozen=True)
class _TensorRef:
    storage: _StorageRef
    offset: int
    size: tuple[int, ...]
    stride: tuple[int, ...]


def _rebuild_tensor_v2(storage: _StorageRef, offset: int, size, stride, *_: Any) -> _TensorRef:
    return _TensorRef(storage, int(offset), tuple(size), tuple(stride))


class _Unpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if module == "torch._utils" and name == "_rebuild_tensor_v2":
            return _rebuild_tensor_v2
        if module == "torch" and name in STORAGE_DTYPES:
            return _StorageType(name)
        if module == "collections" and name == "OrderedDict":
            return collections.OrderedDict
        raise pickle.UnpicklingError(f"refusing to load {module}.{name} (not part of a state dict)")

    def persistent_load(self, pid: Any) -> _StorageRef:
        if not (isinstance(pid, tuple) and pid and pid[0] == "storage" and isinstance(pid[1], _StorageType)):
            raise pickle.UnpicklingError(f"unexpected persistent id {pid!r}")
        return _StorageRef(str(pid[2]), STORAGE_DTYPES[pid[1].name])


def _read_storages(f: IO[bytes], keys: list[str], refs: dict[str, _StorageRef]) -> dict[str, np.ndarray]:
    out = {}
    for key in keys:
        (count,) = np.frombuffer(f.read(8), "<i8")
        dtype = np.dtype(refs[key].dtype).newbyteorder("<") if key in refs else np.dtype(np.uint8)
        raw = f.read(int(count) * dtype.itemsize)
        if len(raw) != int(count) * dtype.itemsize:
            raise CheckpointError(f"storage {key}: file ends after {len(raw)} of {count * dtype.itemsize} bytes")
        out[key] = np.frombuffer(raw, dtype)
    return out


def _materialise(t: _TensorRef, storages: dict[str, np.ndarray]) -> np.ndarray:
    flat = storages[t.storage.key]
    if not t.size:
        return flat[t.offset].copy()
    last = t.offset + sum((n - 1) * s for n, s in zip(t.size, t.stride, strict=True))
    if last >= len(flat):
        raise CheckpointError(f"tensor {t.size} at offset {t.offset} runs past its storage ({len(flat)} elements)")
    view = np.lib.stride_tricks.as_strided(
        flat[t.offset :], shape=t.size, strides=[s * flat.itemsize for s in t.stride], writeable=False
    )
    return np.ascontiguousarray(view)


def read_state_dict(path: str | Path) -> dict[str, np.ndarray]:
    """The checkpoint's ``{name: array}`` in file order (tensors become C-contiguous numpy arrays)."""
    path = Path(path)
    with path.open("rb") as f:
        try:
            magic = _Unpickler(f).load()  # every pickle through the allow-list, the headers too
            if magic != MAGIC_NUMBER:
                raise CheckpointError(f"{path}: not a legacy PyTorch checkpoint (magic number {magic!r})")
            if _Unpickler(f).load() != PROTOCOL_VERSION:
                raise CheckpointError(f"{path}: unsupported checkpoint protocol")
            info = _Unpickler(f).load()
            if not isinstance(info, dict) or not info.get("little_endian", True):
                raise CheckpointError(f"{path}: big-endian or unreadable system info")
            obj = _Unpickler(f).load()
            keys = _Unpickler(f).load()
            if not isinstance(keys, list):
                raise CheckpointError(f"{path}: the storage keys are not a list")
        except (pickle.UnpicklingError, EOFError, AttributeError, ValueError) as exc:
            if isinstance(exc, CheckpointError):
                raise
            raise CheckpointError(f"{path}: cannot read as a legacy PyTorch checkpoint ({exc})") from exc
        if isinstance(obj, dict) and "state_dict" in obj:
            obj = obj["state_dict"]
        if not isinstance(obj, dict) or not all(isinstance(v, _TensorRef) for v in obj.values()):
            raise CheckpointError(f"{path}: the checkpoint holds no plain state dict of tensors")
        refs = {t.storage.key: t.storage for t in obj.values()}
        storages = _read_storages(f, [str(k) for k in keys], refs)
    return {name: _materialise(t, storages) for name, t in obj.items()}
