"""Helpers for the serving tests: a tiny Keras model that follows the model-folder contract, the
BentoML store, test params, generated bad inputs, and the real media in ../shared/data."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from deepfake_detect.contracts.model import BentoMetadata, ModelRecord
from deepfake_detect.models.artifacts import save_untrained_keras

ROOT = Path(__file__).resolve().parents[2]
SHARED = Path(os.environ.get("DEEPFAKE_SHARED_DATA", ROOT.parent / "shared" / "data"))  # as tests/conftest.py
VIDEOS = SHARED / "videos"
FACES = SHARED / "deepfake-faces"
for _var, _value in (("BENTOML_DO_NOT_TRACK", "true"), ("DO_NOT_TRACK", "1"), ("TF_CPP_MIN_LOG_LEVEL", "2")):
    os.environ.setdefault(_var, _value)


def build_model_folder(
    folder: Path, input_size: int = 71, threshold: float = 0.5, tag: str = "tiny-xception-test", projection: int = 8
) -> Path:
    """Xception (random weights) behind a Rescaling layer, GAP ``pooled``, Dense(1, sigmoid): the
    same graph shape as the real Xception model, small enough for tests."""
    import keras
    import numpy as np
    from keras import layers

    keras.utils.set_random_seed(0)
    base = keras.applications.Xception(include_top=False, weights=None, input_shape=(input_size, input_size, 3))
    inp = keras.Input((input_size, input_size, 3), name="image")
    x = layers.Rescaling(1 / 127.5, offset=-1.0, name="preprocess")(inp)
    x = base(x, training=False)
    x = layers.GlobalAveragePooling2D(name="pooled")(x)
    out = layers.Dense(1, activation="sigmoid", name="p_fake")(x)
    model = keras.Model(inp, out, name="xception")
    fields = {"threshold": threshold, "metrics": {"auc": 0.5}}
    save_untrained_keras(model, folder, name="xception", tag=tag, input_size=input_size, **fields)
    if projection:
        rng = np.random.default_rng(0)
        comps = np.linalg.qr(rng.normal(size=(2048, projection)))[0].T.astype(np.float32)
        np.savez(folder / "projection.npz", mean=np.zeros(2048, np.float32), components=comps)
    return folder


def save_to_store(folder: Path, name: str = "deepfake-detector") -> str:
    import bentoml

    record = ModelRecord.read(folder / "record.json")
    with bentoml.models.create(
        name, labels={"family": record.family}, metadata=BentoMetadata.from_record(record).model_dump()
    ) as m:
        for item in folder.iterdir():
            (Path(m.path) / item.name).write_bytes(item.read_bytes())
    return str(m.tag)


def needs_shared(*paths: Path):
    missing = [p for p in paths if not p.exists()]
    return pytest.mark.skipif(bool(missing), reason=f"shared data absent: {missing}")


def write_test_params(tmp: Path, **serve: object) -> Path:
    """The repo's params.yaml with the serve section pointed at a temp request log (and overrides)."""
    import yaml

    raw = yaml.safe_load((ROOT / "params.yaml").read_text())
    raw.setdefault("serve", {}).update({"request_log_dir": str(tmp / "requests"), "max_upload_mb": 6, **serve})
    path = tmp / "params.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def _noise_clip(path: Path, frames: int, size: int, fps: int, faststart: bool = False) -> Path:
    import av
    import numpy as np

    rng = np.random.default_rng(1)
    with av.open(str(path), "w", options={"movflags": "faststart"} if faststart else {}) as c:
        s = c.add_stream("libx264", rate=fps)
        s.width = s.height = size
        s.pix_fmt = "yuv420p"
        s.options = {"crf": "28", "preset": "ultrafast", "threads": "1"}
        for _ in range(frames):
            img = rng.integers(0, 255, (size, size, 3), dtype=np.uint8)
            for pkt in s.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                c.mux(pkt)
        for pkt in s.encode():
            c.mux(pkt)
    return path


def make_bad_inputs(folder: Path) -> dict[str, tuple[Path, str, int, str | None]]:
    """name → (file, endpoint, expected HTTP status, expected error code or label)."""
    import cv2
    import numpy as np

    folder.mkdir(parents=True, exist_ok=True)
    out: dict[str, tuple[Path, str, int, str | None]] = {}
    (folder / "notes.mp4").write_text("not a video, just text\n" * 20)
    out["non_media"] = (folder / "notes.mp4", "score_video", 415, "unsupported_media")
    (folder / "empty.mp4").write_bytes(b"")
    out["empty"] = (folder / "empty.mp4", "score_video", 400, "empty_file")
    full = _noise_clip(folder / "full.mp4", 60, 96, 15, faststart=True)
    data = full.read_bytes()
    (folder / "truncated.mp4").write_bytes(data[: int(len(data) * 0.3)])
    out["truncated"] = (folder / "truncated.mp4", "score_video", 422, "truncated_video")
    (folder / "corrupt.mp4").write_bytes(data[:32] + np.random.default_rng(2).bytes(200_000))
    out["corrupt"] = (folder / "corrupt.mp4", "score_video", 422, "corrupt_video")
    at = data.find(b"avc1", 32)
    (folder / "codec.mp4").write_bytes(data[:at] + b"zzz1" + data[at + 4 :])
    out["unsupported_codec"] = (folder / "codec.mp4", "score_video", 415, "unsupported_codec")
    (folder / "huge.mp4").write_bytes(b"\x00\x00\x00\x18ftypisom" + bytes(7_000_000))
    out["too_large"] = (folder / "huge.mp4", "score_video", 413, "too_large")
    out["too_long"] = (_noise_clip(folder / "long.mp4", 130, 64, 1), "score_video", 422, "video_too_long")
    out["no_face_video"] = (_noise_clip(folder / "noface.mp4", 20, 96, 10), "score_video", 200, "NO_FACE")
    grey = np.full((200, 200), 128, np.uint8)
    cv2.imwrite(str(folder / "noface.png"), grey)
    out["no_face_image"] = (folder / "noface.png", "score_image", 200, "NO_FACE")
    cv2.imwrite(str(folder / "tiny.png"), np.zeros((8, 8, 3), np.uint8))
    out["too_small"] = (folder / "tiny.png", "score_image", 422, "resolution_too_small")
    cv2.imwrite(str(folder / "strip.png"), np.zeros((40, 9000, 3), np.uint8))
    out["too_wide"] = (folder / "strip.png", "score_image", 422, "resolution_too_large")
    (folder / "clip_as_image.jpg").write_bytes(data)
    out["video_as_image"] = (folder / "clip_as_image.jpg", "score_image", 415, "not_an_image")
    (folder / "image_as_video.mp4").write_bytes(cv2.imencode(".png", grey)[1].tobytes())
    out["image_as_video"] = (folder / "image_as_video.mp4", "score_video", 415, "not_a_video")
    jpg = (cv2.imencode(".jpg", np.full((64, 64, 3), 90, np.uint8))[1]).tobytes()
    (folder / "cut.jpg").write_bytes(jpg[:40])
    out["truncated_image"] = (folder / "cut.jpg", "score_image", 422, "corrupt_image")
    return out


def make_face_variants(face_jpg: Path, folder: Path) -> dict[str, Path]:
    """One real face as grayscale, RGBA and 16-bit PNGs, and inside a 4000x3000 photo."""
    import cv2
    import numpy as np

    folder.mkdir(parents=True, exist_ok=True)
    bgr = cv2.imread(str(face_jpg))
    out = {
        "grey": folder / "grey.png",
        "rgba": folder / "rgba.png",
        "deep16": folder / "deep16.png",
        "big": folder / "big.jpg",
    }
    cv2.imwrite(str(out["grey"]), cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY))
    cv2.imwrite(str(out["rgba"]), np.dstack([bgr, np.full(bgr.shape[:2], 200, np.uint8)]))
    cv2.imwrite(str(out["deep16"]), bgr.astype(np.uint16) * 257)
    canvas = np.full((3000, 4000, 3), 180, np.uint8)  # a 12-MP photo with the face at 600 px
    canvas[1200:1800, 1700:2300] = cv2.resize(bgr, (600, 600), interpolation=cv2.INTER_CUBIC)
    cv2.imwrite(str(out["big"]), canvas)
    return out


def some_faces(n: int = 4) -> list[Path]:
    import csv

    with (FACES / "metadata.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    real = [r for r in rows if r["label"] == "REAL"]
    fake = [r for r in rows if r["label"] == "FAKE"]
    picked = real[: n // 2] + fake[: n - n // 2]
    return [FACES / "faces_224" / r["videoname"].replace(".mp4", ".jpg") for r in picked]


class StubDetector:
    """A face detector that finds nothing, optionally slowly: for tests of limits and deadlines."""

    name = "stub"
    crop_canvas = 1.0  # no close-up retry: one detector call per batch of frames

    def __init__(self, seconds_per_call: float = 0.0):
        self.seconds_per_call, self.calls = seconds_per_call, 0

    def detect(self, rgb, min_size=None):
        return self.detect_batch([rgb], min_size)[0]

    def detect_batch(self, images, min_size=None):
        import time

        self.calls += 1
        time.sleep(self.seconds_per_call)
        return [[] for _ in images]


def stub_scorer(tmp: Path, detector=None, family: str = "keras", explain_fn=None, **serve: object):
    """A Scorer over a constant model (P(FAKE) 0.3, 4-d embedding): the media path without TensorFlow
    models unless ``detector`` is None (then the real detector of params.yaml is built on first use)."""
    import numpy as np

    from deepfake_detect.config import load_params
    from deepfake_detect.scoring.result import ModelInfo
    from deepfake_detect.scoring.scorer import Scorer

    def score(crops):
        return np.full(len(crops), 0.3, np.float32), np.zeros((len(crops), 4), np.float32)

    params = load_params(write_test_params(tmp, **serve))
    return Scorer(
        params,
        ModelInfo(tag="stub", threshold=0.5, input_size=71, family=family),
        score,
        explain_fn=explain_fn,
        detector=detector,
    )


def make_playlists(folder: Path, target: Path, seconds: float) -> dict[str, Path]:
    """Text files that make FFmpeg read ``target`` (a server-side clip of ``seconds``): an HLS playlist
    (as .m3u8 and named .mp4) and an ffconcat list."""
    folder.mkdir(parents=True, exist_ok=True)
    out = {"hls": folder / "x.m3u8", "hls_as_mp4": folder / "playlist.mp4", "concat": folder / "list.mp4"}
    hls = (
        f"#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:{round(seconds)}\n#EXTINF:{seconds:.3f},\n"
        f"{target}\n#EXT-X-ENDLIST\n"
    )
    out["hls"].write_text(hls)
    out["hls_as_mp4"].write_text(hls)
    out["concat"].write_text(f"ffconcat version 1.0\nfile '{target}'\n")
    return out


def mjpeg_clip(
    path: Path, header: tuple[int, int] = (640, 480), frames: int = 40, sizes: dict | None = None, fps: int = 10
) -> Path:
    """A hostile MJPEG clip (.avi, .mkv, ...): the header says ``header``, packet i decodes as
    ``sizes[i]`` (width, height; the header's by default). Each packet is one tiny JPEG with its SOF
    size rewritten and zero padding, so FFmpeg's bytes-per-picture check passes: a 144-Mpx frame
    costs 0.6 MB on disk and 216 MB decoded."""
    import struct
    from fractions import Fraction

    import av
    import numpy as np

    enc = av.CodecContext.create("mjpeg", "w")
    enc.width, enc.height, enc.pix_fmt, enc.time_base = 64, 48, "yuvj420p", Fraction(1, fps)
    img = np.random.default_rng(0).integers(0, 255, (48, 64, 3), dtype=np.uint8)
    base = bytes(enc.encode(av.VideoFrame.from_ndarray(img, format="rgb24"))[0])
    sof = base.find(b"\xff\xc0")

    def jpeg(width: int, height: int) -> bytes:
        data = bytearray(base)
        data[sof + 5 : sof + 9] = struct.pack(">HH", height, width)
        return bytes(data) + bytes((width // 8 + 1) * (height // 8 + 1) // 4 + 1024)

    with av.open(str(path), "w") as container:
        stream = container.add_stream("mjpeg", rate=fps)
        stream.width, stream.height, stream.pix_fmt = *header, "yuvj420p"
        for i in range(frames):
            packet = av.Packet(jpeg(*(sizes or {}).get(i, header)))
            packet.stream, packet.pts, packet.dts, packet.time_base = stream, i, i, Fraction(1, fps)
            container.mux(packet)
    return path


def noise_clip(path: Path, frames: int, size: int, fps: int) -> Path:
    """A random-noise H.264 clip (no faces): the cheapest clip with a given frame count and fps."""
    return _noise_clip(path, frames, size, fps)


def long_static_clip(path: Path, frames: int, width: int = 1920, height: int = 1080, fps: int = 120) -> Path:
    """A still gradient as one long H.264 GOP: a tiny upload (no keyframe after the first) whose every
    frame is a reference frame, so decoding it takes seconds: a request that is still working when
    its client hangs up."""
    from fractions import Fraction

    import av
    import numpy as np

    y, x = np.mgrid[0:height, 0:width]
    rgb = np.stack([x * 255 // width, y * 255 // height, (x + y) * 255 // (width + height)], -1).astype(np.uint8)
    with av.open(str(path), "w") as c:
        s = c.add_stream("libx264", rate=fps)
        s.width, s.height, s.pix_fmt = width, height, "yuv420p"
        s.options = {"crf": "30", "preset": "ultrafast", "x264-params": "keyint=100000:min-keyint=100000:scenecut=0"}
        frame = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format="yuv420p")
        frame.time_base = Fraction(1, fps)
        for i in range(frames):
            frame.pts = i
            for pkt in s.encode(frame):
                c.mux(pkt)
        for pkt in s.encode():
            c.mux(pkt)
    return path
