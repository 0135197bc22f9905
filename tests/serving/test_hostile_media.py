"""Hostile media through the scoring path (no model, no HTTP): playlists and concat lists that point
at server files, high-fps and long clips, deep images, per-request pixel budgets and deadlines, and
error details that never show a server path."""

from __future__ import annotations

import shutil
import subprocess
import sys
import threading
import time
import tracemalloc

import cv2
import numpy as np
import pytest
from serving_kit import (
    ROOT,
    StubDetector,
    make_bad_inputs,
    make_playlists,
    mjpeg_clip,
    noise_clip,
    stub_scorer,
    write_test_params,
)

from deepfake_detect.media.checks import ScoringError, read_image
from deepfake_detect.media.codec import write_clip


@pytest.fixture(scope="module")
def server_clip(tmp_path_factory):
    """A valid clip standing for a file on the server that an upload must never make us read."""
    frames = [np.full((96, 96, 3), 40 + 5 * i, np.uint8) for i in range(40)]  # 4 s at 10 fps
    return write_clip(tmp_path_factory.mktemp("server") / "private.mp4", frames, fps=10)


@pytest.mark.parametrize("kind", ["hls", "hls_as_mp4", "concat"])
def test_playlists_and_concat_lists_are_refused(tmp_path, server_clip, kind):
    scorer = stub_scorer(tmp_path, detector=StubDetector())
    upload = make_playlists(tmp_path / "up", server_clip, seconds=4.0)[kind]
    with pytest.raises(ScoringError) as err:
        scorer.score_video(upload)
    assert err.value.status in (415, 422), err.value.to_dict()
    assert upload.name in err.value.detail and str(server_clip) not in err.value.detail


def test_the_allowed_containers_still_open(tmp_path, server_clip):
    scorer = stub_scorer(tmp_path, detector=StubDetector())
    result = scorer.score_video(server_clip)
    assert result.media.frames == 40 and result.label == "NO_FACE"


def test_high_fps_clip_is_refused(tmp_path):
    scorer = stub_scorer(tmp_path, detector=StubDetector())
    clip = noise_clip(tmp_path / "fast.mp4", 60, 64, 500)
    with pytest.raises(ScoringError) as err:
        scorer.score_video(clip)
    assert (err.value.status, err.value.error) == (422, "fps_too_high") and "fast.mp4" in err.value.detail


def test_clip_over_the_frame_cap_is_refused(tmp_path):
    scorer = stub_scorer(tmp_path, detector=StubDetector(), max_frames=30)
    clip = noise_clip(tmp_path / "many.mp4", 40, 64, 10)
    with pytest.raises(ScoringError) as err:
        scorer.score_video(clip)
    assert (err.value.status, err.value.error) == (422, "too_many_frames") and "30" in err.value.detail


def test_deadline_stops_decode_and_detect_early(tmp_path):
    detector = StubDetector(seconds_per_call=0.25)  # 16 sampled frames, one per call: 4 s in all
    scorer = stub_scorer(tmp_path, detector=detector, detect_batch=1, deadline_s=0.6)
    clip = noise_clip(tmp_path / "slow.mp4", 200, 64, 25)
    t0 = time.perf_counter()
    with pytest.raises(ScoringError) as err:
        scorer.score_video(clip)
    elapsed = time.perf_counter() - t0
    assert (err.value.status, err.value.error) == (504, "deadline_exceeded") and "slow.mp4" in err.value.detail
    assert elapsed < 2.0 and detector.calls < 16, (elapsed, detector.calls)
    time.sleep(0.5)
    assert not [t for t in threading.enumerate() if t.name == "decode"], "the decode thread kept going"


def _refusal(scorer, clip):
    with pytest.raises(ScoringError) as err:
        scorer.score_video(clip)
    return err.value


@pytest.mark.parametrize("suffix", [".avi", ".mkv"])
def test_a_frame_larger_than_the_header_is_refused_naming_it(tmp_path, suffix):
    """Two of 40 packets are 12000x12000 JPEGs behind a 640x480 header (they answered 200 before)."""
    clip = mjpeg_clip(tmp_path / f"bomb{suffix}", sizes={10: (12000, 12000), 30: (12000, 12000)})
    err = _refusal(stub_scorer(tmp_path, detector=StubDetector()), clip)
    assert (err.status, err.error) == (422, "resolution_too_large"), err.to_dict()
    assert f"bomb{suffix}" in err.detail and "frame 10" in err.detail and "40000000" in err.detail


@pytest.mark.parametrize("suffix", [".avi", ".mkv"])
def test_a_frame_of_another_size_than_the_header_is_refused(tmp_path, suffix):
    clip = mjpeg_clip(tmp_path / f"shifty{suffix}", sizes={30: (1280, 960)})
    err = _refusal(stub_scorer(tmp_path, detector=StubDetector()), clip)
    assert (err.status, err.error) == (422, "frame_size_changed"), err.to_dict()
    assert f"shifty{suffix}" in err.detail and "frame 30 decodes as 1280x960" in err.detail
    assert "640x480" in err.detail


def test_many_large_frames_stop_at_the_request_pixel_budget(tmp_path):
    """4000x3000 frames decode at 1920x1440 (extract.decode_max_side); 20 Mpx hold 7 of them."""
    clip = mjpeg_clip(tmp_path / "big.avi", header=(4000, 3000))
    err = _refusal(stub_scorer(tmp_path, detector=StubDetector(), max_request_pixels=20_000_000), clip)
    assert (err.status, err.error) == (413, "pixel_budget"), err.to_dict()
    assert "big.avi" in err.detail and "(1920x1440)" in err.detail and "serve.max_request_pixels" in err.detail


def test_frames_over_decode_max_side_are_downscaled_by_the_decoder(tmp_path):
    from deepfake_detect.media.sampler import Sampling, iter_sample_frames

    clip = mjpeg_clip(tmp_path / "big.mkv", header=(4000, 3000), frames=12)
    frames = list(iter_sample_frames(clip, Sampling(4, max_side=1920)))
    assert [f.shape for _, f in frames] == [(1440, 1920, 3)] * 4


class QuarterBoxDetector(StubDetector):
    """Finds one face: the box from a quarter to half of the image it is given, each side."""

    def detect_batch(self, images, min_size=None):
        from deepfake_detect.faces.box import Face

        return [[Face(im.shape[1] // 4, im.shape[0] // 4, im.shape[1] // 4, im.shape[0] // 4, 0.99)] for im in images]


def test_boxes_of_a_downscaled_clip_are_in_its_own_pixels(tmp_path):
    """Decoded at 1920x1440, found at 640x480: the answer's boxes are still 4000x3000 pixels."""
    scorer = stub_scorer(tmp_path, detector=QuarterBoxDetector())
    result = scorer.score_video(mjpeg_clip(tmp_path / "big.avi", header=(4000, 3000), frames=20))
    boxes = [face.box for frame in result.frames for face in frame.faces] + [result.people[0].box]
    assert len(boxes) == 21, result
    for box in boxes:
        assert all(abs(v - want) <= 3 for v, want in zip(box, [1000, 750, 1000, 750], strict=True)), box


_DECODE_IN_A_CHILD = """
import resource, sys
from deepfake_detect.config import load_params
from deepfake_detect.media.checks import upload_sampling
from deepfake_detect.media.sampler import FrameSizeError, iter_sample_frames
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
try:
    list(iter_sample_frames(sys.argv[1], upload_sampling(load_params(sys.argv[2]))))
except FrameSizeError as exc:
    print(exc.kind)
print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base) // 1024)
"""


def test_a_144_mpx_frame_never_grows_the_worker(tmp_path):
    """The decoder itself refuses to allocate the picture (FFmpeg max_pixels = serve.max_pixels)."""
    clip = mjpeg_clip(tmp_path / "bomb.avi", sizes={i: (12000, 12000) for i in range(5, 40, 5)})
    params = write_test_params(tmp_path)
    env = {"PYTHONPATH": str(ROOT / "src"), "PATH": ""}
    out = subprocess.run(
        [sys.executable, "-c", _DECODE_IN_A_CHILD, str(clip), str(params)], capture_output=True, text=True, env=env
    )
    assert out.returncode == 0, out.stderr
    kind, grew_mb = out.stdout.split()
    assert kind == "too_large" and int(grew_mb) < 60, out.stdout


@pytest.fixture(scope="module")
def deep_png(tmp_path_factory):
    """An 8000x5000 16-bit RGBA PNG (a few hundred KB on disk: flat colour compresses well)."""
    path = tmp_path_factory.mktemp("deep") / "deep.png"
    img = np.zeros((5000, 8000, 4), np.uint16)
    img[..., :3], img[..., 3] = 30_000, 65_535
    cv2.imwrite(str(path), img, [cv2.IMWRITE_PNG_COMPRESSION, 1])
    del img
    return path


def test_deep_image_decodes_to_8_bit_without_big_copies(tmp_path, deep_png):
    scorer = stub_scorer(tmp_path, detector=StubDetector())
    tracemalloc.start()
    try:
        rgb, channels = read_image(deep_png, "deep.png", scorer.params)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert rgb.dtype == np.uint8 and rgb.shape == (5000, 8000, 3) and channels == 4
    assert abs(int(rgb[0, 0, 0]) - 30_000 / 257) <= 1  # the high byte, as libpng strips 16 to 8 bits
    assert peak < 2.2 * rgb.nbytes, f"peak {peak / 1e6:.0f} MB for a {rgb.nbytes / 1e6:.0f} MB image"


def test_request_pixel_budget_refuses_the_rest(tmp_path):
    scorer = stub_scorer(tmp_path, detector=StubDetector(), max_request_pixels=2_000_000)
    paths = []
    for i in range(3):
        paths.append(tmp_path / f"p{i}.png")
        cv2.imwrite(str(paths[-1]), np.full((800, 1000, 3), 100, np.uint8))
    results = scorer.score_images(paths)
    assert [getattr(r, "status", None) for r in results] == [None, None, 413]
    assert results[2].error == "pixel_budget" and "p2.png" in results[2].detail


BAD_CASES = [
    "non_media",
    "truncated",
    "corrupt",
    "unsupported_codec",
    "image_as_video",
    "video_as_image",
    "truncated_image",
    "too_wide",
]


def test_error_details_never_show_the_server_path(tmp_path):
    scorer = stub_scorer(tmp_path, detector=StubDetector())
    bad = make_bad_inputs(tmp_path / "bad")
    uploads = tmp_path / "server-temp-dir"
    uploads.mkdir()
    for case in BAD_CASES:
        path, endpoint, status, error = bad[case]
        stored = uploads / f"tmpq1w2e3r4{path.name}"  # how BentoML stores an upload
        shutil.copy(path, stored)
        call = scorer.score_video if endpoint == "score_video" else scorer.score_image
        with pytest.raises(ScoringError) as err:
            call(stored, path.name)
        assert (err.value.status, err.value.error) == (status, error), (case, err.value.to_dict())
        assert path.name in err.value.detail, case
        assert str(uploads) not in err.value.detail and "tmpq1w2e3r4" not in err.value.detail, err.value.detail


def test_explain_on_a_non_keras_model_is_422(tmp_path):
    def remote_explain(crops):  # what the model service does for a scikit-learn model: an error, a 500
        raise RuntimeError("500 Internal Server Error")

    scorer = stub_scorer(tmp_path, detector=StubDetector(), family="sklearn", explain_fn=remote_explain)
    image = tmp_path / "face.png"
    cv2.imwrite(str(image), np.full((120, 120, 3), 90, np.uint8))
    for call in (
        lambda: scorer.score_image(image, crop=True, explain=True),
        lambda: scorer.explain_pngs(image, crop=True),
    ):
        with pytest.raises(ScoringError) as err:
            call()
        assert (err.value.status, err.value.error) == (422, "explain_unavailable") and "sklearn" in err.value.detail


@pytest.mark.parametrize(
    ("serve", "field"),
    [
        ({"video_formats": ["mp4", "hls"]}, "serve.video_formats"),
        ({"deadline_s": 300}, "serve.deadline_s"),
        ({"request_log_days": 0}, None),
        ({"request_log_days": 1}, "serve.request_log_days"),
    ],
)
def test_unsafe_serve_settings_are_refused_naming_the_field(tmp_path, serve, field):
    import yaml
    from serving_kit import write_test_params

    from deepfake_detect.config import ConfigError, load_params

    path = write_test_params(tmp_path, **serve)
    raw = yaml.safe_load(path.read_text())
    raw["drift"]["window_days"] = 3  # the request log must keep what drift reads
    path.write_text(yaml.safe_dump(raw))
    if field is None:
        assert load_params(path).serve.request_log_days == 0
        return
    with pytest.raises(ConfigError, match=field.replace(".", r"\.")):
        load_params(path)


def test_a_disconnected_client_stops_its_request(tmp_path):
    """The request's work stops soon after its client goes away (not at the deadline): the probe the
    service passes is asked between frames and detector calls."""
    detector = StubDetector(seconds_per_call=0.25)  # 16 sampled frames, one per call: 4 s in all
    scorer = stub_scorer(tmp_path, detector=detector, detect_batch=1, deadline_s=60)
    clip = noise_clip(tmp_path / "gone.mp4", 200, 64, 25)
    gone_at = time.monotonic() + 0.5
    t0 = time.perf_counter()
    with pytest.raises(ScoringError) as err:
        scorer.score_video(clip, client_gone=lambda: time.monotonic() > gone_at)
    elapsed = time.perf_counter() - t0
    assert (err.value.status, err.value.error) == (499, "client_disconnected") and "gone.mp4" in err.value.detail
    assert elapsed < 2.0 and detector.calls < 16, (elapsed, detector.calls)
    time.sleep(0.5)
    assert not [t for t in threading.enumerate() if t.name == "decode"], "the decode thread kept going"


def test_a_short_request_never_asks_whether_its_client_is_gone():
    """Asking costs a hop to the server's event loop: the first ask comes serve.disconnect_poll_s in."""
    from deepfake_detect.media.checks import Deadline

    asked = []
    deadline = Deadline(60, client_gone=lambda: asked.append(time.monotonic()) or False, poll_s=0.3)
    for _ in range(100):  # a face crop's checks
        deadline.check("face.jpg", "decoding")
    assert asked == []
    time.sleep(0.35)
    deadline.check("face.jpg", "detecting faces")
    deadline.check("face.jpg", "detecting faces")
    assert len(asked) == 1  # then at most once every poll_s


def test_a_disconnected_client_stops_an_image_batch(tmp_path):
    detector = StubDetector(seconds_per_call=0.3)
    scorer = stub_scorer(tmp_path, detector=detector, deadline_s=60)
    images = []
    for i in range(10):
        cv2.imwrite(str(tmp_path / f"i{i}.png"), np.full((64, 64, 3), 20 * i, np.uint8))
        images.append(tmp_path / f"i{i}.png")
    gone_at = time.monotonic() + 0.4
    with pytest.raises(ScoringError) as err:
        scorer.score_images(images, client_gone=lambda: time.monotonic() > gone_at)
    assert (err.value.status, err.value.error) == (499, "client_disconnected")
    assert detector.calls < 10, detector.calls
