"""Shared fixtures: tiny models and inputs. No test touches the network."""
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402

import tfpath  # noqa: E402
from tfpath.zoo import small_cnn  # noqa: E402


def analytic(x):
    """f(x, y, z) = 5x + y² + sin z: IG from 0 is (5x, y², sin z) exactly."""
    return 5.0 * x[:, 0] + x[:, 1] ** 2 + tf.sin(x[:, 2])


@pytest.fixture(scope="session")
def analytic_mf():
    return tfpath.ModelFunction(analytic, target="score")


@pytest.fixture(scope="session")
def cnn():
    """An untrained small CNN on 12×12×3 images with 5 classes (logits)."""
    return small_cnn((12, 12, 3), 5, width=8, seed=1)


@pytest.fixture(scope="session")
def smooth_cnn():
    """A smooth (tanh) CNN with logits, for convergence tests (no ReLU kinks)."""
    import keras
    keras.utils.set_random_seed(3)
    inputs = keras.Input((10, 10, 1))
    h = keras.layers.Conv2D(6, 3, activation="tanh")(inputs)
    h = keras.layers.Flatten()(h)
    h = keras.layers.Dense(16, activation="tanh")(h)
    outputs = keras.layers.Dense(3)(h)
    return keras.Model(inputs, outputs)


@pytest.fixture(scope="session")
def images():
    return np.random.default_rng(0).random((4, 12, 12, 3)).astype(np.float32)
