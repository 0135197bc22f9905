"""Serving benchmark, each figure next to what it is compared with, in one run:

1. a 10-s 1080p DFDC clip end to end (decode + faces + model) at 16 and 32 frames, with the
   breakdown decode / detect / model, for the default detector (BlazeFace) and for MTCNN, against
   the naive way (decode and score every frame) and the DFDC kernel budget (8.1 s per clip, on a GPU);
2. face crops: images/s and p50/p95 latency through HTTP (`bentoml serve`, /score_image with a ready
   crop, adaptive batching) at concurrency 1, 8, 32, against the same model called in-process
   (one crop per call from the same number of threads, and one batched call as the ceiling);
3. the clip through HTTP at the served frame count.

    python bench/serve.py [--model-dir models/promoted] [--clip ../shared/data/videos/widuwuoiur.mp4]

Without a model folder it uses ``promote.dir`` when a model was promoted, else an untrained
EfficientNet-Lite0-160 (the promoted family on real data: same graph and cost as the trained one).
Prints Markdown tables and writes JSON to --out (default bench/results/serve.json, git-ignored).
"""

from __future__ import annotations

import argparse
import json
import os
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
    import shutil

    import bentoml

    with bentoml.models.create("deepfake-detector", metadata={"bench": True}) as m:
        for item in folder.iterdir():
            if item.is_file():
                shutil.copy2(item, Path(m.path) / item.name)
    return str(m.tag)


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q)) if values else float("nan")


def run_load(call, items: list, concurrency: int) -> dict[str, float]:
    """Send items with `concurrency` threads; images/s and latency percentiles (ms)."""
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
    wall = time.perf_counter() - t0
    return {
        "images_per_s": round(len(items) / wall, 2),
        "p50_ms": round(pct(lat, 50) * 1000, 1),
        "p95_ms": round(pct(lat, 95) * 1000, 1),
        "n": len(items),
    }


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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model-dir", type=Path, default=None)
    ap.add_argument("--clip", type=Path, default=SHARED / "videos" / "widuwuoiur.mp4")
    ap.add_argument("--faces", type=Path, default=SHARED / "deepfake-faces" / "faces_224")
    ap.add_argument("--requests", type=int, default=64, help="crop requests per concurrency level")
    ap.add_argument("--concurrency", type=int, nargs="+", default=[1, 8, 32])
    ap.add_argument("--clip-runs", type=int, default=3)
    ap.add_argument("--naive-frames", type=int, default=30, help="frames measured for the naive way (0 = all)")
    ap.add_argument("--skip-http", action="store_true")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "serve.json")
    args = ap.parse_args()

    from deepfake_detect.config import load_params
    from deepfake_detect.media.images import read_rgb
    from deepfake_detect.models.predictor import load_predictor
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
        "in_process": {},
        "http": {},
    }
    for detector, frames in (("blazeface", 16), ("blazeface", 32), ("mtcnn", 16), ("mtcnn", 32)):
        row = clip_path(params, model, args.clip, frames, detector, args.clip_runs)
        results["clip"]["runs"].append(row)
        print("clip", row, flush=True)
    scorer = local_scorer(params, model)
    results["clip"]["naive_every_frame"] = naive_clip(scorer, args.clip, args.naive_frames)
    print("clip naive", results["clip"]["naive_every_frame"], flush=True)

    face_files = sorted(args.faces.glob("*.jpg"))[: args.requests]
    size = model.input_size
    import cv2

    crops_in = [cv2.resize(read_rgb(f), (size, size), interpolation=cv2.INTER_AREA) for f in face_files]
    model.score(np.stack(crops_in[:1]))
    model.score(np.stack(crops_in[:2]))  # trace once for a generic batch size
    t = time.perf_counter()
    model.score(np.stack(crops_in))
    results["in_process"]["one_batched_call"] = {
        "images_per_s": round(len(crops_in) / (time.perf_counter() - t), 2),
        "n": len(crops_in),
    }
    for c in args.concurrency:
        results["in_process"][f"c{c}"] = run_load(lambda x: model.score(x[None]), crops_in, c)
        print("in-process", c, results["in_process"][f"c{c}"], flush=True)

    if not args.skip_http:
        import httpx

        home = work / "bentoml_home"
        env = {**os.environ, "BENTOML_HOME": str(home)}
        os.environ["BENTOML_HOME"] = str(home)
        save_to_store(Path(model_dir))
        env.pop("DEEPFAKE_API_KEY", None)
        proc, url = start_server(env, work / "serve.log")
        try:
            blobs = [(f.name, f.read_bytes()) for f in face_files]
            # an open loopback server still wants the header on multipart posts (serving.guard)
            client = httpx.Client(timeout=600, limits=httpx.Limits(max_connections=64), headers={"X-API-Key": ""})

            def post(blob):
                r = client.post(f"{url}/score_image", files={"file": blob}, data={"crop": "true"})
                r.raise_for_status()

            run_load(post, blobs[:4], 2)  # warm-up
            for c in args.concurrency:
                results["http"][f"c{c}"] = run_load(post, blobs, c)
                print("http", c, results["http"][f"c{c}"], flush=True)
            times = []
            for _ in range(args.clip_runs + 1):
                t = time.perf_counter()
                with args.clip.open("rb") as fh:
                    client.post(f"{url}/score_video", files={"file": (args.clip.name, fh)}).raise_for_status()
                times.append(time.perf_counter() - t)
            results["clip"]["http_s"] = round(statistics.median(times[1:]), 2)  # the first one warms up
            results["clip"]["http_frames"] = params.serve.frames_per_video
            client.close()
        finally:
            stop_process_tree(proc)
    results["load_avg_end"] = os.getloadavg()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2))
    print_table(results)


def print_table(r: dict) -> None:
    print(
        f"\nmodel {r['model']} ({r['input_size']} px), {r['cpu_count']} CPUs, load avg at start "
        f"{r['load_avg_start'][0]:.1f}, end {r['load_avg_end'][0]:.1f}\n"
    )
    c = r["clip"]
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
    print("\n| face crops | images/s | p50 ms | p95 ms | HTTP / in-process |\n|---|---|---|---|---|")
    print(f"| in-process, one batched call | {r['in_process']['one_batched_call']['images_per_s']} | | | |")
    for key in r["in_process"]:
        if key.startswith("c"):
            ip, h = r["in_process"][key], r["http"].get(key, {})
            print(f"| in-process, concurrency {key[1:]} | {ip['images_per_s']} | {ip['p50_ms']} | {ip['p95_ms']} | |")
            if h:
                ratio = h["images_per_s"] / ip["images_per_s"]
                print(
                    f"| HTTP, concurrency {key[1:]} | {h['images_per_s']} | {h['p50_ms']} | {h['p95_ms']} "
                    f"| {ratio:.2f}x |"
                )


if __name__ == "__main__":
    main()
