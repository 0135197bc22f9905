"""Benchmark the frame sampler's decoding on the shared 1080p DFDC clips, in one run:

    python bench/decode.py [--videos ../shared/data/videos] [--frames 32] [--repeats 3]

* decode all     every frame decoded (frame threads), none converted: what a sampler that decodes
                 the whole clip pays at least
* NONREF only    every reference frame decoded (``skip_frame = NONREF``), none converted: the floor
                 of ``extract.sampling = nearest_reference``
* exact          the sampler with ``extract.sampling = exact`` (the old frames: every reference frame
                 plus the sampled ones), probe, demux pass and RGB conversion included
* ours           the sampler with ``extract.sampling = nearest_reference`` (params.yaml), all included

Each is timed ``--repeats`` times per clip, the fastest kept (the machine is shared), as wall and
CPU seconds (all threads) and as a ratio to "decode all". Frames over ``extract.decode_max_side``
would be downscaled; the DFDC clips are 1920 pixels on the long side, so none is.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from pathlib import Path

import av

from deepfake_detect.config import load_params
from deepfake_detect.media.sampler import FrameLimits, Sampling, iter_sample_frames
from deepfake_detect.media.video import probe

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"


def decode_count(clip: Path, skip: str | None) -> int:
    with av.open(str(clip)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        if skip:
            stream.codec_context.skip_frame = skip
        return sum(1 for _ in container.decode(stream))


def fastest(run: Callable[[Path], int], clip: Path, repeats: int) -> tuple[float, float, int]:
    """(wall s, CPU s, frames) of the fastest of ``repeats`` runs."""
    best = None
    for _ in range(repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        frames = run(clip)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        if best is None or wall < best[0]:
            best = (wall, cpu, frames)
    assert best is not None
    return best


def dfdc_1080p(videos: Path) -> list[Path]:
    """The clips of ``metadata.json`` that are not FaceForensics++ and are 1920 pixels on the long side."""
    names = json.loads((videos / "metadata.json").read_text())
    clips = [videos / n for n in sorted(names) if not n.startswith("ffpp_")]
    return [c for c in clips if max(probe(c).width, probe(c).height) == 1920]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--videos", type=Path, default=SHARED / "videos")
    ap.add_argument("--frames", type=int, default=32)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--params", type=Path, default=ROOT / "params.yaml")
    args = ap.parse_args()
    params = load_params(args.params)
    limits = FrameLimits.of(params.serve)
    ours = Sampling.of(params.extract, args.frames, limits)
    exact = Sampling.of(params.extract.model_copy(update={"sampling": "exact"}), args.frames, limits)
    ways = {
        "decode all": lambda c: decode_count(c, None),
        "NONREF only": lambda c: decode_count(c, "NONREF"),
        "exact": lambda c: len(list(iter_sample_frames(c, exact))),
        "ours": lambda c: len(list(iter_sample_frames(c, ours))),
    }
    totals = {name: [0.0, 0.0] for name in ways}
    print(f"{args.frames} frames per clip, fastest of {args.repeats}; ours = extract.sampling {ours.mode}\n")
    for clip in dfdc_1080p(args.videos):
        info = probe(clip)
        print(f"{clip.name}  {info.width}x{info.height}, {info.frames} frames")
        base = None
        for name, way in ways.items():
            wall, cpu, frames = fastest(way, clip, args.repeats)
            base = base or (wall, cpu)
            totals[name][0] += wall
            totals[name][1] += cpu
            print(
                f"  {name:<12} {wall:6.2f} s wall ({wall / base[0]:4.2f}x)  {cpu:6.2f} s CPU ({cpu / base[1]:4.2f}x)"
                f"  {frames} frames {'decoded' if name in ('decode all', 'NONREF only') else 'taken'}"
            )
    base_wall, base_cpu = totals["decode all"]
    print("\nall clips, as a ratio to decode all:")
    for name, (wall, cpu) in totals.items():
        print(f"  {name:<12} wall {wall / base_wall:4.2f}x  CPU {cpu / base_cpu:4.2f}x")


if __name__ == "__main__":
    main()
