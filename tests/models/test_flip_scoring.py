"""A model whose record says ``test_time_flip`` scores each face and its mirror in one call: P(FAKE) is
the mean logit of the two (evaluate's calibration, promote's release and serving all read the record, so
they agree); the embedding, the unfamiliar-media test and Grad-CAM stay the face's own."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from deepfake_detect.config import load_params
from deepfake_detect.contracts.model import ModelRecord
from deepfake_detect.models.artifacts import save_untrained_keras
from deepfake_detect.models.combine import mean_logit
from deepfake_detect.models.predictor import load_predictor

REPO_PARAMS = Path(__file__).resolve().parents[2] / "params.yaml"


SIDE = 32


@pytest.fixture(scope="module")
def plain_and_flipped(tmp_path_factory: pytest.TempPathFactory):
    """A small random Keras model of the served graph's shape (pooled features at ``pooled``), as trained
    records are written before ``test_time_flip`` existed, and the same model with the flag set."""
    import keras
    from keras import layers

    keras.utils.set_random_seed(0)
    inp = keras.Input((SIDE, SIDE, 3), name="image")
    x = layers.Rescaling(1 / 127.5, offset=-1.0)(inp)
    x = layers.Conv2D(8, 5, strides=2, activation="relu")(x)
    x = layers.GlobalAveragePooling2D(name="pooled")(x)
    model = keras.Model(inp, layers.Dense(1, activation="sigmoid")(x))
    folder = tmp_path_factory.mktemp("flip") / "model"
    save_untrained_keras(model, folder, name="tiny", tag="tiny-flip-test", input_size=SIDE)
    plain = load_predictor(folder)
    assert plain.record.test_time_flip is False  # records written before the field: one pass, as they were fitted
    flipped = dataclasses.replace(plain, record=plain.record.model_copy(update={"test_time_flip": True}))
    return plain, flipped


def _faces(n: int = 5, side: int = SIDE) -> np.ndarray:
    rng = np.random.default_rng(3)
    return rng.integers(0, 255, (n, side, side, 3), np.uint8)  # asymmetric: a face and its mirror differ


def test_a_flipped_model_scores_the_mean_logit_of_a_face_and_its_mirror(plain_and_flipped):
    plain, flipped = plain_and_flipped
    faces = _faces()
    own, mirror = plain.predict_raw(faces), plain.predict_raw(faces[:, :, ::-1])
    assert not np.allclose(own, mirror, atol=1e-4)  # the test could not tell otherwise
    np.testing.assert_allclose(flipped.predict_raw(faces, batch_size=2), mean_logit([own, mirror]), atol=1e-5)


def test_serving_one_pass_gives_the_flipped_score_and_the_face_own_embedding(plain_and_flipped):
    plain, flipped = plain_and_flipped
    faces = _faces()
    probs, emb = flipped.score(faces, batch_size=2)
    np.testing.assert_allclose(probs, flipped.predict(faces), atol=1e-5)
    np.testing.assert_allclose(emb, plain.embed(faces), atol=1e-4)  # the OOD test was fitted on unmirrored faces


def test_the_record_keeps_the_flag_and_old_records_load_without_it(tmp_path: Path, plain_and_flipped):
    _, flipped = plain_and_flipped
    flipped.record.write(tmp_path / "record.json")
    assert ModelRecord.read(tmp_path / "record.json").test_time_flip is True
    params = load_params(REPO_PARAMS)
    assert params.train.efficientnet_lite0.test_time_flip is True  # the measured default (docs/models.md)
