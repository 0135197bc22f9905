"""Serving benchmark, each figure next to what it is compared with, in one run:

1. a 10-s 1080p DFDC clip end to end (decode + faces + model) at 16 and 32 frames, with the
   breakdown decode / detect / model, for the default detector (BlazeFace) and for MTCNN, against
   the naive way (decode and score every frame) and the DFDC kernel budget (8.1 s per clip, on a GPU);
2. face crops: images/s and p50/p95 latency through HTTP (`bentoml serve`, /score_image with a ready
   crop) with the model in the front process and in its own model service (adaptive batching), at
   concurrency 1, 8, 32, against the same model called in-process (one crop per call from the same
   number of threads: the baseline; one batched call: the ceiling) and the service path in-process;
   the ways take turns, ``--rounds`` times, so a load change on a shared machine hits all alike;
3. the clip through HTTP at the served frame count.

    python bench/serve.py [--model-dir models/promoted] [--clip ../shared/data/videos/widuwuoiur.mp4]
    python bench/serve.py --model-dir models/promoted --skip-clip     # face crops only

Without a model folder it uses ``promote.dir`` when a model was promoted, else an untrained
EfficientNet-Lite0 at `train.efficientnet_lite0.input_size` (the promoted family on real data: same graph and cost).
Prints Markdown tables and writes JSON to --out (default bench/results/serve.json, git-ignored).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

for _var, _value in (("BENTOML_DO_NOT_TRACK", "true"), ("DO_NOT_TRACK", "1"), ("TF_CPP_MIN_LOG_LEVEL", "2")):
    os.environ.setdefault(_var, _value)

import numpy as np  # noqa: E402

from deepfake_detect.scoring.service_process import stop_process_tree  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
DFDC_BUDGET_S = 8.1


def build_lite0(folder: Path, params) -> Path:
    """An untrained EfficientNet-Lite0 model folder at the configured input size."""
    from deepfake_detect.models.artifacts import save_untrained_keras
    from deepfake_detect.models.efficientnet_lite0 import build

    cfg = params.train.efficientnet_lite0.model_copy(update={"pretrained": "none"})
    model, _ = build(cfg)
    return save_untrained_keras(
        model, folder, name="efficientnet_lite0", tag="bench-efficientnet-lite0", input_size=cfg.input_size
    )


def save_to_store(folder: Path) -> str:
    import bentoml

    with bentoml.models.create("deepfake-detector", metadata={"bench": True}) as m:
        for item in folder.iterdir():
            if item.is_file():
                shutil.copy2(item, Path(m.path) / item.name)
    return str(m.tag)


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q)) if values else float("nan")


def timed_load(call, items: list, concurrency: int) -> tuple[list[float], float]:
    """Send items with ``concurrency`` threads: each call's latency (s) and the wall time (s)."""
    lat: list[float] = []
    lock = threading.Lock()

    def one(item):
        t = time.perf_counter()
        call(item)
        with lock:
            lat.append(time.perf_counter() - t)

    t0 = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(one, items))
    return lat, time.perf_counter() - t0


def summary(lat: list[float], wall: float) -> dict[str, float]:
    """Images/s and latency percentiles (ms) of one or more timed loads."""
    return {
        "images_per_s": round(len(lat) / wall, 2),
        "p50_ms": round(pct(lat, 50) * 1000, 1),
        "p95_ms": round(pct(lat, 95) * 1000, 1),
        "n": len(lat),
    }


def run_load(call, items: list, concurrency: int) -> dict[str, float]:
    """Send items with ``concurrency`` threads; images/s and latency percentiles (ms)."""
    return summary(*timed_load(call, items, concurrency))


def start_server(env: dict[str, str], log_path: Path) -> tuple[subprocess.Popen, str]:
    """`bentoml serve` on a free loopback port, ready (the tests start it the same way)."""
    from deepfake_detect.scoring.service_process import start_bentoml_serve

    return start_bentoml_serve(env, log_path, ROOT, ready_timeout=600)


def naive_clip(scorer, clip: Path, max_frames: int) -> dict[str, float]:
    """Every frame decoded, faces found and scored in every frame (detection + model extrapolated
    from the first `max_frames` frames when max_frames > 0)."""
    from deepfake_detect.media.checks import Deadline
    from deepfake_detect.media.video import decode_all_frames

    t = time.perf_counter()
    frames = decode_all_frames(clip)
    decode_s = time.perf_counter() - t
    subset = frames if max_frames <= 0 else frames[:: max(1, len(frames) // max_frames)][:max_frames]
    t = time.perf_counter()
    crops = [f.crop for item in subset for f in scorer.finder.faces_of([item], clip.name, Deadline(3600))]
    detect_s = time.perf_counter() - t
    t = time.perf_counter()
    if crops:
        size = scorer.info.input_size
        import cv2

        scorer.score_fn(np.stack([cv2.resize(c, (size, size), interpolation=cv2.INTER_AREA) for c in crops]))
    model_s = time.perf_counter() - t
    scale = len(frames) / len(subset)
    return {
        "frames": len(frames),
        "frames_measured": len(subset),
        "decode_s": round(decode_s, 2),
        "detect_s": round(detect_s * scale, 2),
        "model_s": round(model_s * scale, 2),
        "total_s": round(decode_s + (detect_s + model_s) * scale, 2),
    }


def clip_path(params, model, clip: Path, frames: int, detector: str, runs: int) -> dict:
    """The service path in-process (``Scorer.score_video``): median wall time and the run's parts."""
    from deepfake_detect.scoring.scorer import local_scorer

    p = params.model_copy(
        update={
            "serve": params.serve.model_copy(update={"frames_per_video": frames}),
            "extract": params.extract.model_copy(update={"detector": detector}),
        }
    )
    scorer = local_scorer(p, model)
    scorer.score_video(clip)  # warm: detector built, model traced for this batch size
    runs_t = [scorer.score_video(clip)["timings"] for _ in range(runs)]
    median = sorted(runs_t, key=lambda x: x["total_s"])[len(runs_t) // 2]
    return {"frames": frames, "detector": detector, **{k: round(v, 2) for k, v in median.items()}}


def crop_server(params_overrides: dict, work: Path, name: str) -> tuple[subprocess.Popen, str]:
    """A ``bentoml serve`` of the repo's params.yaml with ``serve`` overrides (its request log in ``work``)."""
    import yaml

    raw = yaml.safe_load((ROOT / "params.yaml").read_text())
    raw["serve"].update({"request_log_dir": str(work / f"requests-{name}"), **params_overrides})
    params_file = work / f"params-{name}.yaml"
    params_file.write_text(yaml.safe_dump(raw))
    env = {**os.environ, "DEEPFAKE_PARAMS": str(params_file)}
    env.pop("DEEPFAKE_API_KEY", None)
    return start_server(env, work / f"serve-{name}.log")


PLACEMENTS = {  # HTTP runs: the serve overrides of each
    "front": {"model_in_front": True},
    "service": {"model_in_front": False},
}
ROWS = {
    "model": "in-process model call (the baseline)",
    "path": "in-process service path (`Scorer.score_image`)",
    "front": "HTTP, model in the front process",
    "service": "HTTP, model service (two processes)",
}


def crops_compare(
    model, scorer, face_files: list[Path], concurrency: list[int], urls: dict[str, str], rounds: int
) -> dict:
    """Face crops at each concurrency, every way in turn, ``rounds`` times over (so a load change on
    the shared machine hits all of them alike): the model called in-process with one crop per call
    from ``c`` threads (the baseline HTTP is held to), the service path in-process
    (``Scorer.score_image`` on the same files: decode, checks, answer, request log), and /score_image
    with a ready crop through each running server; plus one batched model call (the ceiling)."""
    import cv2
    import httpx

    from deepfake_detect.media.images import read_rgb

    size = model.input_size
    crops = [cv2.resize(read_rgb(f), (size, size), interpolation=cv2.INTER_AREA) for f in face_files]
    model.score(np.stack(crops[:1]))
    model.score(np.stack(crops[:2]))  # trace once for a generic batch size
    model.score(np.stack(crops))
    t = time.perf_counter()
    model.score(np.stack(crops))
    batched = {"images_per_s": round(len(crops) / (time.perf_counter() - t), 2), "n": len(crops)}
    blobs = [(f.name, f.read_bytes()) for f in face_files]
    # an open loopback server still wants the header on multipart posts (serving.guard)
    # idle connections expire before uvicorn's 5-s keep-alive closes them: a connection idle while the
    # other ways take their turn is not reused just as the server drops it
    limits = httpx.Limits(max_connections=64, keepalive_expiry=2)
    client = httpx.Client(timeout=600, limits=limits, headers={"X-API-Key": ""})

    def poster(url: str):
        def post(blob):
            client.post(f"{url}/score_image", files={"file": blob}, data={"crop": "true"}).raise_for_status()

        return post

    ways = {
        "model": (lambda x: model.score(x[None]), crops),
        "path": (lambda f: scorer.score_image(f, crop=True), face_files),
        **{name: (poster(url), blobs) for name, url in urls.items()},
    }
    for call, items in ways.values():  # warm-up: every thread count, every batch size
        timed_load(call, items, max(concurrency))
    out: dict = {"one_batched_call": batched}
    for c in concurrency:
        lat: dict[str, list[float]] = {name: [] for name in ways}
        wall = dict.fromkeys(ways, 0.0)
        ratios: dict[str, list[float]] = {name: [] for name in ways}
        for _ in range(rounds):
            took = {}
            for name, (call, items) in ways.items():
                got, took[name] = timed_load(call, items, c)
                lat[name] += got
                wall[name] += took[name]
            for name in ways:  # neighbours in time: one round's load hits both alike
                ratios[name].append(took["model"] / took[name])
        out[f"c{c}"] = {
            name: {**summary(lat[name], wall[name]), "ratio": round(statistics.median(ratios[name]), 2)}
            for name in ways
        }
        print("concurrency", c, out[f"c{c}"], flush=True)
    client.close()
    return out


def clip_http(params, clip: Path, runs: int, work: Path) -> float:
    """The clip through HTTP at the served frame count (params.yaml as it is): median of ``runs``."""
    import httpx

    env = {**os.environ}
    env.pop("DEEPFAKE_API_KEY", None)
    proc, url = start_server(env, work / "serve-clip.log")
    try:
        times = []
        with httpx.Client(timeout=600, headers={"X-API-Key": ""}) as client:
            for _ in range(runs + 1):
                t = time.perf_counter()
                with clip.open("rb") as fh:
                    client.post(f"{url}/score_video", files={"file": (clip.name, fh)}).raise_for_status()
                times.append(time.perf_counter() - t)
        return round(statistics.median(times[1:]), 2)  # the first one warms up
    finally:
        stop_process_tree(proc)


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model-dir", type=Path, default=None)
    ap.add_argument("--clip", type=Path, default=SHARED / "videos" / "widuwuoiur.mp4")
    ap.add_argument("--faces", type=Path, default=SHARED / "deepfake-faces" / "faces_224")
    ap.add_argument("--requests", type=int, default=64, help="crops each way sends per round (faces reused)")
    ap.add_argument("--concurrency", type=int, nargs="+", default=[1, 8, 32])
    ap.add_argument("--clip-runs", type=int, default=3)
    ap.add_argument("--naive-frames", type=int, default=30, help="frames measured for the naive way (0 = all)")
    ap.add_argument("--skip-http", action="store_true")
    ap.add_argument("--skip-clip", action="store_true", help="face crops only (in-process and HTTP)")
    ap.add_argument(
        "--placements",
        nargs="+",
        choices=["front", "service"],
        default=["front", "service"],
        help="HTTP runs: the model in the front process (serve.model_in_front), in its own model service",
    )
    ap.add_argument("--bentoml-home", type=Path, default=None, help="model store for the run (default: a new one)")
    ap.add_argument(
        "--rounds", type=int, default=4, help="turns each way takes at each concurrency (ratio: their median)"
    )
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "serve.json")
    args = ap.parse_args(argv)

    from deepfake_detect.config import load_params
    from deepfake_detect.models.predictor import load_predictor
    from deepfake_detect.scoring.recorder import Recorder
    from deepfake_detect.scoring.requestlog import RequestLog
    from deepfake_detect.scoring.scorer import local_scorer

    params = load_params(ROOT / "params.yaml")
    work = Path(tempfile.mkdtemp(prefix="bench-serve-"))
    promoted = ROOT / params.promote.dir
    model_dir = args.model_dir or (
        promoted if (promoted / "record.json").exists() else build_lite0(work / "lite0", params)
    )
    model = load_predictor(model_dir)
    results: dict = {
        "model": model.tag,
        "input_size": model.input_size,
        "cpu_count": os.cpu_count(),
        "load_avg_start": os.getloadavg(),
        "clip": {"file": args.clip.name, "dfdc_budget_s": DFDC_BUDGET_S, "runs": []},
        "crops": {},
    }
    quiet = params.model_copy(update={"serve": params.serve.model_copy(update={"request_log": False})})
    if not args.skip_clip:
        for detector, frames in (("blazeface", 16), ("blazeface", 32), ("mtcnn", 16), ("mtcnn", 32)):
            row = clip_path(params, model, args.clip, frames, detector, args.clip_runs)
            results["clip"]["runs"].append(row)
            print("clip", row, flush=True)
        results["clip"]["naive_every_frame"] = naive_clip(local_scorer(quiet, model), args.clip, args.naive_frames)
        print("clip naive", results["clip"]["naive_every_frame"], flush=True)

    found = sorted(args.faces.glob("*.jpg"))[: args.requests]
    if not found:
        raise SystemExit(f"--faces {args.faces}: no .jpg face crops there")
    face_files = [found[i % len(found)] for i in range(args.requests)]
    servers: dict[str, tuple[subprocess.Popen, str]] = {}
    try:
        if not args.skip_http:
            # this process's store and the servers' (set before this process first uses BentoML)
            os.environ["BENTOML_HOME"] = str(args.bentoml_home or work / "bentoml_home")
            save_to_store(Path(model_dir))
            with ThreadPoolExecutor(len(args.placements)) as pool:  # both start at once
                starts = {p: pool.submit(crop_server, PLACEMENTS[p], work, p) for p in args.placements}
            for placement, started in starts.items():
                if started.exception() is None:
                    servers[placement] = started.result()
            for started in starts.values():
                started.result()  # a server that did not start: raise (the others are stopped below)
        results["crops"] = crops_compare(
            model,
            local_scorer(params, model, Recorder(params, RequestLog(work / "requests-in-process"))),
            face_files,
            args.concurrency,
            {name: url for name, (_, url) in servers.items()},
            args.rounds,
        )
    finally:
        for proc, _ in servers.values():
            stop_process_tree(proc)
    if not args.skip_http and not args.skip_clip:
        results["clip"]["http_s"] = clip_http(params, args.clip, args.clip_runs, work)
        results["clip"]["http_frames"] = params.serve.frames_per_video
    results["load_avg_end"] = os.getloadavg()
    shutil.rmtree(work, ignore_errors=True)  # the servers' store and logs (kept when a run fails)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2))
    print_table(results)
    return results


def print_clip_table(c: dict) -> None:
    print(
        f"| 10-s 1080p clip `{c['file']}` | frames | decode s | detect s | model s | total s |\n"
        "|---|---|---|---|---|---|"
    )
    for row in c["runs"]:
        print(
            f"| service path, {row['detector']} | {row['frames']} | {row.get('decode_s', '')} | "
            f"{row.get('detect_s', '')} | {row.get('model_s', '')} | **{row['total_s']}** |"
        )
    if "http_s" in c:
        print(f"| service path through HTTP | {c['http_frames']} | | | | {c['http_s']} |")
    n = c["naive_every_frame"]
    print(
        f"| naive: every frame (detection+model measured on {n['frames_measured']}) | {n['frames']} | "
        f"{n['decode_s']} | {n['detect_s']} | {n['model_s']} | {n['total_s']} |"
    )
    print(f"| DFDC kernel budget (GPU) | | | | | {c['dfdc_budget_s']} |")


def print_table(r: dict) -> None:
    print(
        f"\nmodel {r['model']} ({r['input_size']} px), {r['cpu_count']} CPUs, load avg at start "
        f"{r['load_avg_start'][0]:.1f}, end {r['load_avg_end'][0]:.1f}\n"
    )
    c = r["clip"]
    if c["runs"]:
        print_clip_table(c)
    crops = r["crops"]
    print(
        f"\n| face crops ({r['input_size']} px, ready crop) | images/s | p50 ms | p95 ms | p95 / p50 "
        "| throughput / baseline (median of rounds) |\n"
        "|---|---|---|---|---|---|"
    )
    batched = crops["one_batched_call"]
    print(f"| in-process, one batched call of {batched['n']} | {batched['images_per_s']} | | | | |")
    for key in [k for k in crops if k.startswith("c")]:
        for name, row in crops[key].items():
            ratio = "" if name == "model" else f"{row['ratio']:.2f}x"
            spread = row["p95_ms"] / row["p50_ms"] if row["p50_ms"] else float("nan")
            figures = f"{row['images_per_s']} | {row['p50_ms']} | {row['p95_ms']} | {spread:.2f}"
            bold = "**" if name in PLACEMENTS else ""
            print(f"| {ROWS[name]}, concurrency {key[1:]} | {figures} | {bold}{ratio}{bold} |")


if __name__ == "__main__":
    main()
