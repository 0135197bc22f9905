"""Issue 22, item 1: a clip scores faster than it decodes. The decoder shrinks the detector's frames
and the model scores each detection batch while decoding goes on; neither may change what is found
or scored beyond noise."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from skimage import data

from deepfake_detect.config import load_params
from deepfake_detect.faces.clip import detect_and_crop
from deepfake_detect.faces.detect import make_detector
from deepfake_detect.media.codec import write_clip
from deepfake_detect.media.sampler import Sampling, iter_sample_frames
from deepfake_detect.scoring.scorer import Scorer, model_info

MAX_BOX_SHIFT = 8  # pixels of a 1080p frame: BlazeFace's boxes on the two shrinks differ by <= 6 (measured) ...
MEDIAN_BOX_SHIFT = 3  # ... and by 0-1.5 in the median (1% of a DFDC face's side)


@pytest.fixture(scope="module")
def astronaut_clip(tmp_path_factory) -> Path:
    """16 frames of 1280x720 with the astronaut's face drifting right: a face in every frame."""
    face = data.astronaut()[:320, 80:400]
    frames = []
    for t in range(16):
        frame = np.full((720, 1280, 3), 40, np.uint8)
        frame[200:520, 300 + 6 * t : 620 + 6 * t] = face
        frames.append(frame)
    return write_clip(tmp_path_factory.mktemp("astronaut") / "astronaut.mp4", frames, fps=16)


def test_scorer_scores_each_detection_batch_while_decoding_with_the_one_call_answer(
    repo_root, face_model, astronaut_clip
):
    params = load_params(repo_root / "params.yaml", {"serve": {"frames_per_video": 16, "detect_batch": 4}})
    calls: list[int] = []

    def score_fn(crops: np.ndarray):
        calls.append(len(crops))
        return face_model.score(crops)

    scorer = Scorer(params, model_info(face_model), score_fn)
    result = scorer.score_video(astronaut_clip)
    assert result.faces_found == 16 and calls == [4, 4, 4, 4]  # a model call per batch of four frames
    crops = [f for f in scorer.finder.video_faces(astronaut_clip, "again", *_timer_and_deadline(scorer))[2]]
    one_call, _ = face_model.score(np.stack([f.crop for f in crops]))
    per_face = [face.probability for frame in result.frames for face in frame.faces]
    np.testing.assert_allclose(per_face, one_call, atol=1e-5)


def _timer_and_deadline(scorer: Scorer):
    from deepfake_detect.scoring.uploads import Timer

    return Timer(), scorer._deadline()


def test_decoder_shrink_finds_the_same_faces_as_opencv_on_the_shared_clips(shared_videos: Path, repo_root):
    """Per clip, 8 frames: the faces found on the decoder's shrink are those found on OpenCV's (same
    count, boxes a few pixels apart at most), so crops and scores stay put."""
    ep = load_params(repo_root / "params.yaml").extract
    detector = make_detector("blazeface")
    for clip in sorted(shared_videos.glob("*.mp4")):
        frames = list(iter_sample_frames(clip, Sampling.of(ep, 8, None)))
        assert all(f.small is not None and max(f.small.shape[:2]) <= ep.detect_max_side for f in frames)
        shrunk = detect_and_crop(detector, frames, ep)
        opencv = detect_and_crop(detector, [(f.index, f.rgb) for f in frames], ep)
        assert [f.frame for f in shrunk] == [f.frame for f in opencv], clip.name
        shifts = [
            max(abs(a - b) for a, b in zip(x.box, y.box, strict=True)) for x, y in zip(shrunk, opencv, strict=True)
        ]
        assert np.median(shifts) <= MEDIAN_BOX_SHIFT and max(shifts) <= MAX_BOX_SHIFT, (clip.name, shifts)
