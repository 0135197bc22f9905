"""The embedded sample: a small, deterministic DFDC-format dataset generated offline.

Why: a fresh machine has no Kaggle access, yet ``make demo`` must run the whole pipeline on
real video files whose faces the extract stage's detector really finds.

How: the one real photographic portrait that ships inside a registry wheel (scikit-image's
``astronaut``) is turned into distinct synthetic *actors* (face-shape warp, skin tone, mirror,
scale, background scene, head motion). Each actor gets a REAL clip. Each FAKE clip re-renders the
same clip (as a DFDC fake re-renders its original) and replaces the face by a **self-blended**
copy of itself (Shiohara & Yamasaki, CVPR 2022): the face is warped slightly, colour-jittered and
resampled, then alpha-blended back through a feathered elliptical mask whose shape and jitter
change from frame to frame. That leaves the traces real deepfakes leave: a blending boundary,
a colour mismatch, resampling blur and temporal flicker.

The sample's metrics prove the plumbing, not detection accuracy: one source face cannot
stand for DFDC's thousands of people.
"""

from __future__ import annotations

import json
import logging
import shutil
import string
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from deepfake_detect.config import SampleParams
from deepfake_detect.data.selfblend import blend, warped_copy
from deepfake_detect.errors import DeepfakeError
from deepfake_detect.media.codec import write_clip

log = logging.getLogger(__name__)

# Lists the files a sample wrote, so a later run may replace them and nothing else. Hidden and in
# .dvcignore: the data's DVC hash, the layouts and the clips' bytes are as without it.
SAMPLE_MARKER = ".deepfake-sample.json"
BACKGROUNDS = ("brick", "grass", "gravel", "coffee", "rocket", "hubble_deep_field", "chelsea", "colorwheel")


@dataclass(frozen=True)
class Actor:
    portrait: np.ndarray  # RGB head-and-shoulders image of this identity
    face: tuple[int, int, int, int]  # x, y, w, h of the face in the portrait
    background: np.ndarray  # RGB scene, frame size
    scale: float  # portrait height as a share of the frame height
    cx: float  # horizontal position of the portrait centre, share of the frame width
    phase: float  # head-motion phase


def _base_portrait() -> tuple[np.ndarray, tuple[int, int, int, int]]:
    from skimage import data as skdata

    photo = skdata.astronaut()
    portrait = np.ascontiguousarray(photo[0:300, 80:380])
    grey = cv2.cvtColor(portrait, cv2.COLOR_RGB2GRAY)
    cascade = cv2.CascadeClassifier(cv2.data.haarcascades + "haarcascade_frontalface_default.xml")
    boxes = cascade.detectMultiScale(grey, 1.1, 5, minSize=(60, 60))
    if len(boxes) == 0:  # pragma: no cover - the photo is fixed; guards a changed wheel
        raise RuntimeError("embedded sample: no face found in scikit-image's astronaut portrait")
    x, y, w, h = max(boxes, key=lambda b: b[2] * b[3])
    return portrait, (int(x), int(y), int(w), int(h))


def _background(name: str, width: int, height: int, rng: np.random.Generator) -> np.ndarray:
    from skimage import data as skdata

    img = getattr(skdata, name)()
    if img.ndim == 2:
        img = np.stack([img] * 3, axis=-1)
    img = img[..., :3].astype(np.float32)
    img = cv2.resize(img, (width, height), interpolation=cv2.INTER_AREA)
    img = cv2.GaussianBlur(img, (0, 0), 1.5)  # out-of-focus scene behind the speaker
    tint = rng.uniform(0.7, 1.2, size=3)
    return np.clip(img * tint, 0, 255).astype(np.uint8)


def _make_actor(
    index: int, base: np.ndarray, face: tuple[int, int, int, int], p: SampleParams, rng: np.random.Generator
) -> Actor:
    x, y, w, h = face
    sx, sy = rng.uniform(0.88, 1.12), rng.uniform(0.9, 1.1)  # face shape
    portrait = cv2.resize(base, None, fx=sx, fy=sy, interpolation=cv2.INTER_CUBIC)
    face = (round(x * sx), round(y * sy), round(w * sx), round(h * sy))
    hsv = cv2.cvtColor(portrait, cv2.COLOR_RGB2HSV).astype(np.int16)
    hsv[..., 0] = (hsv[..., 0] + int(rng.integers(-6, 7))) % 180  # skin / hair tone
    hsv[..., 1] = np.clip(hsv[..., 1] * rng.uniform(0.75, 1.2), 0, 255)
    hsv[..., 2] = np.clip(hsv[..., 2] * rng.uniform(0.8, 1.1), 0, 255)
    portrait = cv2.cvtColor(hsv.astype(np.uint8), cv2.COLOR_HSV2RGB)
    if index % 2:
        portrait = portrait[:, ::-1].copy()
        face = (portrait.shape[1] - face[0] - face[2], face[1], face[2], face[3])
    background = _background(BACKGROUNDS[index % len(BACKGROUNDS)], p.width, p.height, rng)
    return Actor(
        portrait, face, background, rng.uniform(0.85, 1.05), rng.uniform(0.35, 0.65), rng.uniform(0, 2 * np.pi)
    )


def _placement(actor: Actor, t: int, p: SampleParams) -> np.ndarray:
    """2x3 affine from portrait to frame for frame t: scale, position and a little head motion."""
    ph, pw = actor.portrait.shape[:2]
    s = actor.scale * p.height / ph * (1 + 0.03 * np.sin(0.21 * t + actor.phase))
    angle = 3.0 * np.sin(0.17 * t + actor.phase)
    cx = actor.cx * p.width + 6 * np.sin(0.13 * t + actor.phase)
    cy = p.height - s * ph / 2 + 2 * np.cos(0.19 * t)
    m = cv2.getRotationMatrix2D((pw / 2, ph / 2), angle, s)
    m[0, 2] += cx - pw / 2
    m[1, 2] += cy - ph / 2
    return m


def _render(actor: Actor, t: int, p: SampleParams, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """One REAL frame and the portrait→frame transform used."""
    m = _placement(actor, t, p)
    size = (p.width, p.height)
    person = cv2.warpAffine(actor.portrait, m, size, flags=cv2.INTER_LINEAR)
    alpha = cv2.warpAffine(np.full(actor.portrait.shape[:2], 255, np.uint8), m, size)[..., None] / 255.0
    frame = actor.background * (1 - alpha) + person * alpha
    frame = frame + rng.normal(0, 2.0, frame.shape)  # sensor noise
    return np.clip(frame, 0, 255).astype(np.uint8), m


def _face_mask(actor: Actor, m: np.ndarray, p: SampleParams, wobble: np.ndarray) -> np.ndarray:
    """Feathered elliptical face mask in frame coordinates; ``wobble`` varies it per frame."""
    x, y, w, h = actor.face
    mask = np.zeros(actor.portrait.shape[:2], np.float32)
    centre = (int(x + w / 2 + wobble[0]), int(y + h * 0.55 + wobble[1]))
    axes = (int(w * (0.42 + wobble[2])), int(h * (0.55 + wobble[3])))
    cv2.ellipse(mask, centre, axes, 0, 0, 360, 1.0, -1)
    mask = cv2.warpAffine(mask, m, (p.width, p.height))
    feather = max(1.0, w * m[0, 0] * 0.06)
    return cv2.GaussianBlur(mask, (0, 0), feather)[..., None]


def _self_blend(frame: np.ndarray, mask: np.ndarray, rng: np.random.Generator, style: dict) -> np.ndarray:
    """Blend a warped, colour-shifted, resampled copy of the frame back through the mask; the clip's
    style varies a little frame to frame (colour flicker, jitter)."""
    source = warped_copy(
        frame,
        angle=0.0,
        scale=style["scale"] + rng.normal(0, 0.004),
        shift=style["shift"] + rng.normal(0, 0.4, size=2),
        gain=style["gain"] * (1 + rng.normal(0, 0.02, size=3)),  # colour mismatch + flicker
        bias=style["bias"],
        resample=style["resample"],
    )
    return blend(frame, source, mask)


def _name(rng: np.random.Generator, used: set[str]) -> str:
    while True:
        name = "".join(rng.choice(list(string.ascii_lowercase), 10)) + ".mp4"
        if name not in used:
            used.add(name)
            return name


class SampleTargetError(DeepfakeError, ValueError):
    """The output folder holds something the sample did not write (the message names it)."""


def is_previous_sample(folder: Path) -> bool:
    """Whether ``folder`` holds only what an earlier :func:`generate_sample` wrote (its marker lists it)."""
    try:
        written = set(json.loads((folder / SAMPLE_MARKER).read_text())["files"])
    except (OSError, ValueError, KeyError, TypeError):
        return False
    return {p.name for p in folder.iterdir()} <= written | {SAMPLE_MARKER}


def check_target(out_dir: Path, force: bool = False) -> None:
    """Refuse an output path that is a file, or a non-empty folder that is not a previous sample,
    unless ``force`` (then the folder is moved aside when the sample is written, never deleted)."""
    if out_dir.exists() and not out_dir.is_dir():
        raise SampleTargetError(f"{out_dir}: exists and is not a folder; choose another --out")
    if force or not out_dir.exists() or not any(out_dir.iterdir()) or is_previous_sample(out_dir):
        return
    raise SampleTargetError(
        f"{out_dir}: folder is not empty and is not a sample this command wrote; choose another --out, "
        "or pass --force to move it aside (to <folder>.replaced-<UTC time>) and write the sample there"
    )


def _put_in_place(tmp: Path, out_dir: Path) -> None:
    """Move the finished sample to ``out_dir``: a previous sample is replaced, anything else moved aside."""
    if out_dir.exists():
        if is_previous_sample(out_dir) or not any(out_dir.iterdir()):
            shutil.rmtree(out_dir)
        else:
            aside = out_dir.with_name(f"{out_dir.name}.replaced-{time.strftime('%Y%m%dT%H%M%S', time.gmtime())}")
            out_dir.rename(aside)
            log.warning("%s was not a sample: moved it to %s (--force)", out_dir, aside)
    tmp.rename(out_dir)


def generate_sample(out_dir: str | Path, p: SampleParams, seed: int, force: bool = False) -> dict[str, dict]:
    """Write ``p.n_actors`` REAL clips, ``p.fakes_per_real`` FAKE clips each, and metadata.json.

    Returns the metadata. The output folder is built beside ``out_dir`` and moved in place. A
    non-empty ``out_dir`` that is not a previous sample is refused (:class:`SampleTargetError`)
    unless ``force``, which moves it aside: no folder but a previous sample is ever deleted.
    """
    out_dir = Path(out_dir)
    check_target(out_dir, force)
    tmp = out_dir.with_name(out_dir.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    base, face = _base_portrait()
    metadata: dict[str, dict] = {}
    used: set[str] = set()
    total = p.n_actors * (1 + p.fakes_per_real)
    with tqdm(total=total, desc="sample clips", unit="clip") as bar:
        for a in range(p.n_actors):
            actor = _make_actor(a, base, face, p, rng)
            clip_seed = int(rng.integers(2**31))
            real_name = _name(rng, used)
            frames, transforms = [], []
            noise = np.random.default_rng(clip_seed)
            for t in range(p.frames):
                frame, m = _render(actor, t, p, noise)
                frames.append(frame)
                transforms.append(m)
            write_clip(tmp / real_name, frames, p.fps)
            metadata[real_name] = {"label": "REAL", "split": "train", "original": None, "dataset": "sample"}
            bar.update()
            for _ in range(p.fakes_per_real):
                style = {
                    "scale": rng.uniform(1.02, 1.07),
                    "shift": rng.uniform(-3, 3, size=2),
                    "gain": rng.uniform(0.88, 1.12, size=3),
                    "bias": rng.uniform(-8, 8, size=3),
                    "resample": rng.uniform(0.45, 0.7),
                }
                fake_rng = np.random.default_rng(int(rng.integers(2**31)))
                fake_frames = []
                for frame, m in zip(frames, transforms, strict=True):
                    wobble = fake_rng.normal(0, [1.5, 1.5, 0.015, 0.015])
                    mask = _face_mask(actor, m, p, wobble)
                    fake_frames.append(_self_blend(frame, mask, fake_rng, style))
                fake_name = _name(rng, used)
                write_clip(tmp / fake_name, fake_frames, p.fps)
                metadata[fake_name] = {"label": "FAKE", "split": "train", "original": real_name, "dataset": "sample"}
                bar.update()
    (tmp / "metadata.json").write_text(json.dumps(metadata, indent=1, sort_keys=True) + "\n")
    files = sorted(p.name for p in tmp.iterdir())
    (tmp / SAMPLE_MARKER).write_text(json.dumps({"written_by": "deepfake data sample", "files": files}) + "\n")
    _put_in_place(tmp, out_dir)
    n_fake = sum(1 for m in metadata.values() if m["label"] == "FAKE")
    log.info(
        "embedded sample: %d clips (%d FAKE, %d REAL) in %s", len(metadata), n_fake, len(metadata) - n_fake, out_dir
    )
    return metadata
