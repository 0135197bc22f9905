"""BentoML service: deepfake scores for uploaded videos and images (``make serve``).

Two services in one process tree:
  ``FaceModel``          the promoted model (``serve.model_tag`` in the BentoML model store,
                         referenced at class level so ``bentoml build`` packs it); its ``score``
                         API is batchable, so face crops from concurrent requests are merged by
                         BentoML's adaptive batching into one model call.
  ``DeepfakeDetector``   the HTTP front: ``/score_video``, ``/score_image``, ``/score_images``
                         (batch), ``/explain`` (Grad-CAM PNG); decoding and face detection run here
                         through :mod:`deepfake_detect.scoring.scorer`, the same path as ``deepfake score``;
                         the reviewer page at ``/ui`` (:mod:`serving.reviewer`) and the review queue
                         behind the admin key (``/review_items``, ``/review_label``); ``/reload``
                         serves the store's new ``serve.model_tag`` without a restart (a promotion:
                         loaded and warmed first, then swapped between requests, :mod:`serving.swap`).

Errors are 4xx JSON ``{"error", "detail"}`` (504 past ``serve.deadline_s``); uploads over
``serve.max_upload_mb`` get 413 before they are read. Closed by default (:mod:`serving.guard`): off
loopback it will not start without the key named by ``serve.api_key_env``, an empty key is an error,
``/reload`` needs the admin key (``serve.admin_key_env``), and a form, multipart or text/plain request
needs the ``X-API-Key`` header; with the key set, every endpoint but the health checks needs it. The front serves
``serve.threads`` requests at once per worker, so concurrent requests overlap and their face crops
meet in the model's batches. Settings come from params.yaml (``$DEEPFAKE_PARAMS``).

One file on purpose, past the ~300-line guide: ``bentoml build`` and ``bentoml serve`` name it as the
service (``serving.service:DeepfakeDetector``); each API is a thin typed shell over ``deepfake_detect``,
and the guard, the reviewer page and the model swap already live in their own modules.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import logging
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import bentoml
import numpy as np
from pydantic import BeforeValidator
from starlette.datastructures import UploadFile
from starlette.responses import JSONResponse, Response

ROOT = Path(__file__).resolve().parents[1]
if (ROOT / "src" / "deepfake_detect").is_dir() and str(ROOT / "src") not in sys.path:
    sys.path.insert(0, str(ROOT / "src"))  # inside a built bento the package travels as source

from deepfake_detect.config import load_params  # noqa: E402
from deepfake_detect.media.checks import ScoringError  # noqa: E402
from deepfake_detect.scoring.names import clean_name  # noqa: E402
from deepfake_detect.scoring.result import BatchScoreResult, ModelInfo, ScoreResult  # noqa: E402
from deepfake_detect.scoring.review import ReviewError, ReviewItem, ReviewListing, ReviewQueue  # noqa: E402
from deepfake_detect.scoring.scorer import ClientGone, Scorer  # noqa: E402
from serving.guard import GuardMiddleware, check_keys, sweep_orphan_uploads  # noqa: E402
from serving.reviewer import UI_PATH, reviewer_app  # noqa: E402
from serving.swap import ModelGate, Prepared, Reloaded  # noqa: E402

PARAMS = load_params(os.environ.get("DEEPFAKE_PARAMS") or ROOT / "params.yaml")
SERVE = PARAMS.serve
MAX_NOTE = 1000  # characters of a reviewer's note
log = logging.getLogger("deepfake_detect.serving")


def _serve_host() -> str | None:
    """The address ``bentoml serve`` binds, read in its own process (the one that imports this module
    before any worker starts); None elsewhere (workers, in-process use)."""
    import click

    ctx = click.get_current_context(silent=True)
    if ctx is None or "host" not in ctx.params:
        return None
    if ctx.params["host"]:
        return str(ctx.params["host"])
    from bentoml._internal.configuration.containers import BentoMLContainer

    return str(BentoMLContainer.http.host.get())  # BentoML's default when --host is not given (0.0.0.0)


check_keys(os.environ, _serve_host(), SERVE.api_key_env, SERVE.admin_key_env)  # closed by default


def short_name(name: str, max_bytes: int) -> str:
    """``name`` cut to ``max_bytes`` of UTF-8, extension kept: BentoML stores an upload as
    ``tmpXXXXXXXX<name>``, and a name near the file system's 255 bytes would fail with a 500."""
    if len(name.encode()) <= max_bytes:
        return name
    suffix = Path(name).suffix if len(Path(name).suffix.encode()) < max_bytes // 2 else ""
    stem = name[: len(name) - len(suffix)].encode()[: max_bytes - len(suffix.encode())]
    return stem.decode(errors="ignore") + suffix


def _shorten_upload(value: Any) -> Any:
    if isinstance(value, UploadFile) and value.filename:
        value.filename = short_name(clean_name(Path(value.filename).name), SERVE.max_name_bytes)
    return value


Upload = Annotated[Path, BeforeValidator(_shorten_upload)]  # an upload, its name cleaned and truncated first


def _upload_name(path: Path) -> str:
    """The client's file name: BentoML stores an upload as ``tmpXXXXXXXX<name>``."""
    name = path.name
    return name[11:] if name.startswith("tmp") and len(name) > 11 else name


@contextlib.contextmanager
def _consumed(*uploads: Path) -> Iterator[None]:
    """Delete this request's uploads as soon as the endpoint is done with them: BentoML empties its
    request temp dir only after the response is sent (a client could still see them, a crash keep them).
    Only files in that dir are touched: called in-process with the caller's own paths, nothing is."""
    try:
        yield
    finally:
        from bentoml._internal.context import request_temp_dir  # what bentoml.Context.temp_dir returns

        try:
            request_dir = Path(request_temp_dir())
        except LookupError:  # no HTTP request: the paths are the caller's files
            request_dir = None
        for path in uploads:
            if request_dir is not None and path.parent == request_dir:
                path.unlink(missing_ok=True)


def _client_gone_probe() -> ClientGone | None:
    """This HTTP request's "has the client gone?" for the scorer's deadline (asked at most every
    ``serve.disconnect_poll_s``): from the API's worker thread it runs starlette's
    ``Request.is_disconnected`` on the server's event loop, so a client that hung up stops its
    request's decoding and detection instead of running on to ``serve.deadline_s``. None outside an
    HTTP request (in-process calls)."""
    import anyio.from_thread

    try:
        request = bentoml.Context().request
    except LookupError:
        return None

    def gone() -> bool:
        try:
            return bool(anyio.from_thread.run(request.is_disconnected))
        except RuntimeError:  # not in an anyio worker thread: cannot ask, so keep working
            return False

    return gone


def _error(exc: ScoringError) -> JSONResponse:
    if exc.status == 499:
        log.warning("%s", exc.detail)  # nobody reads the answer: the log says where the work stopped
    return JSONResponse(exc.to_dict(), status_code=exc.status)


def _once_more_if_dropped(call: Any, *args: Any) -> Any:
    """A model-service call, made once more when its connection dropped before any answer: BentoML's
    client reuses a pooled keep-alive connection that the model service may be closing at that very
    moment (aiohttp's "Server disconnected" / "Can not write request body", seen as 500s under load).
    Scoring and Grad-CAM are pure and ``prepare`` keeps what it loaded, so a second call is safe."""
    import aiohttp

    try:
        return call(*args)
    except aiohttp.ClientConnectionError as exc:
        log.warning("model service connection dropped (%s): calling it once more", exc)
        return call(*args)


@bentoml.service(name="face_model", workers=1, traffic={"timeout": SERVE.timeout_s})
class FaceModel:
    """The promoted model: P(FAKE) + compact embedding per face crop, Grad-CAM overlays."""

    bento_model = bentoml.models.BentoModel(SERVE.model_tag)

    def __init__(self) -> None:
        import threading

        self.model, self.info = self._load(self.bento_model.path, str(self.bento_model.tag))
        self._pending: tuple[Any, ModelInfo] | None = None  # loaded and warmed by prepare(), served after swap()
        self._swap_lock = threading.Lock()
        self._loader = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="model-loader")
        self._loading: concurrent.futures.Future | None = None

    @staticmethod
    def _load(path: str, bento_tag: str) -> tuple[Any, ModelInfo]:
        from deepfake_detect.models.predictor import load_predictor
        from deepfake_detect.scoring.scorer import model_info

        model = load_predictor(path, SERVE.prior_fake)  # P(FAKE) at the traffic's base rate
        info = model_info(model, bento_tag=bento_tag)
        size = info.input_size
        for n in (1, 2):  # trace the predict function for a generic batch size before traffic
            model.score(np.zeros((n, size, size, 3), np.uint8))
        log.info("loaded %s (%s) threshold=%.4f", info.tag, info.bento_tag, info.threshold)
        return model, info

    @bentoml.api(batchable=True, max_batch_size=SERVE.batch_max_size, max_latency_ms=SERVE.batch_max_latency_ms)
    def score(self, crops: np.ndarray) -> np.ndarray:
        """Crops (N, S, S, 3) uint8 at the model's input size → (N, 1 + E): P(FAKE), embedding."""
        probs, emb = self.model.score(np.asarray(crops, dtype=np.uint8))
        emb = emb if emb.size else np.zeros((len(probs), 0), np.float32)
        return np.concatenate([probs.reshape(-1, 1), emb], axis=1).astype(np.float32)

    @bentoml.api
    def explain(self, crops: np.ndarray) -> list[bytes]:
        return self.model.explain(np.asarray(crops, dtype=np.uint8))

    @bentoml.api
    def model_info(self) -> ModelInfo:
        return self.info

    @bentoml.api
    def prepare(self) -> Prepared:
        """Load and warm the store's ``serve.model_tag`` beside the served model (``swap`` serves it),
        in a thread of its own so that scoring goes on: state ``loading`` until it is done, then
        ``unchanged`` when the store still holds the served model, ``ready`` with the new model's
        facts, or ``failed`` when it cannot be loaded (the served model stays). The front polls: a call
        that lasts the whole load is dropped by the service's server after a few seconds."""
        with self._swap_lock:
            if self._loading is None:
                self._loading = self._loader.submit(self._prepare)
            if not self._loading.done():
                return Prepared(state="loading")
            done, self._loading = self._loading, None
        return done.result()

    def _prepare(self) -> Prepared:
        from bentoml.exceptions import NotFound

        from deepfake_detect.models.predictor import ModelLoadError

        try:
            stored = bentoml.models.get(SERVE.model_tag)
            if str(stored.tag) == self.info.bento_tag:
                self._pending = None
                return Prepared(state="unchanged", model=self.info)
            if self._pending is None or self._pending[1].bento_tag != str(stored.tag):  # a repeat reuses it
                self._pending = self._load(stored.path, str(stored.tag))
        except (NotFound, ModelLoadError) as exc:
            return Prepared(state="failed", error=f"{SERVE.model_tag}: {exc}")
        return Prepared(state="ready", model=self._pending[1])

    @bentoml.api
    def swap(self) -> ModelInfo:
        """Serve the model ``prepare`` loaded (one reference swap: a batch in progress finishes on the old one)."""
        with self._swap_lock:
            if self._pending is not None:
                self.model, self.info = self._pending
                self._pending = None
            return self.info


@bentoml.asgi_app(reviewer_app(), path=UI_PATH, name="reviewer")  # the reviewer page, serving/ui/
@bentoml.service(
    name="deepfake_detector",
    workers=SERVE.workers,
    threads=SERVE.threads,
    traffic={"timeout": SERVE.timeout_s, "max_concurrency": SERVE.max_concurrency},
)
class DeepfakeDetector:
    """HTTP front: media checks, frame sampling, face detection, aggregation, request log."""

    face_model = bentoml.depends(FaceModel)

    def __init__(self) -> None:
        import threading

        from deepfake_detect.scoring.recorder import Recorder
        from deepfake_detect.scoring.requestlog import RequestLog
        from deepfake_detect.scoring.uploads import UploadFaces

        swept = sweep_orphan_uploads(Path(tempfile.gettempdir()), SERVE.timeout_s)
        if swept:
            log.warning("deleted %d upload(s) left in BentoML's request temp dirs by a killed server", swept)
        self.request_log = (
            RequestLog(SERVE.request_log_dir, keep_days=SERVE.request_log_days) if SERVE.request_log else None
        )
        self.recorder = Recorder(PARAMS, self.request_log)
        self._scorer: Scorer | None = None
        self._lock = threading.Lock()
        self._gate = ModelGate()  # a model swap waits for the requests in flight; new ones wait for it
        # the face detector is built and warmed now; the model's facts come on first use (the
        # dependency's client is only connected once this service has started)
        warm = UploadFaces(PARAMS)
        warm.warm_up()
        self._detector = warm.detector
        log.info(
            "deepfake_detector: frames/video=%d, upload limit %.0f MB, API key %s",
            SERVE.frames_per_video,
            SERVE.max_upload_mb,
            "required" if os.environ.get(SERVE.api_key_env) else "off (loopback only)",
        )

    @bentoml.on_shutdown
    def close_request_log(self) -> None:
        """Write every queued request-log record before the worker exits."""
        if self.request_log is not None:
            self.request_log.close()

    @property
    def scorer(self) -> Scorer:
        with self._lock:
            if self._scorer is None:
                self._scorer = self._scorer_for(
                    ModelInfo.model_validate(self.face_model.model_info(), from_attributes=True)
                )
            return self._scorer

    def _scorer_for(self, info: ModelInfo) -> Scorer:
        log.info("serving model %s (%s), threshold %.4f", info.tag, info.bento_tag, info.threshold)
        return Scorer(
            PARAMS,
            info,
            self._score,
            explain_fn=self._explain,
            recorder=self.recorder,
            detector=self._detector,
        )

    @contextlib.contextmanager
    def _serving(self) -> Iterator[Scorer]:
        """The scorer of one request: the model it starts on is the model it finishes on."""
        with self._gate.request():
            yield self.scorer

    def _score(self, crops: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        out = np.asarray(_once_more_if_dropped(self.face_model.score, crops))
        return out[:, 0], out[:, 1:]

    def _explain(self, crops: np.ndarray) -> list[bytes]:
        return list(_once_more_if_dropped(self.face_model.explain, crops))

    @bentoml.api
    def score_video(self, file: Upload, explain: bool = False) -> ScoreResult:
        """An mp4/avi/mov/webm clip → label, aggregated probability, per-frame and per-face scores."""
        with _consumed(file), self._serving() as scorer:
            try:
                return scorer.score_video(file, _upload_name(file), explain=explain, client_gone=_client_gone_probe())
            except ScoringError as exc:
                return _error(exc)

    @bentoml.api
    def score_image(self, file: Upload, crop: bool = False, explain: bool = False) -> ScoreResult:
        """A photo or frame (faces detected), or with ``crop=true`` a ready face crop."""
        with _consumed(file), self._serving() as scorer:
            try:
                return scorer.score_image(
                    file, _upload_name(file), crop=crop, explain=explain, client_gone=_client_gone_probe()
                )
            except ScoringError as exc:
                return _error(exc)

    @bentoml.api
    def score_images(self, files: list[Upload], crop: bool = False) -> BatchScoreResult:
        """Many images in one request, all faces in one model call; a bad image gets its own error."""
        if not files:
            return _error(ScoringError(400, "no_files", "files: send at least one image"))
        if len(files) > SERVE.max_batch_images:  # BentoML's request temp dir removes them
            return _error(
                ScoringError(
                    413,
                    "too_many_files",
                    f"files: {len(files)} images is over the {SERVE.max_batch_images}-image limit of one request",
                )
            )
        with _consumed(*files), self._serving() as scorer:
            try:
                results = scorer.score_images(
                    files, [_upload_name(f) for f in files], crop=crop, client_gone=_client_gone_probe()
                )
            except ScoringError as exc:  # the deadline or a gone client: bad images get entries, not exceptions
                return _error(exc)
        request_id = next((r.request_id for r in results if isinstance(r, ScoreResult)), None)
        return BatchScoreResult(request_id=request_id, results=results)

    @bentoml.api
    def explain(self, file: Upload, crop: bool = False) -> bytes:
        """Grad-CAM overlay (PNG) of the largest face in an image."""
        with _consumed(file), self._serving() as scorer:
            try:
                pngs = scorer.explain_pngs(file, _upload_name(file), crop=crop, client_gone=_client_gone_probe())
            except ScoringError as exc:
                return _error(exc)
        return Response(pngs[0], media_type="image/png")

    @bentoml.api
    def reload(self) -> Reloaded:
        """Serve the model store's ``serve.model_tag`` now (what a promotion just saved), no restart:
        the new model is loaded and warmed first, then requests in flight finish on the old one while
        new ones wait, and the swap is one reference (the DAG's ``notify_serving`` calls this)."""
        if SERVE.workers != 1:  # another front worker would keep the old model's threshold and tag
            return _error(ScoringError(409, "reload_unsupported", "reload needs serve.workers 1: restart instead"))
        previous = self.scorer.info
        loaded = self._prepared()
        if loaded.state == "failed":
            return _error(ScoringError(503, "reload_failed", loaded.error or SERVE.model_tag))
        if loaded.state == "ready":
            with self._gate.swap():
                swapped = _once_more_if_dropped(self.face_model.swap)
                info = ModelInfo.model_validate(swapped, from_attributes=True)
                with self._lock:
                    self._scorer = self._scorer_for(info)
        info = self.scorer.info
        return Reloaded(
            changed=info.bento_tag != previous.bento_tag,
            tag=info.tag,
            bento_tag=info.bento_tag,
            previous=previous.tag,
            previous_bento_tag=previous.bento_tag,
        )

    def _prepared(self) -> Prepared:
        """The model service's ``prepare``, polled until its load is done (each call is short)."""
        deadline = time.monotonic() + SERVE.timeout_s
        while (loaded := self._prepare_once()).state == "loading":
            if time.monotonic() > deadline:
                return Prepared(
                    state="failed",
                    error=f"{SERVE.model_tag}: still loading after serve.timeout_s ({SERVE.timeout_s} s)",
                )
            time.sleep(0.5)
        return loaded

    def _prepare_once(self) -> Prepared:
        return Prepared.model_validate(_once_more_if_dropped(self.face_model.prepare), from_attributes=True)

    @bentoml.api
    def review_items(self, labelled: bool = False) -> ReviewListing:
        """The review queue, newest first: why each request was kept, its P(FAKE), threshold, model tag and a
        thumbnail; ``labelled`` lists the labelled ones too. Admin key only: the crops are people's faces."""
        return ReviewQueue(PARAMS).listing(labelled)

    @bentoml.api
    def review_label(self, item_id: str, label: str, note: str = "") -> ReviewItem:
        """Label a kept request REAL or FAKE with a note, through the code path of ``deepfake review label``:
        its crops join the feedback dataset (``data.feedback_dir``); a second label replaces the first.
        Admin key only. 400 for a label that is not REAL or FAKE or a note over 1000 characters, 404 for
        an id not in the queue."""
        from deepfake_detect.scoring.feedback import label_item

        if label.strip().upper() not in ("REAL", "FAKE"):
            return _error(ScoringError(400, "bad_label", f"label {label[:20]!r} is not REAL or FAKE"))
        if len(note) > MAX_NOTE:
            return _error(ScoringError(400, "note_too_long", f"note: {len(note)} characters, at most {MAX_NOTE}"))
        try:
            return label_item(PARAMS, item_id, label, note.strip() or None)
        except ReviewError as exc:
            return _error(ScoringError(404, "unknown_item", str(exc)))

    @bentoml.api
    def model(self) -> dict[str, Any]:
        """The model being served and the limits it enforces."""
        return {
            **self.scorer.info.model_dump(),
            "frames_per_video": SERVE.frames_per_video,
            "max_upload_mb": SERVE.max_upload_mb,
            "max_duration_s": SERVE.max_duration_s,
            "max_fps": SERVE.max_fps,
            "max_frames": SERVE.max_frames,
            "deadline_s": SERVE.deadline_s,
            "video_formats": SERVE.video_formats,
            "aggregation": PARAMS.evaluate.video_aggregation,
        }


DeepfakeDetector.add_asgi_middleware(
    GuardMiddleware,
    max_bytes=int(SERVE.max_upload_mb * 1e6),
    api_key_env=SERVE.api_key_env,
    admin_key_env=SERVE.admin_key_env,
    # the files of /score_images and a few form fields (crop, explain): past it 413 before the form parser
    max_parts=SERVE.max_batch_images + 8,
)
