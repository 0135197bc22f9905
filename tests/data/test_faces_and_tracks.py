"""BlazeFace (the default detector) against MTCNN on real clips, close-ups, and face tracks → people."""

from __future__ import annotations

import numpy as np
import pytest

from deepfake_detect.config import Params, load_params
from deepfake_detect.faces.box import Face, crop_face, crop_window
from deepfake_detect.faces.clip import FaceCrop, assign_people, detect_and_crop
from deepfake_detect.faces.detect import face_settings, find_faces_batch, make_detector
from deepfake_detect.faces.tracks import TrackRule, iou, link
from deepfake_detect.media.video import sample_frames


@pytest.fixture(scope="module")
def params(repo_root) -> Params:
    return load_params(repo_root / "params.yaml")


@pytest.fixture(scope="module")
def blazeface():
    return make_detector("blazeface")


class _FloorProbe:
    """A detector that finds nothing and notes the smallest face size each call asks for."""

    name, crop_canvas = "probe", 1.0

    def __init__(self):
        self.asked: list[int] = []

    def detect(self, rgb, min_size):
        return self.detect_batch([rgb], min_size)[0]

    def detect_batch(self, images, min_size):
        self.asked.append(min_size)
        return [[] for _ in images]


def test_the_detector_looks_down_to_extract_min_detect_px(repo_root):
    """The floor is one setting (params.yaml's extract.min_detect_px), or min_face_size in detector
    pixels when that is larger; no detector has a default of its own."""
    for floor, min_face_size, expected in ((37, 10, 37), (12, 30, 15)):
        ep = load_params(
            repo_root / "params.yaml",
            {"extract": {"min_detect_px": floor, "min_face_size": min_face_size, "detect_max_side": 640}},
        ).extract
        probe = _FloorProbe()
        find_faces_batch(probe, [np.zeros((960, 1280, 3), np.uint8)], **face_settings(ep))  # detected at scale 0.5
        assert probe.asked == [expected]


def _astronaut() -> np.ndarray:
    from skimage import data

    return data.astronaut()


def test_blazeface_finds_the_astronaut_and_a_close_up_of_her(blazeface, params):
    rgb = _astronaut()
    kw = {
        "max_side": 640,
        "min_confidence": params.extract.face_threshold,
        "min_face_size": 40,
        "max_faces": 2,
        "min_detect_px": params.extract.min_detect_px,
    }
    (faces,) = find_faces_batch(blazeface, [rgb], **kw)
    assert len(faces) == 1
    face = faces[0]
    assert 150 < face.x + face.w / 2 < 260 and 60 < face.y + face.h / 2 < 170  # her face, not the flag
    close_up = crop_face(rgb, face, 0.0, 224)  # the face fills the image, as in a ready face crop
    (found,) = find_faces_batch(blazeface, [close_up], **kw)
    assert len(found) == 1 and found[0].confidence >= 0.7 and found[0].w < 224  # the canvas retry


@pytest.mark.slow
def test_blazeface_frames_the_faces_mtcnn_frames_on_every_shared_clip(shared_videos, blazeface, params):
    """On every sampled frame of every shared clip BlazeFace finds a face; where MTCNN finds the
    subject's face, BlazeFace finds the same one, and the square crop window training and serving
    cut around it is the same window (IoU of the windows). The subject is MTCNN's most confident
    face of at least 1.5x ``min_face_size``: its 40-50 px extras in these clips are a wall photo
    (yhffcuhhjy) and a skyline false positive (ffpp_004), and ffpp_004_982 shows a second, inset face."""
    mtcnn = make_detector("mtcnn")
    ep = params.extract
    kw = {
        "max_side": ep.detect_max_side,
        "min_face_size": ep.min_face_size,
        "max_faces": 2,
        "min_detect_px": ep.min_detect_px,
    }
    subject = 1.5 * ep.min_face_size
    for clip in sorted(shared_videos.glob("*.mp4")):
        frames = [rgb for _, rgb in sample_frames(clip, 8)]
        ours = find_faces_batch(blazeface, frames, min_confidence=ep.face_threshold, **kw)
        theirs = find_faces_batch(mtcnn, frames, min_confidence=ep.min_confidence["mtcnn"], **kw)
        assert all(ours), f"{clip.name}: BlazeFace missed a face in a sampled frame"
        overlaps = []
        for found, other in zip(ours, theirs, strict=True):
            big = [f for f in other if f.w >= subject]
            if big:
                b = max(big, key=lambda f: f.confidence)
                overlaps.append(max(iou(crop_window(a, ep.margin), crop_window(b, ep.margin)) for a in found))
        matched = np.mean(np.array(overlaps) > 0.5)
        assert len(overlaps) >= 4 and matched >= 0.85 and np.median(overlaps) > 0.6, (
            clip.name,
            overlaps,
        )


def _box(x: int, y: int, side: int = 50) -> Face:
    return Face(x, y, side, side, 0.9)


def test_link_keeps_two_people_apart_while_they_move():
    rule = TrackRule(min_iou=0.3, max_shift=1.0)
    frames = [[_box(10 + 8 * t, 20), _box(300 - 8 * t, 30)] for t in range(6)]
    frames[2] = frames[2][::-1]  # the detector's order changes between frames
    frames[4] = frames[4][:1]  # one person missed in a frame
    ids = link(frames, rule)
    assert ids[0] == [0, 1] and ids[2] == [1, 0] and ids[4] == [0]
    assert all(i == [0, 1] for k, i in enumerate(ids) if k not in (2, 4))


def test_link_starts_a_new_person_far_away_and_never_gives_one_track_two_faces():
    rule = TrackRule(min_iou=0.3, max_shift=1.0)
    ids = link([[_box(0, 0)], [_box(2, 0), _box(4, 0)], [_box(400, 400)]], rule)
    assert ids == [[0], [0, 1], [2]]


def test_assign_people_on_a_two_person_clip(blazeface, params):
    """The astronaut twice side by side, moving: two people, each seen in every frame."""
    rgb = _astronaut()[:300, 100:400]
    frames = []
    for t in range(5):
        frame = np.zeros((360, 900, 3), np.uint8)
        frame[30 : 30 + 300, 20 + 6 * t : 320 + 6 * t] = rgb
        frame[30 : 30 + 300, 580 - 6 * t : 880 - 6 * t] = rgb
        frames.append((t, frame))
    faces: list[FaceCrop] = assign_people(detect_and_crop(blazeface, frames, params.extract), params.extract)
    assert len(faces) == 10
    people = {p: [f for f in faces if f.person == p] for p in {f.person for f in faces}}
    assert sorted(people) == [0, 1]
    assert all(len({f.frame for f in group}) == 5 for group in people.values())
    left, right = (np.mean([f.box[0] for f in people[p]]) for p in (0, 1))
    assert abs(left - right) > 300  # each person keeps their own side


@pytest.mark.parametrize("shape", [(360, 640), (640, 360), (480, 640), (1080, 1920), (333, 500), (100, 150)])
def test_blazeface_letterbox_is_the_padded_square_resized(shape):
    """Resizing before padding (the cheap way, when the pads fall on whole model pixels) gives the
    very picture of padding the full square first and resizing it."""
    import cv2

    from deepfake_detect.faces.blazeface import INPUT_SIDE, letterbox

    rgb = cv2.resize(_astronaut(), shape[::-1], interpolation=cv2.INTER_AREA)
    h, w = shape
    side = max(h, w)
    top, left = (side - h) // 2, (side - w) // 2
    square = cv2.copyMakeBorder(rgb, top, side - h - top, left, side - w - left, cv2.BORDER_CONSTANT, value=0)
    interp = cv2.INTER_AREA if side > INPUT_SIDE else cv2.INTER_LINEAR
    expected = cv2.resize(square, (INPUT_SIDE, INPUT_SIDE), interpolation=interp).astype(np.float32) / 127.5 - 1.0
    image, (scale, pad_x, pad_y) = letterbox(rgb)
    np.testing.assert_array_equal(image, expected)
    assert (scale, pad_x, pad_y) == (side / INPUT_SIDE, left, top)
