"""Benchmark decoding and scoring a clip against decoding all of it, on the shared 1080p DFDC clips, in one run:

    python bench/decode.py [--videos ../shared/data/videos] [--frames 32] [--repeats 5]
                           [--model ../run1/models/promoted]

* decode all → RGB  every frame decoded (frame threads) and converted to RGB: the naive reader
* decode all        every frame decoded, none converted: what any reader of the whole clip pays at least
* NONREF only       every reference frame decoded (``skip_frame = NONREF``), none converted: the floor
                    of ``extract.sampling = nearest_reference`` (the reference-only floor)
* exact             the sampler with ``extract.sampling = exact`` (every reference frame plus the
                    sampled ones), probe, demux pass and RGB conversion included
* ours              the sampler with ``extract.sampling`` of params.yaml, with the decoder's shrink for
                    the detector (``extract.detect_max_side``), all included
* score clip        with ``--model``: ``deepfake score`` on the clip in-process (:class:`Scorer`: the
                    sampler above in a thread; BlazeFace and the model on each batch of frames'
                    faces meanwhile; people)
* score, before     the path before issue 22: the detector's frames shrunk by OpenCV from the RGB
                    frames (not by the decoder), BlazeFace on every core (not ``serve.detect_threads``)
                    and the model run once all faces are found (not overlapping decoding)

The ways run interleaved (round after round over every clip and way), and each keeps its fastest
round per clip (the machine is shared), as wall and CPU seconds (all threads) and as ratios to
"decode all → RGB" and "decode all". The CPU ratio is what a busy machine pays.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path

import av

from deepfake_detect.config import Params, load_params
from deepfake_detect.media.sampler import FrameLimits, Sampling, iter_sample_frames
from deepfake_detect.media.video import probe

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
NAIVE, ALL, FLOOR = "decode all → RGB", "decode all", "NONREF only"
SCORE, BEFORE = "score clip", "score, before"


def decode_count(clip: Path, skip: str | None, rgb: bool = False) -> int:
    """Decode ``clip`` with frame threads (``skip``: a ``skip_frame`` value), converting each frame to RGB if asked."""
    with av.open(str(clip)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        if skip:
            stream.codec_context.skip_frame = skip
        return sum(1 for f in container.decode(stream) if not rgb or f.to_ndarray(format="rgb24") is not None)


def scorer_ways(
    params: Params, model: Path, scores: dict[tuple[str, str], float | None]
) -> dict[str, Callable[[Path], int]]:
    """The clip scored in-process as ``deepfake score`` does it, and as it did before the decoder shrank
    the detector's frames and the model overlapped decoding; each clip's P(FAKE) lands in ``scores``
    under (way, clip name)."""
    import dataclasses

    from deepfake_detect.media import checks
    from deepfake_detect.models.aggregate import clip_probability
    from deepfake_detect.scoring.scorer import load_predictor, local_scorer
    from deepfake_detect.scoring.uploads import Timer

    predictor = load_predictor(model)
    scorer = local_scorer(params, predictor)
    every_core = params.model_copy(update={"serve": params.serve.model_copy(update={"detect_threads": 0})})
    old = local_scorer(every_core, predictor)  # the detector on every core, as before
    for s in (scorer, old):
        s.warm_up()
    upload_sampling = checks.upload_sampling

    def score(clip: Path) -> int:
        result = scorer.score_video(clip)
        scores[SCORE, clip.name] = result.probability
        return result.faces_found

    def score_before(clip: Path) -> int:
        checks.upload_sampling = lambda p: dataclasses.replace(upload_sampling(p), detect_side=None)
        try:
            timer = Timer()
            faces = old.finder.video_faces(clip, clip.name, timer, old._deadline())[2]
            old._score_faces(faces, timer)  # all faces at the end, in one call
        finally:
            checks.upload_sampling = upload_sampling
        people = old._people(faces)
        scores[BEFORE, clip.name] = clip_probability(people) if people else None
        return len(faces)

    return {SCORE: score, BEFORE: score_before}


def timed(run: Callable[[Path], int], clip: Path) -> tuple[float, float, int]:
    wall, cpu = time.perf_counter(), time.process_time()
    frames = run(clip)
    return time.perf_counter() - wall, time.process_time() - cpu, frames


def compare(clips: list[Path], ways: dict[str, Callable[[Path], int]], repeats: int) -> dict[str, dict[Path, tuple]]:
    """Per way and clip, the fastest of ``repeats`` interleaved rounds: (wall s, CPU s, frames or faces)."""
    best: dict[str, dict[Path, tuple]] = {name: {} for name in ways}
    for _ in range(repeats):
        for clip in clips:
            for name, way in ways.items():
                t = timed(way, clip)
                if clip not in best[name] or t[0] < best[name][clip][0]:
                    best[name][clip] = t
    return best


def report(clips: list[Path], best: dict[str, dict[Path, tuple]]) -> dict[str, tuple[float, float]]:
    """Print each clip's and the totals' ratios to decode all → RGB and decode all; return (wall, CPU) ratios."""
    for clip in clips:
        info = probe(clip)
        print(f"{clip.name}  {info.width}x{info.height}, {info.frames} frames")
        naive, every = best[NAIVE][clip], best[ALL][clip]
        for name, per_clip in best.items():
            wall, cpu, n = per_clip[clip]
            print(
                f"  {name:<17} {wall:6.2f} s wall ({wall / naive[0]:4.2f}x naive, {wall / every[0]:4.2f}x decode all)"
                f"  {cpu:6.2f} s CPU ({cpu / naive[1]:4.2f}x, {cpu / every[1]:4.2f}x)  {n} {_unit(name)}"
            )
    totals = {name: (sum(t[0] for t in v.values()), sum(t[1] for t in v.values())) for name, v in best.items()}
    ratios = {name: (w / totals[NAIVE][0], c / totals[NAIVE][1]) for name, (w, c) in totals.items()}
    print("\nall clips, as a ratio to decode all → RGB (to decode all):")
    for name, (wall, cpu) in totals.items():
        print(
            f"  {name:<17} wall {ratios[name][0]:4.2f}x ({wall / totals[ALL][0]:4.2f}x)"
            f"  CPU {ratios[name][1]:4.2f}x ({cpu / totals[ALL][1]:4.2f}x)"
        )
    return ratios


def _unit(name: str) -> str:
    return "faces" if name.startswith("score") else "frames " + ("decoded" if name in (NAIVE, ALL, FLOOR) else "taken")


def long_clips(videos: Path, min_side: int) -> list[Path]:
    """The ``.mp4`` clips of ``videos`` (FaceForensics++ ones left out) ``min_side`` pixels or more on the long side."""
    clips = [c for c in sorted(videos.glob("*.mp4")) if not c.name.startswith("ffpp_")]
    return [c for c in clips if max(probe(c).width, probe(c).height) >= min_side]


def main(argv: list[str] | None = None) -> dict[str, tuple[float, float]]:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--videos", type=Path, default=SHARED / "videos")
    ap.add_argument("--min-side", type=int, default=1920, help="clips this long on the long side or more")
    ap.add_argument("--frames", type=int, default=32, help="frames sampled and scored per clip")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--params", type=Path, default=ROOT / "params.yaml")
    ap.add_argument("--model", type=Path, help="a model folder (promote's): also score each clip with it")
    args = ap.parse_args(argv)
    params = load_params(args.params, {"serve": {"frames_per_video": args.frames}})
    clips = long_clips(args.videos, args.min_side)
    if not clips:
        raise SystemExit(f"{args.videos}: no clip {args.min_side} pixels or more on the long side")
    limits = FrameLimits.of(params.serve)
    ours = Sampling.of(params.extract, args.frames, limits)
    exact = Sampling.of(params.extract.model_copy(update={"sampling": "exact"}), args.frames, limits)
    ways: dict[str, Callable[[Path], int]] = {
        NAIVE: lambda c: decode_count(c, None, rgb=True),
        ALL: lambda c: decode_count(c, None),
        FLOOR: lambda c: decode_count(c, "NONREF"),
        "exact": lambda c: len(list(iter_sample_frames(c, exact))),
        "ours": lambda c: len(list(iter_sample_frames(c, ours))),
    }
    scores: dict[tuple[str, str], float | None] = {}
    if args.model:
        ways |= scorer_ways(params, args.model, scores)
    print(f"{args.frames} frames per clip, fastest of {args.repeats} interleaved rounds; ours = {ours.mode}\n")
    ratios = report(clips, compare(clips, ways, args.repeats))
    for (way, clip), p in sorted(scores.items(), key=lambda kv: kv[0][::-1]):
        print(f"  P(FAKE) {clip} {way}: {p}")
    return ratios


if __name__ == "__main__":
    main()
