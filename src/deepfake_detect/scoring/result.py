"""The score result contract: what ``/score_video``, ``/score_image``, ``/score_images`` and
``deepfake score --json`` answer. One definition, used by :mod:`.answers` to build every answer, by
the BentoML service as its declared output (so the OpenAPI page shows the schema) and by the CLI's
JSON lines and CSV."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from deepfake_detect.contracts.base import Contract
from deepfake_detect.contracts.unfamiliar import CompressionFit, OodFit

Verdict = Literal["FAKE", "REAL", "NO_FACE"]
UnfamiliarReason = Literal["faces", "compression"]  # why a file is unlike the training data


class FaceScore(Contract):
    """One face of one frame (or image)."""

    face: int  # index within its frame, largest first
    person: int  # the face track it belongs to (PersonVerdict.person)
    box: list[int]  # x, y, w, h in original pixels
    confidence: float | None  # detector score; None for a ready crop (crop=true)
    probability: float  # calibrated P(FAKE)
    label: Verdict
    ood_score: float | None = None  # distance from the training faces (OodFit); None: the model has no OOD fit
    unfamiliar: bool | None = None  # ood_score past the threshold fitted on val
    heatmap_png: str | None = None  # base64 Grad-CAM overlay, only with explain=true


class FrameScore(Contract):
    frame: int | None  # index in the clip; None for a still image
    probability: float | None  # the frame's fakest face; None when it has no face
    faces: list[FaceScore]


class PersonVerdict(Contract):
    """One person (face track) of a clip: its faces aggregated with evaluate's clip rule."""

    person: int
    probability: float
    label: Verdict
    frames: int  # sampled frames the person is seen in
    deciding: bool  # seen often enough (evaluate.person_min_share) to decide the clip
    box: list[int]  # where the person mostly is (median box), x, y, w, h


class MediaInfo(Contract):
    """What the upload is: video fields for clips, ``channels`` / ``ready_crop`` for images."""

    width: int
    height: int
    fps: float | None = None
    duration_s: float | None = None
    codec: str | None = None
    frames: int | None = None  # the header's frame count
    bits_per_pixel: float | None = None  # video bits per pixel of each frame (header bit rate / (w x h x fps))
    aggregation: str | None = None  # evaluate.video_aggregation applied to each person
    channels: int | None = None
    ready_crop: bool | None = None  # images: scored as a ready face crop (crop=true)


class ScoreResult(Contract):
    """The answer for one video or image: ``/score_video``, ``/score_image``, ``deepfake score --json``.

    ``probability`` is the fakest deciding person's (the clip) or the fakest face's (an image);
    None with label NO_FACE when no face was found, never a made-up 0.5."""

    file: str
    kind: Literal["video", "image"]
    label: Verdict
    probability: float | None
    threshold: float
    faces_found: int
    frames_sampled: int | None  # videos only
    frames_with_faces: int | None  # videos only
    model_tag: str
    bento_tag: str | None
    media: MediaInfo
    people: list[PersonVerdict]
    frames: list[FrameScore]
    request_id: str
    timings: dict[str, float]  # seconds: decode_s, detect_s, model_s, explain_s, total_s
    # unlike the training data (verdict unreliable), for the reasons listed: "faces" (more than
    # serve.unfamiliar_share of the faces are past the OOD threshold), "compression" (a clip carrying
    # fewer bits per pixel than the release's CompressionFit floor); None when nothing could be judged
    unfamiliar: bool | None = None
    unfamiliar_share: float | None = None  # share of the faces past the OOD threshold
    unfamiliar_reasons: list[UnfamiliarReason] = Field(default_factory=list)


class ScoreError(Contract):
    """A file that could not be scored, inside a batch answer (single requests get an HTTP error)."""

    file: str
    error: str  # short code, e.g. unsupported_media
    detail: str  # names the file and what is wrong
    status: int  # the HTTP status the file alone would have got


class BatchScoreResult(Contract):
    """``/score_images``: one entry per uploaded image, in order."""

    request_id: str | None
    results: list[ScoreResult | ScoreError]


class ModelInfo(Contract):
    """What the responses and the request log say about the model (also the model service's answer
    to the front's ``model_info`` / ``swap`` calls)."""

    tag: str
    threshold: float
    input_size: int
    family: str
    bento_tag: str | None = None
    crop_margin: float | None = None  # the training crops' framing (None: extract.margin)
    ood: OodFit | None = None  # the unfamiliar-media test fitted at promotion (None: not fitted)
    compression: CompressionFit | None = None  # the training clips' bits-per-pixel floor (None: not fitted)
    members: list[str] = Field(default_factory=list)  # an ensemble's member models, the strongest first; [] otherwise
