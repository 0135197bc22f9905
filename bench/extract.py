"""Benchmark face finding in the extract stage on real data: ours vs the naive way vs the floor,
BlazeFace vs MTCNN, all in one run on the same clips and crops.

    python bench/extract.py [--videos ../shared/data/videos] [--faces ../shared/data/deepfake-faces]

Clips (``extract.frames_per_video`` frames per clip, settings from params.yaml):

* floor        decode-only: the stage's sampler (``media.sampler``, ``extract.sampling``) without detection
* ours         the stage's per-clip path (``clipfaces``): sampler + detection on frames downscaled to
               ``extract.detect_max_side`` + crops + tracks; once with BlazeFace, once with MTCNN
* no skip      ours with ``sample_frames`` (every frame up to the last sampled one decoded)
* naive        decode every frame and run MTCNN on every frame at full resolution (detection timed on
               ``--naive-detect-frames`` frames per clip and extrapolated, said in the output)

Detector agreement per clip: frames where each finds a face, the median IoU of BlazeFace's box and
of the square crop window (what training and serving cut) with MTCNN's most confident face.

Ready crops (``--faces``): the real extract stage over the Kaggle deepfake-faces folder with
verification on (``verify_ready_crops``), once per detector, in a temp workspace: seconds and the
share of crops where no face scores ``extract.min_confidence``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from deepfake_detect.config import Params, load_params
from deepfake_detect.faces.box import crop_window
from deepfake_detect.faces.clip import assign_people, detect_and_crop
from deepfake_detect.faces.detect import face_settings, find_faces, find_faces_batch, make_detector
from deepfake_detect.faces.tracks import iou
from deepfake_detect.media.sampler import Sampling, iter_sample_frames
from deepfake_detect.media.video import decode_all_frames, probe, sample_frames

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"


def with_detector(params: Params, name: str) -> Params:
    return params.model_copy(update={"extract": params.extract.model_copy(update={"detector": name})})


def agreement(clips: list[Path], params: Params, detectors: dict, n: int) -> list[dict]:
    ep = params.extract
    rows = []
    for clip in clips:
        frames = [rgb for _, rgb in sample_frames(clip, n)]
        found = {
            name: find_faces_batch(det, frames, **face_settings(with_detector(params, name).extract))
            for name, det in detectors.items()
        }
        box_iou, window_iou = [], []
        for ours, theirs in zip(found["blazeface"], found["mtcnn"], strict=True):
            if ours and theirs:
                ref = max(theirs, key=lambda f: f.confidence)
                box_iou.append(max(iou(a, ref) for a in ours))
                window_iou.append(max(iou(crop_window(a, ep.margin), crop_window(ref, ep.margin)) for a in ours))
        rows.append(
            {
                "clip": clip.name,
                "frames": len(frames),
                "blazeface_frames_with_face": sum(bool(f) for f in found["blazeface"]),
                "mtcnn_frames_with_face": sum(bool(f) for f in found["mtcnn"]),
                "blazeface_faces": sum(len(f) for f in found["blazeface"]),
                "mtcnn_faces": sum(len(f) for f in found["mtcnn"]),
                "median_box_iou": round(statistics.median(box_iou), 3) if box_iou else None,
                "median_window_iou": round(statistics.median(window_iou), 3) if window_iou else None,
            }
        )
    return rows


def ready_crops_run(faces: Path, params: Params, detector: str) -> dict:
    """The real extract stage over a deepfake-faces folder, verification on, in a temp workspace."""
    import pandas as pd

    from deepfake_detect.pipeline.extract import run_extract

    work = Path(tempfile.mkdtemp(prefix=f"bench-extract-{detector}-"))
    p = with_detector(params, detector)
    ep = p.extract.model_copy(
        update={
            "out_dir": work / "faces",
            "parts_dir": work / "parts",
            "manifest": work / "manifest.csv",
            "rejects": work / "rejects.csv",
            "verify_ready_crops": True,
        }
    )
    p = p.model_copy(update={"extract": ep, "data": p.data.model_copy(update={"raw_dir": faces})})
    t0 = time.perf_counter()
    manifest, _ = run_extract(p)
    seconds = time.perf_counter() - t0
    no_face = float((pd.to_numeric(manifest["confidence"]) == 0).mean())
    return {"detector": detector, "crops": len(manifest), "seconds": round(seconds, 1), "no_face_rate": no_face}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--videos", type=Path, default=SHARED / "videos")
    ap.add_argument("--faces", type=Path, default=SHARED / "deepfake-faces", help="'' to skip the ready crops")
    ap.add_argument("--naive-detect-frames", type=int, default=12)
    ap.add_argument("--agreement-frames", type=int, default=32, help="frames per clip for the detector agreement")
    ap.add_argument("--max-clips", type=int, default=0, help="only the first N clips (0 = all; tiny runs)")
    ap.add_argument("--json", type=Path, default=ROOT / "bench" / "results" / "extract.json")
    args = ap.parse_args()

    params = load_params(ROOT / "params.yaml")
    n = params.extract.frames_per_video
    clips = sorted(args.videos.glob("*.mp4"))[: args.max_clips or None]
    if not clips:
        raise SystemExit(f"{args.videos}: no .mp4 clips to benchmark")
    detectors = {name: make_detector(name) for name in ("blazeface", "mtcnn")}
    for name, det in detectors.items():  # warm-up: graph tracing is not per-clip cost
        find_faces_batch(det, [sample_frames(clips[0], 1)[0][1]], **face_settings(with_detector(params, name).extract))
    total_frames = sum(probe(c).frames for c in clips)
    results: dict = {"cpu_count": os.cpu_count(), "clips": len(clips), "frames_per_clip": n, "rows": {}}

    def record(name: str, seconds: float, frames: int, faces: int, note: str = "") -> None:
        results["rows"][name] = {
            "seconds": round(seconds, 2),
            "clips_per_s": round(len(clips) / seconds, 3),
            "frames_per_s": round(frames / seconds, 2),
            "faces": faces,
            "note": note,
        }
        print(f"{name:<18} {seconds:7.1f} s  {len(clips) / seconds:6.3f} clips/s  faces={faces}  {note}", flush=True)

    print(f"{len(clips)} clips, {total_frames} frames in all, {n} sampled per clip, {os.cpu_count()} CPU cores\n")
    t0 = time.perf_counter()
    sampling = Sampling.of(params.extract, n, None)
    sampled = sum(len(list(iter_sample_frames(c, sampling))) for c in clips)
    record("floor", time.perf_counter() - t0, sampled, 0, "the sampler's decode only")
    readers = {"ours": lambda c: list(iter_sample_frames(c, sampling)), "no skip": lambda c: sample_frames(c, n)}
    for label, reader, det in (
        ("ours, blazeface", readers["ours"], "blazeface"),
        ("ours, mtcnn", readers["ours"], "mtcnn"),
        ("no skip, blazeface", readers["no skip"], "blazeface"),
    ):
        ep = with_detector(params, det).extract
        t0 = time.perf_counter()
        frames_n = faces = 0
        for c in clips:
            frames = reader(c)
            faces += len(assign_people(detect_and_crop(detectors[det], frames, ep), ep))
            frames_n += len(frames)
        record(label, time.perf_counter() - t0, frames_n, faces, "decode + detect + crop + track")

    decode_s = detect_s = 0.0
    detect_frames = naive_faces = 0
    kw = face_settings(with_detector(params, "mtcnn").extract)
    for c in clips:
        t0 = time.perf_counter()
        frames = decode_all_frames(c)
        decode_s += time.perf_counter() - t0
        timed = frames[:: max(1, len(frames) // args.naive_detect_frames)][: args.naive_detect_frames]
        t0 = time.perf_counter()
        for _, f in timed:
            naive_faces += len(find_faces(detectors["mtcnn"], f, **{**kw, "max_side": max(f.shape[:2])}))
        detect_s += (time.perf_counter() - t0) / len(timed) * len(frames)
        detect_frames += len(timed)
    record(
        "naive",
        decode_s + detect_s,
        total_frames,
        naive_faces,
        f"decode all ({decode_s:.1f} s) + full-res MTCNN every frame ({detect_s:.0f} s, from {detect_frames} frames)",
    )
    rows = results["rows"]
    ours, floor = rows["ours, blazeface"]["seconds"], rows["floor"]["seconds"]
    print(
        f"\nours (BlazeFace) runs at {floor / ours:.2f}x the decode floor's speed, "
        f"{rows['ours, mtcnn']['seconds'] / ours:.1f}x faster than with MTCNN, "
        f"{rows['naive']['seconds'] / ours:.0f}x faster than naive"
    )

    results["agreement"] = agreement(clips, params, detectors, args.agreement_frames)
    print("\n| clip | frames | BlazeFace frames with a face | MTCNN | faces BF / MTCNN | median box IoU | window IoU |")
    print("|---|---|---|---|---|---|---|")
    for r in results["agreement"]:
        print(
            f"| {r['clip']} | {r['frames']} | {r['blazeface_frames_with_face']} | {r['mtcnn_frames_with_face']} | "
            f"{r['blazeface_faces']} / {r['mtcnn_faces']} | {r['median_box_iou']} | {r['median_window_iou']} |"
        )
    if str(args.faces) and (args.faces / "metadata.csv").exists():
        results["ready_crops"] = [ready_crops_run(args.faces, params, d) for d in ("blazeface", "mtcnn")]
        print("\n| extract on deepfake-faces, verification on | crops | seconds | no face |\n|---|---|---|---|")
        for r in results["ready_crops"]:
            print(f"| {r['detector']} | {r['crops']} | {r['seconds']} | {r['no_face_rate']:.2%} |")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
