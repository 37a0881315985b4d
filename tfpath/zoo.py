"""Small Keras models trained in seconds on the offline datasets (tests, demo, benchmarks)."""
from __future__ import annotations

import os
from pathlib import Path

from tfpath.core import seeding


@seeding.seeded_by()
def small_cnn(input_shape, num_classes=10, width=16, softmax=False, seed=0):
    """A small CNN: two 3×3 convolutions (ReLU), max-pooling, global average pooling, dense.

    Args:
      input_shape: ``(H, W, C)``.
      num_classes: outputs.
      width: channels of the first convolution (the second has twice as many).
      softmax: end in a softmax (probabilities) instead of logits.
      seed: weight initialisation seed.

    Returns:
      An uncompiled Keras 3 functional model.
    """
    import keras
    inputs = keras.Input(shape=tuple(input_shape))
    h = keras.layers.Conv2D(width, 3, padding="same", activation="relu", name="conv1")(inputs)
    h = keras.layers.MaxPooling2D(2)(h)
    h = keras.layers.Conv2D(2 * width, 3, padding="same", activation="relu", name="conv2")(h)
    h = keras.layers.GlobalAveragePooling2D()(h)
    outputs = keras.layers.Dense(num_classes, activation="softmax" if softmax else None,
                                 name="logits" if not softmax else "probs")(h)
    return keras.Model(inputs, outputs, name="small_cnn")


@seeding.seeded_by()
def train_classifier(model, x, y, epochs=5, batch_size=64, learning_rate=3e-3, verbose=0,
                     seed=0):
    """Compiles ``model`` with Adam and sparse cross-entropy and fits it; returns the model."""
    import keras
    from_logits = model.layers[-1].get_config().get("activation") != "softmax"
    model.compile(optimizer=keras.optimizers.Adam(learning_rate),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=from_logits),
                  metrics=["accuracy"])
    model.fit(x, y, epochs=epochs, batch_size=batch_size, verbose=verbose, shuffle=True)
    return model


def cache_dir() -> Path:
    """The user's cache directory for tfpath (``$TFPATH_CACHE`` or ``~/.cache/tfpath``)."""
    root = os.environ.get("TFPATH_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME", os.path.join(os.path.expanduser("~"), ".cache")),
        "tfpath")
    path = Path(root)
    path.mkdir(parents=True, exist_ok=True)
    return path


def digits_cnn(size=16, epochs=30, retrain=False, verbose=0):
    """A small CNN trained once on scikit-learn digits (resized to ``size``), cached on disk.

    Returns:
      ``(model, split)``: the Keras model (logits) and the :class:`tfpath.datasets.Split`.
    """
    import keras
    from tfpath.datasets import load_digits
    split = load_digits(size=size)
    path = cache_dir() / f"digits_cnn_{size}_{epochs}.keras"
    if path.exists() and not retrain:
        return keras.models.load_model(path), split
    model = small_cnn(split.input_shape, split.num_classes)
    train_classifier(model, split.x_train, split.y_train, epochs=epochs, verbose=verbose)
    model.save(path)
    return model, split


def mnist_cnn(epochs=8, retrain=False, verbose=0):
    """A small CNN (two convolutions, max-pooling, a dense layer; logits) trained once on the
    bundled 5,000-image MNIST subset, cached on disk.

    Returns:
      ``(model, split)``: the Keras model and the :class:`tfpath.datasets.Split` (4,000 train,
      1,000 test images, 28×28×1 in [0, 1]).
    """
    import keras
    from tfpath.datasets import load_mnist_subset
    split = load_mnist_subset()
    path = cache_dir() / f"mnist_cnn_{epochs}.keras"
    if path.exists() and not retrain:
        return keras.models.load_model(path), split
    with seeding.seeded(0):
        inputs = keras.Input(shape=split.input_shape)
        h = keras.layers.Conv2D(16, 3, padding="same", activation="relu", name="conv1")(inputs)
        h = keras.layers.MaxPooling2D(2)(h)
        h = keras.layers.Conv2D(32, 3, padding="same", activation="relu", name="conv2")(h)
        h = keras.layers.MaxPooling2D(2)(h)
        h = keras.layers.Flatten()(h)
        h = keras.layers.Dense(64, activation="relu")(h)
        outputs = keras.layers.Dense(split.num_classes, name="logits")(h)
        model = keras.Model(inputs, outputs, name="mnist_cnn")
        train_classifier(model, split.x_train, split.y_train, epochs=epochs, verbose=verbose)
    model.save(path)
    return model, split


@seeding.seeded_by()
def lowres_classifier(input_shape=(28, 28, 1), num_classes=10, rate=0.5, seed=0):
    """The low-resolution classifier of the code of Perez et al. ("Attribution of Predictive
    Uncertainties in Classification Models", UAI 2022; Featurespace/uncertainty-attribution):
    Conv2D(32, 3, ReLU) → MaxPool 2 → Dropout → Conv2D(64, 3, ReLU) → MaxPool 2 → Dropout →
    Flatten → Dense(128, ReLU) → Dropout → Dense(classes) logits (theirs ends in a softmax;
    logits give the same probabilities). Its dropout layers make it an MC-dropout model too
    (:class:`tfpath.uncertainty.MCDropout`).

    Args:
      input_shape: ``(H, W, C)``; H and W at least 10 (two valid 3×3 convolutions and pools).
      num_classes: classes.
      rate: the dropout rate (theirs: 0.5 on MNIST, 0.4 on Fashion-MNIST).
      seed: initialisation seed.

    Returns:
      An uncompiled Keras 3 model.

    Raises:
      ValueError: an input too small for the architecture.
    """
    import keras
    if min(input_shape[:2]) < 10:
        raise ValueError(f"input_shape: expected images of at least 10×10 for two valid "
                         f"convolutions and pools, received {tuple(input_shape)}")
    layers = keras.layers
    inputs = keras.Input(tuple(input_shape))
    h = layers.Conv2D(32, 3, activation="relu", name="conv1")(inputs)
    h = layers.Dropout(rate)(layers.MaxPooling2D(2)(h))
    h = layers.Conv2D(64, 3, activation="relu", name="conv2")(h)
    h = layers.Dropout(rate)(layers.MaxPooling2D(2)(h))
    h = layers.Dense(128, activation="relu", name="dense")(layers.Flatten()(h))
    outputs = layers.Dense(num_classes, name="logits")(layers.Dropout(rate)(h))
    return keras.Model(inputs, outputs, name="lowres_classifier")
