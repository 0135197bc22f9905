"""Bounded fuzz of the scoring path: byte-level mutations (fixed seed) of a valid mp4 and a valid
jpg, each through the function the service calls, with the real face detector. Every mutant must
answer a result or a 4xx ScoringError within the request deadline; nothing else may escape."""

from __future__ import annotations

import time

import cv2
import numpy as np
import pytest
from serving_kit import stub_scorer

from deepfake_detect.media.checks import ScoringError
from deepfake_detect.media.codec import write_clip

MUTANTS_PER_FILE = 100  # 200 in all
DEADLINE_S = 10.0
SLACK_S = 5.0  # one detector call in flight when the deadline passes is allowed to finish


def _mutate(data: bytes, rng: np.random.Generator) -> bytes:
    """One random byte-level mutation: flips, a random or zeroed span, a huge size field, a cut, a repeat."""
    buf = bytearray(data)
    at = int(rng.integers(0, len(buf)))
    span = int(rng.integers(1, 64))
    kind = int(rng.integers(0, 6))
    if kind == 0:
        for pos in rng.integers(0, len(buf), int(rng.integers(1, 20))):
            buf[pos] ^= 1 << int(rng.integers(0, 8))
    elif kind == 1:
        buf[at : at + span] = rng.bytes(span)
    elif kind == 2:
        buf[at : at + span] = bytes(span)
    elif kind == 3:
        buf[at : at + 4] = b"\xff\xff\xff\xff"
    elif kind == 4:
        del buf[at:]
    else:
        buf[at:at] = buf[at : at + span] * int(rng.integers(2, 50))
    return bytes(buf or b"\x00")


@pytest.fixture(scope="module")
def originals(tmp_path_factory):
    from skimage import data as skdata

    folder = tmp_path_factory.mktemp("fuzz")
    face = cv2.resize(skdata.astronaut(), (256, 256), interpolation=cv2.INTER_AREA)
    clip = write_clip(folder / "clip.mp4", [np.roll(face, 2 * i, axis=1) for i in range(20)], fps=10)
    jpg = folder / "face.jpg"
    cv2.imwrite(str(jpg), cv2.cvtColor(face, cv2.COLOR_RGB2BGR))
    return {"video": clip.read_bytes(), "image": jpg.read_bytes()}


def test_mutated_media_answer_a_result_or_a_4xx(tmp_path, originals):
    scorer = stub_scorer(tmp_path, deadline_s=DEADLINE_S)
    assert scorer.score_image(_write(tmp_path / "ok.jpg", originals["image"])).faces_found >= 1
    rng = np.random.default_rng(2026)
    outcomes: dict[str, int] = {}
    for i in range(MUTANTS_PER_FILE):
        for kind, suffix in (("video", ".mp4"), ("image", ".jpg")):
            path = _write(tmp_path / f"m{i}{suffix}", _mutate(originals[kind], rng))
            call = scorer.score_video if kind == "video" else scorer.score_image
            t0 = time.perf_counter()
            try:
                call(path)
                outcome = "200"
            except ScoringError as exc:
                assert 400 <= exc.status < 500, (path.name, exc.to_dict())
                outcome = exc.error
            elapsed = time.perf_counter() - t0
            assert elapsed < DEADLINE_S + SLACK_S, (path.name, elapsed)
            outcomes[f"{kind}:{outcome}"] = outcomes.get(f"{kind}:{outcome}", 0) + 1
            path.unlink()
    assert sum(outcomes.values()) == 2 * MUTANTS_PER_FILE
    print(outcomes)


def _write(path, data: bytes):
    path.write_bytes(data)
    return path
