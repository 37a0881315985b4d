"""Small Bayesian digit classifiers trained in seconds on offline data (tests, demo).

Architectures are CPU-sized (two 3×3 convolutions, a dense head) in four Bayesian flavours;
:func:`train_bayesian_classifier` returns the matching frozen-sample wrapper. All output
logits.
"""
from __future__ import annotations

from tfpath.core import seeding, validation


KINDS = ("ensemble", "mc_dropout", "variational", "flipout", "deterministic")


@seeding.seeded_by()
def mc_dropout_cnn(input_shape, num_classes=10, width=16, rate=0.25, batch_norm=False, seed=0):
    """Keras 3 CNN with Dropout after each block (and optionally BatchNormalization).

    Args:
      input_shape: ``(H, W, C)``.
      num_classes: outputs (logits).
      width: channels of the first convolution (second: 2·width; dense: 4·width).
      rate: dropout rate of every Dropout layer.
      batch_norm: add BatchNormalization after each convolution.
      seed: initialisation seed.

    Returns:
      An uncompiled Keras 3 model.
    """
    import keras
    layers = keras.layers
    inputs = keras.Input(tuple(input_shape))
    h = inputs
    for i, channels in enumerate((width, 2 * width)):
        h = layers.Conv2D(channels, 3, padding="same", name=f"conv{i + 1}")(h)
        if batch_norm:
            h = layers.BatchNormalization(name=f"bn{i + 1}")(h)
        h = layers.Activation("relu")(h)
        if i == 0 and min(input_shape[:2]) >= 8:
            h = layers.MaxPooling2D(2)(h)
        h = layers.Dropout(rate, name=f"dropout{i + 1}")(h)
    h = layers.Flatten()(h)
    h = layers.Dense(4 * width, activation="relu")(h)
    h = layers.Dropout(rate, name="dropout3")(h)
    outputs = layers.Dense(num_classes, name="logits")(h)
    return keras.Model(inputs, outputs, name="mc_dropout_cnn")


@seeding.seeded_by()
def variational_cnn(input_shape, num_classes=10, num_train=1000, width=8, seed=0):
    """Keras 3 CNN of tfpath variational layers (KL weight 1 / num_train: ELBO per example).

    Returns:
      An uncompiled Keras 3 model; wrap it in :class:`tfpath.uncertainty.KerasVariational`.
    """
    import keras
    from tfpath.uncertainty.variational import VariationalConv2D, VariationalDense
    num_train = validation.check_positive_int(num_train, "num_train")
    kw = dict(kl_weight=1.0 / num_train, seed=seed)
    inputs = keras.Input(tuple(input_shape))
    h = VariationalConv2D(width, 3, padding="same", activation="relu", name="vconv1", **kw)(inputs)
    if min(input_shape[:2]) >= 8:
        h = keras.layers.MaxPooling2D(2)(h)
    h = VariationalConv2D(2 * width, 3, padding="same", activation="relu", name="vconv2",
                          **kw)(h)
    h = keras.layers.Flatten()(h)
    h = VariationalDense(4 * width, activation="relu", name="vdense", **kw)(h)
    outputs = VariationalDense(num_classes, name="logits", **kw)(h)
    return keras.Model(inputs, outputs, name="variational_cnn")


@seeding.seeded_by(keras_name="tf_keras")
def flipout_cnn(input_shape, num_classes=10, num_train=1000, width=8, seed=0):
    """tf_keras CNN of ``tfp.layers`` Flipout layers (KL scaled by 1 / num_train).

    Returns:
      An uncompiled tf_keras model; wrap it in :class:`tfpath.uncertainty.TFPVariational`.
    """
    import tensorflow_probability as tfp
    import tf_keras
    num_train = validation.check_positive_int(num_train, "num_train")
    tfl = tfp.layers
    kl = lambda q, p, _: tfp.distributions.kl_divergence(q, p) / num_train  # noqa: E731
    kw = dict(kernel_divergence_fn=kl, seed=seed)
    layers = [tf_keras.layers.InputLayer(tuple(input_shape)),
              tfl.Convolution2DFlipout(width, 3, padding="same", activation="relu",
                                       name="fconv1", **kw)]
    if min(input_shape[:2]) >= 8:
        layers.append(tf_keras.layers.MaxPooling2D(2))
    layers += [tfl.Convolution2DFlipout(2 * width, 3, padding="same", activation="relu",
                                        name="fconv2", **kw),
               tf_keras.layers.Flatten(),
               tfl.DenseFlipout(4 * width, activation="relu", name="fdense", **kw),
               tfl.DenseFlipout(num_classes, name="logits", **kw)]
    return tf_keras.Sequential(layers, name="flipout_cnn")


@seeding.seeded_by(keras_name="tf_keras")
def _fit_tf_keras(model, x, y, epochs, batch_size, learning_rate, seed):
    import tf_keras
    model.compile(optimizer=tf_keras.optimizers.Adam(learning_rate),
                  loss=tf_keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    model.fit(x, y, epochs=epochs, batch_size=batch_size, verbose=0, shuffle=True)
    return model


def train_bayesian_classifier(kind, x, y, num_classes=10, epochs=20, num_samples=16,
                              members=5, width=8, batch_size=64, learning_rate=3e-3, seed=0):
    """Builds and trains a small Bayesian classifier; returns its frozen-sample wrapper.

    Args:
      kind: ``"ensemble"`` (``members`` :func:`tfpath.zoo.small_cnn` with different seeds),
        ``"mc_dropout"`` (:func:`mc_dropout_cnn`), ``"variational"``
        (:func:`variational_cnn`), ``"flipout"`` (:func:`flipout_cnn`) or
        ``"deterministic"`` (one small_cnn).
      x, y: training images ``[n, H, W, C]`` and int labels ``[n]``.
      num_classes: classes.
      epochs, batch_size, learning_rate: Adam training settings.
      num_samples: S of the sampling wrappers.
      members: ensemble size.
      width: channels of the first convolution.
      seed: seed of initialisation, training and frozen draws.

    Returns:
      A :class:`tfpath.uncertainty.BayesianModel` (``.model`` holds the Keras model(s)).

    Raises:
      ValueError: unknown ``kind``; bad counts.
    """
    from tfpath import zoo
    from tfpath.uncertainty import models
    if kind not in KINDS:
        raise ValueError(f"kind: expected one of {KINDS}, received {kind!r}")
    epochs = validation.check_positive_int(epochs, "epochs")
    members = validation.check_positive_int(members, "members")
    shape = x.shape[1:]
    fit = dict(epochs=epochs, batch_size=batch_size, learning_rate=learning_rate)
    if kind in ("ensemble", "deterministic"):
        trained = [zoo.train_classifier(zoo.small_cnn(shape, num_classes, width=width,
                                                      seed=seed + i), x, y, seed=seed + i, **fit)
                   for i in range(members if kind == "ensemble" else 1)]
        return (models.DeepEnsemble(trained) if kind == "ensemble"
                else models.Deterministic(trained[0]))
    if kind == "mc_dropout":
        from tfpath.uncertainty.mc_dropout import MCDropout
        model = zoo.train_classifier(mc_dropout_cnn(shape, num_classes, width=width, seed=seed),
                                     x, y, seed=seed, **fit)
        return MCDropout(model, num_samples, seed=seed)
    if kind == "variational":
        from tfpath.uncertainty.variational import KerasVariational
        model = zoo.train_classifier(variational_cnn(shape, num_classes, len(y), width, seed),
                                     x, y, seed=seed, **fit)
        return KerasVariational(model, num_samples, seed=seed)
    from tfpath.uncertainty.tfp_models import TFPVariational
    model = _fit_tf_keras(flipout_cnn(shape, num_classes, len(y), width, seed), x, y,
                          seed=seed, **fit)
    return TFPVariational(model, num_samples, seed=seed)
