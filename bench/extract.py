"""Benchmark the extract stage on real clips: ours vs the naive way vs the decode-only floor.

    python bench/extract.py [--videos ../shared/data/videos] [--frames 8] [--naive-detect-frames 12]

* ours         the stage's per-clip path (``iter_sample_frames``): decode forward to the last of N
               evenly spaced frames, never decoding unsampled non-reference frames, converting only
               the sampled ones; one batched MTCNN call on frames downscaled to 640 px
* no skip      the same with ``sample_frames`` (every frame up to the last sampled one decoded)
* floor        decode-only: the sampled frames' decode cost alone (no detection)
* naive        decode every frame and run MTCNN on every frame at full resolution. Full-resolution
               MTCNN on every 1080p frame takes minutes per clip, so its detection time is measured
               on ``--naive-detect-frames`` frames per clip and extrapolated to all frames (said
               in the output); its decode time is measured in full.

All in one process, one after the other, on the same clips; clips/s and frames/s printed side by side.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from deepfake_detect.faces import find_faces, find_faces_batch, make_detector
from deepfake_detect.video import decode_all_frames, iter_sample_frames, probe, sample_frames

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--videos", type=Path, default=ROOT.parent / "shared" / "data" / "videos")
    ap.add_argument("--frames", type=int, default=8, help="frames sampled per clip (extract.frames_per_video)")
    ap.add_argument("--max-side", type=int, default=640, help="detector input long side (extract.detect_max_side)")
    ap.add_argument(
        "--naive-detect-frames",
        type=int,
        default=12,
        help="frames per clip on which naive full-resolution detection is timed, then extrapolated",
    )
    ap.add_argument("--json", type=Path, help="also write the figures here")
    args = ap.parse_args()

    clips = sorted(args.videos.glob("*.mp4"))
    if not clips:
        raise SystemExit(f"{args.videos}: no .mp4 clips to benchmark")
    detector = make_detector("mtcnn")
    find_faces_batch(
        detector,
        [sample_frames(clips[0], 1)[0][1]],
        max_side=args.max_side,
        min_confidence=0.9,
        min_face_size=40,
        max_faces=2,
    )  # warm-up: graph tracing is not per-clip cost
    total_frames = sum(probe(c).frames for c in clips)
    kw = {"max_side": args.max_side, "min_confidence": 0.9, "min_face_size": 40, "max_faces": 2}
    results: dict[str, dict] = {}

    def record(name: str, seconds: float, frames: int, faces: int, note: str = "") -> None:
        results[name] = {
            "seconds": round(seconds, 2),
            "clips_per_s": round(len(clips) / seconds, 3),
            "frames_per_s": round(frames / seconds, 2),
            "faces": faces,
            "note": note,
        }
        print(
            f"{name:<12} {seconds:8.1f} s  {len(clips) / seconds:7.3f} clips/s  {frames / seconds:8.1f} frames/s"
            f"  faces={faces}  {note}",
            flush=True,
        )

    print(
        f"{len(clips)} clips, {total_frames} frames in all, {args.frames} sampled per clip, "
        f"{os.cpu_count()} CPU cores\n"
    )

    t0 = time.perf_counter()
    n = sum(len(list(iter_sample_frames(c, args.frames))) for c in clips)
    record("floor", time.perf_counter() - t0, n, 0, "our decode of the sampled frames only, no detection")

    for name, reader in (("no skip", sample_frames), ("ours", lambda c, k: list(iter_sample_frames(c, k)))):
        t0 = time.perf_counter()
        n = faces = 0
        for c in clips:
            frames = reader(c, args.frames)
            found = find_faces_batch(detector, [f for _, f in frames], **kw)
            n += len(frames)
            faces += sum(len(f) for f in found)
        record(name, time.perf_counter() - t0, n, faces, "decode + batched MTCNN at 640 px")

    decode_s = detect_s = 0.0
    detect_frames = naive_faces = 0
    for c in clips:
        t0 = time.perf_counter()
        frames = decode_all_frames(c)
        decode_s += time.perf_counter() - t0
        step = max(1, len(frames) // args.naive_detect_frames)
        timed = frames[::step][: args.naive_detect_frames]
        t0 = time.perf_counter()
        for _, f in timed:
            naive_faces += len(find_faces(detector, f, **{**kw, "max_side": max(f.shape[:2])}))
        per_frame = (time.perf_counter() - t0) / len(timed)
        detect_s += per_frame * len(frames)
        detect_frames += len(timed)
    record(
        "naive",
        decode_s + detect_s,
        total_frames,
        naive_faces,
        f"decode all ({decode_s:.1f} s measured) + full-res MTCNN on every frame "
        f"({detect_s:.0f} s, extrapolated from {detect_frames} frames)",
    )

    ours = results["ours"]["seconds"]
    print(
        f"\nours vs naive: {results['naive']['seconds'] / ours:.0f}x faster per clip; "
        f"ours vs decode floor: {ours / results['floor']['seconds']:.1f}x the floor"
    )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
