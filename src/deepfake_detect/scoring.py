"""Media → faces → scores: the one path that the BentoML service and ``deepfake score`` share.

Video: ``serve.frames_per_video`` evenly spaced frames (:func:`video.iter_sample_frames`, the same
frames training samples), faces found, cropped and linked into people by :mod:`.clipfaces` exactly
as the extract stage does, every face scored, each person aggregated with
:func:`aggregate.people_scores` (``evaluate.clip`` / ``video_aggregation`` / ``person_min_share``,
exactly as evaluate does) and the clip scored as its fakest person, labelled with the promoted
threshold. Face detection overlaps decoding (a thread).
Image: faces detected the same way, or with ``crop=True`` the image is a ready face crop; each face
is a person and the image scores as its fakest face. No face → ``label`` NO_FACE and
``probability`` None: never a made-up 0.5. Uploads are checked first (:mod:`.media`: container
allow-list, fps and frame caps, pixel budget); a request stops its own work at ``serve.deadline_s``.
Bad input raises :class:`ScoringError` with an HTTP status, a short error code and a detail naming
the file (never a server path) and what is wrong."""

from __future__ import annotations

import base64
import logging
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from .aggregate import PersonScore, clip_probability, people_scores
from .clipfaces import FaceCrop, Frame, assign_people, detect_and_crop
from .config import Params
from .faces import make_detector
from .imagestats import crop_stats
from .media import (
    IMAGE_SUFFIXES,
    Deadline,
    FrameDecoder,
    PixelBudget,
    ScoringError,
    check_file,
    probe_video,
    read_image,
    video_error,
)
from .score_result import MediaInfo, ScoreError, ScoreResult

__all__ = [
    "FAKE",
    "IMAGE_SUFFIXES",
    "NO_FACE",
    "REAL",
    "FaceModel",
    "ModelInfo",
    "Scorer",
    "ScoringError",
    "load_face_model",
    "load_from_store",
    "local_scorer",
    "read_image",
]

log = logging.getLogger(__name__)

FAKE, REAL, NO_FACE = "FAKE", "REAL", "NO_FACE"
ScoreFn = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]  # crops (N,S,S,3) uint8 → probs, embeddings
ExplainFn = Callable[[np.ndarray], list[bytes]]  # crops → PNG overlays


@dataclass(frozen=True)
class ModelInfo:
    """What the responses and the request log say about the model."""

    tag: str
    threshold: float
    input_size: int
    family: str
    bento_tag: str | None = None


# --------------------------------------------------------------------------- the model


class FaceModel:
    """A model folder loaded for scoring: P(FAKE) and the compact embedding in ONE forward pass
    (Keras: a two-output view of the model, the same weights ``Predictor.predict`` runs; the
    embedding is ``Predictor.embed``'s projection of the ``pooled`` features)."""

    def __init__(self, predictor: Any, bento_tag: str | None = None, batch_size: int = 32):
        self.predictor = predictor
        self.batch_size = batch_size
        self.info = ModelInfo(
            tag=str(predictor.tag),
            threshold=float(predictor.threshold),
            input_size=int(predictor.input_size),
            family=str(predictor.family),
            bento_tag=bento_tag,
        )
        self._lock = threading.Lock()
        self._dual = None
        self._gradcam = None
        if predictor.family == "keras":
            import keras

            model = predictor.model
            pooled = model.get_layer(predictor.embedding_layer)
            self._dual = keras.Model(model.inputs, [model.output, pooled.output])

    def score(self, crops: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Crops (N, S, S, 3) RGB uint8 → (P(FAKE) (N,), embeddings (N, E))."""
        if len(crops) == 0:
            return np.zeros(0, np.float32), np.zeros((0, 0), np.float32)
        with self._lock:  # one model call at a time: TF already uses every core
            if self._dual is None:
                return self.predictor.predict(crops), self.predictor.embed(crops)
            from .predictor import resize_batch

            probs, feats = [], []
            for start in range(0, len(crops), self.batch_size):
                batch = resize_batch(crops[start : start + self.batch_size], self.info.input_size)
                p, f = self._dual.predict_on_batch(batch)
                probs.append(np.asarray(p).reshape(-1))
                feats.append(np.asarray(f).reshape(len(batch), -1))
        feats_all = np.concatenate(feats).astype(np.float32)
        proj = self.predictor.projection
        emb = feats_all if proj is None else ((feats_all - proj["mean"]) @ proj["components"].T).astype(np.float32)
        return self.predictor.calibration.apply(np.concatenate(probs)), emb  # as Predictor.predict

    def explain(self, crops: np.ndarray) -> list[bytes]:
        """Grad-CAM PNG overlays (Keras models only)."""
        from .gradcam import GradCam, GradCamError

        refusal = explain_refusal(self.info)
        if refusal is not None:
            raise refusal
        with self._lock:
            if self._gradcam is None:
                try:
                    self._gradcam = GradCam(
                        self.predictor.model,
                        self.info.input_size,
                        self.predictor.embedding_layer,
                    )
                except GradCamError as exc:
                    raise ScoringError(422, "explain_unavailable", f"model {self.info.tag}: {exc}") from exc
            return self._gradcam.overlays(crops)


def explain_refusal(info: ModelInfo) -> ScoringError | None:
    """Why this model cannot be explained (Grad-CAM needs a Keras model), or None."""
    if info.family == "keras":
        return None
    return ScoringError(
        422, "explain_unavailable", f"model {info.tag} is a {info.family} model: Grad-CAM needs a Keras model"
    )


def load_face_model(folder: str | Path, bento_tag: str | None = None) -> FaceModel:
    from .predictor import load_predictor

    return FaceModel(load_predictor(folder), bento_tag=bento_tag)


def load_from_store(tag: str) -> FaceModel:
    """The model saved by promote into the BentoML model store (``$BENTOML_HOME``)."""
    import bentoml
    from bentoml.exceptions import NotFound

    try:
        model = bentoml.models.get(tag)
    except NotFound as exc:
        raise FileNotFoundError(
            f"BentoML model {tag!r} not found in the model store (run `dvc repro` to "
            f"promote one, or point to a model folder)"
        ) from exc
    return load_face_model(model.path, bento_tag=str(model.tag))


# --------------------------------------------------------------------------- scoring


@dataclass
class _Timer:
    t0: float = field(default_factory=time.perf_counter)
    parts: dict[str, float] = field(default_factory=dict)

    def add(self, key: str, seconds: float) -> None:
        self.parts[key] = round(self.parts.get(key, 0.0) + seconds, 4)

    def done(self) -> dict[str, float]:
        return {**self.parts, "total_s": round(time.perf_counter() - self.t0, 4)}


class Scorer:
    """Scores files with a model reached through ``score_fn`` (in-process or a BentoML service)."""

    def __init__(
        self,
        params: Params,
        info: ModelInfo,
        score_fn: ScoreFn,
        *,
        explain_fn: ExplainFn | None = None,
        request_log: Any | None = None,
        detector: Any | None = None,
    ):
        self.params, self.info, self.score_fn, self.explain_fn = params, info, score_fn, explain_fn
        self.request_log = request_log
        self._detector = detector
        self._detector_lock = threading.Lock()
        self._detect_lock = threading.Lock()

    @property
    def detector(self):
        with self._detector_lock:
            if self._detector is None:
                ep = self.params.extract
                self._detector = make_detector(ep.detector, ep.min_face_size)
            return self._detector

    @property
    def max_bytes(self) -> int:
        return int(self.params.serve.max_upload_mb * 1e6)

    def warm_up(self) -> None:
        """Build the detector and run it once, so the first request does not pay for either."""
        self.faces_of([(None, np.zeros((360, 640, 3), np.uint8))], "warm-up", self._deadline())

    def faces_of(self, frames: list[Frame], name: str, deadline: Deadline) -> list[FaceCrop]:
        """Frames' faces found and cropped (:func:`clipfaces.detect_and_crop`, the path extract
        takes); a clip's same-sized frames share one detector call."""
        deadline.check(name, "detecting faces")
        detector = self.detector
        with self._detect_lock:  # one detection at a time: the detector already uses every core
            return detect_and_crop(detector, frames, self.params.extract)

    # ----- media → faces

    def video_faces(
        self, path: Path, name: str, timer: _Timer, deadline: Deadline
    ) -> tuple[dict[str, Any], list[int], list[FaceCrop]]:
        """Probe, then decode (a thread) and detect (here) at the same time, both stopping at the deadline."""
        from .video import VideoError, sample_indices

        sp = self.params.serve
        check_file(path, name, self.max_bytes)
        info = probe_video(path, name, self.params)
        frames: list[int] = []
        crops: list[FaceCrop] = []
        pending: list[tuple[int, np.ndarray]] = []
        detect_s = 0.0
        decoder = FrameDecoder(path, sp, deadline, name)
        try:
            for item in decoder:
                frames.append(item[0])
                pending.append(item)
                if len(pending) >= sp.detect_batch:  # detect these while the decode thread goes on
                    t = time.perf_counter()
                    crops += self.faces_of(pending, name, deadline)
                    detect_s += time.perf_counter() - t
                    pending = []
        except VideoError as exc:
            raise video_error(exc, name, self.params) from exc
        finally:
            decoder.stop()
        if pending:
            t = time.perf_counter()
            crops += self.faces_of(pending, name, deadline)
            detect_s += time.perf_counter() - t
        wanted = len(sample_indices(info.frames, sp.frames_per_video))
        if len(frames) < 0.5 * wanted:
            raise ScoringError(
                422,
                "truncated_video",
                f"{name}: only {len(frames)} of the {wanted} sampled frames "
                f"decode (the header promises {info.frames} frames): truncated or damaged",
            )
        assign_people(crops, self.params.extract)
        timer.add("decode_s", decoder.seconds)
        timer.add("detect_s", detect_s)
        meta = {
            "width": info.width,
            "height": info.height,
            "fps": round(info.fps, 3),
            "duration_s": round(info.duration_s, 3),
            "codec": info.codec,
            "frames": info.frames,
        }
        return meta, frames, crops

    def image_faces(
        self, path: Path, name: str, crop: bool, timer: _Timer, deadline: Deadline, budget: PixelBudget
    ) -> tuple[dict[str, Any], list[FaceCrop]]:
        check_file(path, name, self.max_bytes)
        deadline.check(name, "waiting to decode")
        t = time.perf_counter()
        rgb, channels = read_image(path, name, self.params, budget)
        timer.add("decode_s", time.perf_counter() - t)
        meta = {"width": int(rgb.shape[1]), "height": int(rgb.shape[0]), "channels": channels}
        if crop:
            size = self.params.extract.crop_size
            interp = cv2.INTER_AREA if max(rgb.shape[:2]) > size else cv2.INTER_CUBIC
            face = cv2.resize(rgb, (size, size), interpolation=interp)
            return meta, [FaceCrop(None, 0, (0, 0, int(rgb.shape[1]), int(rgb.shape[0])), None, face)]
        deadline.check(name, "waiting to detect faces")
        t = time.perf_counter()
        faces = assign_people(self.faces_of([(None, rgb)], name, deadline), self.params.extract)  # one per face
        timer.add("detect_s", time.perf_counter() - t)
        return meta, faces

    # ----- faces → scores

    def _score_faces(self, faces: list[FaceCrop], timer: _Timer) -> None:
        if not faces:
            return
        size = self.info.input_size
        batch = np.stack(
            [
                f.crop if f.crop.shape[0] == size else cv2.resize(f.crop, (size, size), interpolation=cv2.INTER_AREA)
                for f in faces
            ]
        )
        t = time.perf_counter()
        probs, emb = self.score_fn(batch)
        timer.add("model_s", time.perf_counter() - t)
        if len(probs) != len(faces):
            raise RuntimeError(f"model returned {len(probs)} scores for {len(faces)} faces")
        for f, p, e in zip(faces, probs, emb if len(emb) else [None] * len(faces), strict=True):
            f.probability, f.embedding = float(p), e

    def _label(self, p: float | None) -> str:
        if p is None:
            return NO_FACE
        return FAKE if p >= self.info.threshold else REAL

    def _face_dict(self, f: FaceCrop) -> dict[str, Any]:
        return {
            "face": f.face,
            "person": f.person,
            "box": list(f.box),
            "confidence": f.confidence,
            "probability": round(f.probability, 6),
            "label": self._label(f.probability),
        }

    def _check_explainable(self) -> None:
        if self.explain_fn is None:
            raise ScoringError(422, "explain_unavailable", "this scorer has no Grad-CAM explainer")
        refusal = explain_refusal(self.info)
        if refusal is not None:  # before any work: the model service would only answer a 500
            raise refusal

    def _explain(self, faces: list[FaceCrop], out: dict[int, str], timer: _Timer) -> None:
        self._check_explainable()
        chosen = sorted(range(len(faces)), key=lambda i: -faces[i].box[2] * faces[i].box[3])
        chosen = chosen[: self.params.serve.explain_max_faces]
        if not chosen:
            return
        t = time.perf_counter()
        pngs = self.explain_fn(np.stack([faces[i].crop for i in chosen]))
        timer.add("explain_s", time.perf_counter() - t)
        for i, png in zip(chosen, pngs, strict=True):
            out[i] = base64.b64encode(png).decode("ascii")

    def _result(
        self,
        kind: str,
        name: str,
        meta: dict[str, Any],
        frames: list[int | None],
        faces: list[FaceCrop],
        people: list[PersonScore],
        probability: float | None,
        timer: _Timer,
        request_id: str,
        endpoint: str,
        heatmaps: dict[int, str],
    ) -> dict[str, Any]:
        by_frame: dict[int | None, list[int]] = {fr: [] for fr in frames}
        for i, f in enumerate(faces):
            by_frame.setdefault(f.frame, []).append(i)
        frame_list = []
        for fr, idx in by_frame.items():
            face_dicts = []
            for i in idx:
                d = self._face_dict(faces[i])
                if i in heatmaps:
                    d["heatmap_png"] = heatmaps[i]
                face_dicts.append(d)
            fp = max((faces[i].probability for i in idx), default=None)
            frame_list.append({"frame": fr, "probability": None if fp is None else round(fp, 6), "faces": face_dicts})
        self._log(faces, name, request_id, endpoint)
        return ScoreResult(
            file=name,
            kind=kind,
            label=self._label(probability),
            probability=None if probability is None else round(probability, 6),
            threshold=self.info.threshold,
            faces_found=len(faces),
            frames_sampled=len([fr for fr in frames if fr is not None]) if kind == "video" else None,
            frames_with_faces=len({f.frame for f in faces}) if kind == "video" else None,
            model_tag=self.info.tag,
            bento_tag=self.info.bento_tag,
            media=MediaInfo(**meta),
            people=[self._person_dict(p, faces) for p in people],
            frames=frame_list,
            request_id=request_id,
            timings=timer.done(),
        ).model_dump()

    def _person_dict(self, person: PersonScore, faces: list[FaceCrop]) -> dict[str, Any]:
        boxes = np.array([f.box for f in faces if f.person == person.person])
        return {
            "person": person.person,
            "probability": round(person.probability, 6),
            "label": self._label(person.probability),
            "frames": person.frames,
            "deciding": person.deciding,
            "box": [int(v) for v in np.median(boxes, axis=0).round()],  # where the person mostly is
        }

    def _log(self, faces: list[FaceCrop], name: str, request_id: str, endpoint: str) -> None:
        if self.request_log is None or not faces:
            return
        from .requestlog import make_record

        records = []
        for f in faces:
            stats = crop_stats(f.crop)
            records.append(
                make_record(
                    request_id=request_id,
                    endpoint=endpoint,
                    file=name,
                    frame=f.frame,
                    face=f.face,
                    model_tag=self.info.tag,
                    probability=round(f.probability, 6),
                    label=self._label(f.probability),
                    confidence=f.confidence,
                    face_size=int(min(f.box[2], f.box[3])),
                    width=stats["width"],
                    height=stats["height"],
                    brightness=round(stats["brightness"], 4),
                    contrast=round(stats["contrast"], 4),
                    sharpness=round(stats["sharpness"], 4),
                    saturation=round(stats["saturation"], 4),
                    embedding=None if f.embedding is None else [round(float(x), 5) for x in f.embedding],
                )
            )
        self.request_log.write(records)

    # ----- public entry points

    def _deadline(self) -> Deadline:
        return Deadline(self.params.serve.deadline_s)

    def _budget(self) -> PixelBudget:
        return PixelBudget(self.params.serve.max_request_pixels)

    def score_video(
        self,
        path: str | Path,
        name: str | None = None,
        *,
        explain: bool = False,
        request_id: str | None = None,
        endpoint: str = "score_video",
    ) -> dict[str, Any]:
        path = Path(path)
        name = name or path.name
        timer = _Timer()
        try:
            if explain:
                self._check_explainable()
            meta, frames, faces = self.video_faces(path, name, timer, self._deadline())
        except ScoringError as exc:
            raise exc.without_path(path, name) from exc
        self._score_faces(faces, timer)
        ev = self.params.evaluate
        people = self._people(faces)
        prob = clip_probability(people) if people else None
        heatmaps: dict[int, str] = {}
        if explain and faces:
            self._explain(faces, heatmaps, timer)
        meta["aggregation"] = ev.video_aggregation
        return self._result(
            "video", name, meta, frames, faces, people, prob, timer, request_id or uuid.uuid4().hex, endpoint, heatmaps
        )

    def _people(self, faces: list[FaceCrop]) -> list[PersonScore]:
        """Each person's (face track's) score with evaluate's clip rule (:func:`aggregate.people_scores`)."""
        if not faces:
            return []
        ev = self.params.evaluate
        return people_scores(
            np.array([f.probability for f in faces]),
            np.array([f.person for f in faces]),
            np.array([f.frame for f in faces]),
            ev.clip,
            ev.video_aggregation,
            ev.person_min_share,
        )

    def score_image(
        self,
        path: str | Path,
        name: str | None = None,
        *,
        crop: bool = False,
        explain: bool = False,
        request_id: str | None = None,
        endpoint: str = "score_image",
    ) -> dict[str, Any]:
        return self.score_images(
            [path],
            [name] if name else None,
            crop=crop,
            explain=explain,
            request_id=request_id,
            endpoint=endpoint,
            raise_errors=True,
        )[0]

    def score_images(
        self,
        paths: Sequence[str | Path],
        names: Sequence[str] | None = None,
        *,
        crop: bool = False,
        explain: bool = False,
        request_id: str | None = None,
        endpoint: str = "score_images",
        raise_errors: bool = False,
    ) -> list[dict[str, Any]]:
        """Several images, all faces in ONE model call, within one deadline and pixel budget; a bad
        image gets an error entry (``{"file", "error", "detail", "status"}``) unless ``raise_errors``."""
        request_id = request_id or uuid.uuid4().hex
        names = list(names) if names else [Path(p).name for p in paths]
        if explain:
            self._check_explainable()
        deadline, budget = self._deadline(), self._budget()
        timers, loaded = [], []
        for path, name in zip(paths, names, strict=True):
            timer = _Timer()
            try:
                meta, faces = self.image_faces(Path(path), name, crop, timer, deadline, budget)
            except ScoringError as exc:
                if raise_errors or exc.status == 504:  # past the deadline the whole request stops
                    raise exc.without_path(Path(path), name) from exc
                loaded.append(exc.without_path(Path(path), name))
            else:
                loaded.append((meta, faces))
            timers.append(timer)
        all_faces = [f for item in loaded if not isinstance(item, ScoringError) for f in item[1]]
        shared = _Timer()
        self._score_faces(all_faces, shared)
        out = []
        for name, timer, item in zip(names, timers, loaded, strict=True):
            if isinstance(item, ScoringError):
                out.append(ScoreError(file=name, **item.to_dict(), status=item.status).model_dump())
                continue
            meta, faces = item
            for k, v in shared.parts.items():
                timer.add(k, v)
            heatmaps: dict[int, str] = {}
            if explain and faces:
                self._explain(faces, heatmaps, timer)
            prob = max(f.probability for f in faces) if faces else None
            people = [PersonScore(f.face, f.probability, 1, True) for f in faces]  # in a still, each face is a person
            meta["ready_crop"] = crop
            out.append(
                self._result("image", name, meta, [None], faces, people, prob, timer, request_id, endpoint, heatmaps)
            )
        return out

    def explain_pngs(self, path: str | Path, name: str | None = None, *, crop: bool = False) -> list[bytes]:
        """Grad-CAM overlays (PNG bytes) of an image's faces, largest first."""
        path = Path(path)
        name = name or path.name
        try:
            self._check_explainable()
            faces = self.image_faces(path, name, crop, _Timer(), self._deadline(), self._budget())[1]
        except ScoringError as exc:
            raise exc.without_path(path, name) from exc
        if not faces:
            raise ScoringError(422, "no_face", f"{name}: no face found to explain")
        heatmaps: dict[int, str] = {}
        self._explain(faces, heatmaps, _Timer())
        order = sorted(heatmaps, key=lambda i: -faces[i].box[2] * faces[i].box[3])
        return [base64.b64decode(heatmaps[i]) for i in order]


def local_scorer(params: Params, model: FaceModel, request_log: Any | None = None) -> Scorer:
    """A scorer over an in-process model (the CLI, benchmarks, tests)."""
    return Scorer(params, model.info, model.score, explain_fn=model.explain, request_log=request_log)
