"""Data sources (layout detection, labels, groups) and clip reading, including bad files."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from deepfake_detect.data.identity import dataset_of, ffpp_people, identity_groups
from deepfake_detect.data.sources import LayoutError, detect_layout, list_clips, list_ready_crops, source_parts
from deepfake_detect.media.sampler import MIN_SPACING, Sampling, iter_sample_frames
from deepfake_detect.media.video import VideoError, probe, sample_frames, sample_indices


def test_sample_is_dfdc_layout_with_groups(tiny_sample: Path):
    assert detect_layout(tiny_sample) == "dfdc_videos"
    meta = json.loads((tiny_sample / "metadata.json").read_text())
    clips, rejects = list_clips(tiny_sample)
    assert rejects == []
    assert len(clips) == len(meta) == 6
    for clip in clips:
        if clip.label == "FAKE":
            assert clip.group == meta[clip.video]["original"]
            assert meta[clip.group]["label"] == "REAL"
        else:
            assert clip.group == clip.video


def test_unknown_layout_names_the_folder(tmp_path: Path):
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(LayoutError, match=str(tmp_path)):
        detect_layout(tmp_path)
    with pytest.raises(LayoutError, match="not found"):
        detect_layout(tmp_path / "missing")


def test_bad_metadata_rows_become_rejects(tiny_sample: Path, tmp_path: Path):
    raw = tmp_path / "raw"
    shutil.copytree(tiny_sample, raw)
    meta = json.loads((raw / "metadata.json").read_text())
    first, second = sorted(meta)[:2]
    meta[first]["label"] = "MAYBE"  # wrong label
    meta["ghost.mp4"] = {"label": "REAL", "original": None}  # listed, no file
    (raw / "metadata.json").write_text(json.dumps(meta))
    shutil.copy(raw / second, raw / "stray.mp4")  # file with no metadata
    clips, rejects = list_clips(raw)
    reasons = {r.video: r.reason for r in rejects}
    assert "is not REAL or FAKE" in reasons[first]
    assert "missing" in reasons["ghost.mp4"]
    assert "not listed" in reasons["stray.mp4"]
    assert len(clips) == len(meta) - 2


def test_part_folders_are_found(tiny_sample: Path, tmp_path: Path):
    raw = tmp_path / "raw"
    meta = json.loads((tiny_sample / "metadata.json").read_text())
    names = sorted(meta)
    for part, chosen in (("dfdc_train_part_0", names[:3]), ("dfdc_train_part_1", names[3:])):
        (raw / part).mkdir(parents=True)
        for n in chosen:
            shutil.copy(tiny_sample / n, raw / part / n)
        (raw / part / "metadata.json").write_text(json.dumps({n: meta[n] for n in chosen}))
    assert detect_layout(raw) == "dfdc_videos"
    clips, _ = list_clips(raw)
    assert {c.part for c in clips} == {"dfdc_train_part_0", "dfdc_train_part_1"}
    only, _ = list_clips(raw, part="dfdc_train_part_1")
    assert {c.video for c in only} == set(names[3:])
    with pytest.raises(LayoutError, match="no part folder"):
        list_clips(raw, part="dfdc_train_part_9")


def test_ffpp_originals_resolve_to_the_real_clip(shared_videos: Path):
    clips, rejects = list_clips(shared_videos)
    assert rejects == []
    groups = {c.video: c.group for c in clips}
    assert groups["ffpp_004_982.mp4"] == "ffpp_004.mp4" == groups["ffpp_004.mp4"]
    assert groups["brtujopkby.mp4"] == "gnmmhlbzge.mp4"  # DFDC: original not in the slice, still its group


def test_deepfake_faces_layout(shared_faces: Path):
    """Every row of the folder's own metadata.csv becomes a crop or a reject, with its label: the
    counts are read from the data (the shared slice grows), never written into the test."""
    meta = pd.read_csv(shared_faces / "metadata.csv")
    assert detect_layout(shared_faces) == "deepfake_faces"
    crops, rejects = list_ready_crops(shared_faces)
    assert len(crops) + len(rejects) == len(meta) and rejects == []
    fakes = [c for c in crops if c.label == "FAKE"]
    reals = {c.video for c in crops if c.label == "REAL"}
    assert len(fakes) == int((meta.label == "FAKE").sum())
    assert len(reals) == int((meta.label == "REAL").sum()) > 0
    paired = sum(c.group in reals for c in fakes)
    assert paired > len(fakes) / 2  # most fakes have their original in the slice


def test_sample_indices_are_even_and_bounded():
    assert sample_indices(300, 4) == [0, 100, 199, 299]
    assert sample_indices(3, 8) == [0, 1, 2]
    assert sample_indices(0, 2) == [0, 1]


def test_sample_frames_reads_sampled_frames(tiny_sample: Path):
    clip = sorted(tiny_sample.glob("*.mp4"))[0]
    info = probe(clip)
    assert (info.width, info.height, info.frames) == (240, 180, 10)
    frames = sample_frames(clip, 4)
    assert [i for i, _ in frames] == sample_indices(10, 4)
    assert all(f.shape == (180, 240, 3) and f.dtype == np.uint8 for _, f in frames)


@pytest.mark.parametrize(
    ("content", "reason"),
    [(b"", "empty file"), (b"this is not a video at all" * 20, "not a readable video")],
)
def test_bad_clip_raises_video_error_naming_the_file(tmp_path: Path, content: bytes, reason: str):
    path = tmp_path / "bad.mp4"
    path.write_bytes(content)
    with pytest.raises(VideoError, match=reason) as err:
        sample_frames(path, 4)
    assert "bad.mp4" in str(err.value)


def test_truncated_clip_yields_what_precedes_the_damage_or_a_clear_error(tiny_sample: Path, tmp_path: Path):
    clip = sorted(tiny_sample.glob("*.mp4"))[0]
    data = clip.read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) // 3])
    try:
        frames = sample_frames(cut, 4)
    except VideoError as exc:
        assert "cut.mp4" in str(exc)
    else:
        assert 0 < len(frames) <= 4


def test_exact_sampling_returns_the_plain_forward_frames(tiny_sample: Path, shared_videos: Path):
    """extract.sampling = exact: the old sampler's frames, the same as the plain forward decode."""
    clips = [sorted(tiny_sample.glob("*.mp4"))[0], shared_videos / "ffpp_004_982.mp4"]
    for clip in clips:
        plain, skipping = sample_frames(clip, 6), list(iter_sample_frames(clip, Sampling(6, "exact")))
        assert [i for i, _ in plain] == [i for i, _ in skipping]
        assert all(np.array_equal(a, b) for (_, a), (_, b) in zip(plain, skipping, strict=True))


@pytest.mark.parametrize(
    ("video", "people"),
    [
        ("youtube_033.mp4", ("yt033",)),
        ("ffpp_004.mp4", ("yt004",)),
        ("Deepfakes_033_097.mp4", ("yt033", "yt097")),
        ("ffpp_004_982.mp4", ("yt004", "yt982")),
        ("NeuralTextures_942_943.mp4", ("yt942", "yt943")),
        ("actors_22__outside_talking_still_laughing.mp4", ("actor022",)),
        ("DeepFakeDetection_22_23__outside_talking_still_laughing__W9MT3Q5K.mp4", ("actor022", "actor023")),
        ("aabqyygbaa.mp4", ()),
        ("youtube_clip.mp4", ()),
    ],
)
def test_ffpp_names_say_which_people_a_clip_shows(video, people):
    assert ffpp_people(video) == people


def test_groups_join_every_clip_that_shows_a_person():
    """A swap's source person is in the fake: his own REAL clip and every other swap of his face
    share one group with the target's, so no split can put that face on two sides."""
    videos = [
        "youtube_033.mp4",
        "youtube_097.mp4",
        "Deepfakes_033_097.mp4",
        "Face2Face_097_033.mp4",
        "abc.mp4",
        "x.mp4",
    ]
    groups = ["youtube_033.mp4", "youtube_097.mp4", "youtube_033.mp4", "youtube_097.mp4", "abc.mp4", "abc.mp4"]
    joined = identity_groups(videos, groups)
    assert len(set(joined[:4])) == 1 and joined[0] in groups[:4]
    assert joined[4:] == ["abc.mp4", "abc.mp4"]  # DFDC groups are kept as they are


def test_dataset_comes_from_the_metadata_or_the_name():
    assert dataset_of("x.mp4", {"dataset": "ffpp_c23"}) == "ffpp"
    assert dataset_of("ffpp_004.mp4") == dataset_of("youtube_001.mp4") == "ffpp"
    assert dataset_of("aabqyygbaa.mp4") == "dfdc"
    assert dataset_of("x.mp4", {"dataset": "sample"}) == "sample"


def test_a_folder_of_sources_is_one_mixed_dataset(tiny_sample: Path, tmp_path: Path):
    """Ready crops and clips side by side (as ../shared/data holds them): each sub-folder is a part
    with its own layout, and FF++ names count as FF++."""
    raw = tmp_path / "raw"
    shutil.copytree(tiny_sample, raw / "clips")
    faces = raw / "crops"
    (faces / "faces_224").mkdir(parents=True)
    img = np.full((32, 32, 3), 128, np.uint8)
    for name in ("r1", "f1"):
        Image.fromarray(img).save(faces / "faces_224" / f"{name}.jpg")
    (faces / "metadata.csv").write_text("videoname,label,original\nr1.mp4,REAL,\nf1.mp4,FAKE,r1.mp4\n")
    (raw / "notes").mkdir()
    assert detect_layout(raw) == "mixed"
    assert [(n, layout) for n, _, layout in source_parts(raw)] == [
        ("clips", "dfdc_videos"),
        ("crops", "deepfake_faces"),
    ]
    clips, _ = list_clips(raw)
    assert {c.part for c in clips} == {"clips"} and {c.dataset for c in clips} == {"sample"}
    crops, _ = list_ready_crops(faces)
    assert {c.dataset for c in crops} == {"dfdc"} and {c.group for c in crops} == {"r1.mp4"}


def test_shared_sources_listed_together(shared_root: Path):
    parts = {n: layout for n, _, layout in source_parts(shared_root)}
    assert parts == {"deepfake-faces": "deepfake_faces", "ffpp-c23": "dfdc_videos", "videos": "dfdc_videos"}
    clips, rejects = list_clips(shared_root)
    ffpp = [c for c in clips if c.part == "ffpp-c23"]
    assert rejects == [] and {c.dataset for c in ffpp} == {"ffpp"}
    assert {c.dataset for c in clips if c.video == "brtujopkby.mp4"} == {"dfdc"}


MAX_DISTANCE = 2  # frames between a nearest-reference frame and its evenly spaced index (measured: 1)


@pytest.mark.parametrize("n", [8, 32])
def test_nearest_reference_frames_are_near_the_evenly_spaced_ones(shared_videos: Path, n: int):
    for clip in sorted(shared_videos.glob("*.mp4")):
        wanted = sample_indices(probe(clip).frames, n)
        taken = [i for i, _ in iter_sample_frames(clip, Sampling(n, "nearest_reference"))]
        assert len(taken) == len(wanted) and taken == sorted(taken), clip.name
        far = [(w, t) for w, t in zip(wanted, taken, strict=True) if abs(w - t) > MAX_DISTANCE]
        assert not far, (clip.name, far)


def test_dense_sampling_decodes_the_exact_frames(tiny_sample: Path):
    """Fewer than MIN_SPACING frames between samples: the reference frames alone would be too few."""
    clip = sorted(tiny_sample.glob("*.mp4"))[0]
    assert probe(clip).frames < MIN_SPACING * 4
    frames = list(iter_sample_frames(clip, Sampling(4, "nearest_reference")))
    assert [i for i, _ in frames] == sample_indices(10, 4)


def test_sampler_hands_the_detector_the_decoders_shrink(tmp_path: Path):
    """With ``detect_side`` each frame brings its shrink to the detector's size, made by the decoder:
    the size OpenCV's shrink has and nearly its pixels; a frame already that small is its own shrink."""
    import cv2
    from skimage import data

    from deepfake_detect.media.codec import write_clip
    from deepfake_detect.media.images import shrink_size

    base = cv2.resize(data.astronaut(), (1280, 720), interpolation=cv2.INTER_CUBIC)
    clip = write_clip(tmp_path / "wide.mp4", [np.roll(base, 4 * t, axis=1) for t in range(8)], fps=8)
    frames = list(iter_sample_frames(clip, Sampling(4, detect_side=640)))
    assert len(frames) == 4
    for f in frames:
        w, h, _ = shrink_size(1280, 720, 640)
        assert f.small.shape == (h, w, 3) == (360, 640, 3)
        opencv = cv2.resize(f.rgb, (w, h), interpolation=cv2.INTER_AREA)
        assert np.abs(f.small.astype(int) - opencv).mean() < 1.5  # measured 0.8 on the DFDC clips
    assert all(f.small is None for f in iter_sample_frames(clip, Sampling(4)))
    big = list(iter_sample_frames(clip, Sampling(4, detect_side=2000)))
    assert all(f.small is f.rgb for f in big)
    index, rgb = big[0]  # a sampled frame unpacks as (index, rgb), as the sampler's frames always did
    assert index == 0 and rgb is big[0].rgb
