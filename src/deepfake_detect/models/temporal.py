"""A temporal head over people, the seed's CNN + RNN hybrid: each person's face track becomes a
sequence of per-frame features from the frozen backbone (the calibrated logit and the compact PCA
embedding the release already serves), and a small GRU reads the sequence → P(FAKE) per person.

Frame aggregation (:mod:`.aggregate`) scores each frame alone and pools the scores; the head can use
what happens *between* frames (flicker of a blended face, identity drift), which per-frame models
miss. It is measured against frame aggregation on the same clips (``bench/temporal.py``) and served
only where it wins there (docs/models.md).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from deepfake_detect.config import TemporalParams


@dataclass(frozen=True)
class PersonTracks:
    """Face tracks as padded sequences: ``features`` (N, T, F) with zero rows after each track's
    ``lengths`` frames (the GRU masks them), ``labels`` 1 = FAKE, and the video, person and split
    group of each track."""

    features: np.ndarray
    lengths: np.ndarray
    labels: np.ndarray
    videos: np.ndarray
    persons: np.ndarray
    groups: np.ndarray

    def __len__(self) -> int:
        return len(self.labels)

    def take(self, index: np.ndarray) -> PersonTracks:
        """The tracks at ``index`` (a fold)."""
        arrays = (self.features, self.lengths, self.labels, self.videos, self.persons, self.groups)
        return PersonTracks(*(a[index] for a in arrays))


def frame_features(probs: np.ndarray, embeddings: np.ndarray, clip: tuple[float, float]) -> np.ndarray:
    """One row per face: the calibrated logit (probabilities clipped as evaluate clips them) and the
    compact embedding."""
    p = np.clip(np.asarray(probs, np.float64), *clip)
    logit = np.log(p / (1 - p)).astype(np.float32)[:, None]
    return np.concatenate([logit, np.asarray(embeddings, np.float32).reshape(len(p), -1)], axis=1)


def person_tracks(rows: pd.DataFrame, features: np.ndarray, max_frames: int) -> PersonTracks:
    """The face tracks of clip rows (``video``, ``person``, ``frame``, ``label``, ``group``; one
    ``features`` row each), ordered by frame; a track longer than ``max_frames`` keeps evenly spaced
    frames. Rows of ready crops (``frame`` < 0) have no track and are refused."""
    if len(rows) != len(features):
        raise ValueError(f"person_tracks: {len(rows)} rows but {len(features)} feature rows")
    if (rows["frame"] < 0).any():
        raise ValueError("person_tracks: ready crops (frame < 0) have no face track; pass clip rows only")
    order = rows.reset_index(drop=True).sort_values(["video", "person", "frame"], kind="stable")
    tracks = list(order.groupby(["video", "person"], sort=True).indices.items())
    x = np.zeros((len(tracks), max_frames, features.shape[1]), np.float32)
    lengths, labels, videos, persons, groups = [], [], [], [], []
    for i, ((video, person), idx) in enumerate(tracks):
        picked = order.index.to_numpy()[idx]
        if len(picked) > max_frames:
            picked = picked[np.linspace(0, len(picked) - 1, max_frames).round().astype(int)]
        x[i, : len(picked)] = features[picked]
        first = rows.iloc[picked[0]]
        lengths.append(len(picked))
        labels.append(int(first["label"] == "FAKE"))
        videos.append(video)
        persons.append(int(person))
        groups.append(first["group"])
    return PersonTracks(x, np.array(lengths), np.array(labels), np.array(videos), np.array(persons), np.array(groups))


@dataclass(frozen=True)
class Standardiser:
    """Per-feature mean and scale of the training tracks' real (unpadded) frames."""

    mean: np.ndarray
    scale: np.ndarray

    @classmethod
    def fit(cls, tracks: PersonTracks) -> Standardiser:
        real = np.concatenate([f[:n] for f, n in zip(tracks.features, tracks.lengths, strict=True)])
        return cls(real.mean(axis=0), real.std(axis=0) + 1e-6)

    def apply(self, tracks: PersonTracks) -> np.ndarray:
        x = (tracks.features - self.mean) / self.scale
        x[np.arange(x.shape[1])[None, :] >= tracks.lengths[:, None]] = 0.0  # padding stays masked
        return x.astype(np.float32)


def build_head(max_frames: int, n_features: int, p: TemporalParams, seed: int):
    """Masking → GRU → sigmoid: P(FAKE) of one person from the sequence of their faces."""
    import keras

    keras.utils.set_random_seed(seed)
    inputs = keras.Input((max_frames, n_features), name="track")
    h = keras.layers.Masking(mask_value=0.0)(inputs)
    h = keras.layers.GRU(p.units, dropout=p.dropout, name="gru")(h)
    out = keras.layers.Dense(1, activation="sigmoid", name="p_fake")(h)
    model = keras.Model(inputs, out, name="temporal_head")
    model.compile(keras.optimizers.Adam(p.learning_rate), "binary_crossentropy")
    return model


@dataclass
class TemporalHead:
    """A fitted head with the standardiser of its training tracks."""

    model: object
    standardiser: Standardiser

    def predict(self, tracks: PersonTracks) -> np.ndarray:
        if len(tracks) == 0:
            return np.zeros(0, np.float32)
        return np.asarray(self.model.predict_on_batch(self.standardiser.apply(tracks))).reshape(-1)


def fit_head(train: PersonTracks, p: TemporalParams, seed: int) -> TemporalHead:
    """Fit on the training tracks, classes weighted to balance (FAKE tracks outnumber REAL ones)."""
    if len(set(train.labels.tolist())) < 2:
        raise ValueError(f"fit_head: the {len(train)} training tracks hold one class only")
    standardiser = Standardiser.fit(train)
    model = build_head(train.features.shape[1], train.features.shape[2], p, seed)
    n, fake = len(train), int(train.labels.sum())
    weights = {0: n / (2 * (n - fake)), 1: n / (2 * fake)}
    model.fit(
        standardiser.apply(train),
        train.labels.astype(np.float32),
        epochs=p.epochs,
        batch_size=p.batch_size,
        class_weight=weights,
        shuffle=True,
        verbose=0,
    )
    return TemporalHead(model, standardiser)
