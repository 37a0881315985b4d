"""A Keras 3 variational autoencoder: the generative model of the uncertainty attributions.

Perez, Skalski, Barns-Graham, Wong and Sutton, "Attribution of Predictive Uncertainties in
Classification Models", UAI 2022, §3.3.1, search a VAE's latent space for an in-distribution
counterfactual of low predictive uncertainty and use it as the path baseline. This module
gives that VAE: :class:`VAE` (an encoder x → (μ, log σ²) and a sigmoid decoder z → x̂), trained
on the negative ELBO of Kingma and Welling, "Auto-Encoding Variational Bayes", ICLR 2014,
Eq. 10 (one reparameterised sample per example, Bernoulli likelihood), plus the builders
:func:`conv_vae` (images) and :func:`mlp_vae` (tabular or flattened data) and
:func:`train_vae`.

Departures from the authors' code (Featurespace/uncertainty-attribution, an MNIST conv VAE
with m = 32 latent dimensions, filters 32/64, a 128-unit dense layer, Adam 1e-3, 50 epochs,
batch 64):

* the encoder outputs (μ, log σ²) only; the model draws z = μ + exp(½ log σ²)·ε itself, from
  a seed generator it owns, so training is reproducible;
* the reconstruction term sums the binary cross-entropy over pixels *and* channels (theirs
  averages over channels, then sums over pixels; the two agree on one-channel images);
* the default latent size is 16 (small images), any image size works (the decoder crops),
  and every layer has a seeded initialiser.

Example::

    vae = conv_vae((28, 28, 1), latent_dim=32)
    train_vae(vae, x_train, epochs=50)
    mean, log_variance = vae.encode(x_test)
    images = vae.decode(mean)
"""
from __future__ import annotations

import math
import sys

import keras
import numpy as np
import tensorflow as tf

from tfpath.core import progress as progress_lib
from tfpath.core import seeding, validation

_EPSILON = 1e-7  # probabilities are clipped to [_EPSILON, 1 - _EPSILON] in the cross-entropy


def _binary_crossentropy(x, x_hat):
    """Per-example Σ over all pixels and channels of BCE(x, clip(x̂)), shape ``[n]``."""
    x_hat = keras.ops.clip(x_hat, _EPSILON, 1.0 - _EPSILON)
    bce = -(x * keras.ops.log(x_hat) + (1.0 - x) * keras.ops.log(1.0 - x_hat))
    return keras.ops.sum(keras.ops.reshape(bce, (keras.ops.shape(bce)[0], -1)), axis=1)


def _kl_divergence(mean, log_variance):
    """Per-example KL(N(μ, σ²) ‖ N(0, I)) = Σ_j −½(1 + log σ² − μ² − σ²), shape ``[n]``."""
    terms = -0.5 * (1.0 + log_variance - keras.ops.square(mean) - keras.ops.exp(log_variance))
    return keras.ops.sum(terms, axis=1)


def _signature(model, name, num_outputs):
    """``(input_shape, [output_shape, ...])`` of a one-input Keras model, without batch axes."""
    if not isinstance(model, keras.Model):
        raise TypeError(f"{name}: expected a keras.Model, received {type(model).__name__}")
    inputs, outputs = getattr(model, "inputs", None), getattr(model, "outputs", None)
    if inputs is None or outputs is None:
        raise ValueError(f"{name}: expected a functional or Sequential model with a defined "
                         f"input shape, received a {type(model).__name__} without inputs")
    if len(inputs) != 1 or len(outputs) != num_outputs:
        raise ValueError(f"{name}: expected 1 input and {num_outputs} output(s), received "
                         f"{len(inputs)} and {len(outputs)}")
    shapes = [tuple(t.shape[1:]) for t in (*inputs, *outputs)]
    if any(d is None for shape in shapes for d in shape):
        raise ValueError(f"{name}: expected fully defined shapes besides the batch axis, "
                         f"received {shapes}")
    return shapes[0], shapes[1:]


@keras.saving.register_keras_serializable(package="tfpath")
class VAE(keras.Model):
    """A variational autoencoder with a Bernoulli (sigmoid) decoder.

    The generative model of Perez et al., "Attribution of Predictive Uncertainties in
    Classification Models", UAI 2022, §3.3.1: its decoder maps latent codes to in-distribution
    images, where the uncertainty-reducing baseline is searched. ``fit`` minimises the batch
    mean of Σ_pixels BCE(x, x̂) + KL(N(μ, σ²) ‖ N(0, I)), the negative ELBO of Kingma and
    Welling, "Auto-Encoding Variational Bayes", ICLR 2014, Eq. 10, with one sample
    z = μ + exp(½ log σ²)·ε per example (ε from :func:`keras.random.normal` and the model's
    :class:`keras.random.SeedGenerator`). The BCE clips x̂ to [1e-7, 1 − 1e-7] and sums over
    pixels *and* channels (the authors' code averages over channels, then sums over pixels:
    the same on one-channel images). Metrics ``loss``, ``reconstruction`` and ``kl`` are
    means over examples; ``evaluate`` (and ``validation_data``) reports the same one-sample
    estimate, so it is random unless σ ≈ 0. ``model(x)`` is deterministic: the decoded mean.
    ``vae.save("f.keras")`` / :func:`keras.models.load_model` restore the sub-models, weights
    and optimizer state exactly; the noise stream restarts from ``seed`` (a seed generator's
    state is not a saved weight).

    Departures from the authors' code: their encoder also returns the sample z (here the VAE
    draws it, reproducibly); their BCE averages over channels.

    Args:
      encoder: a Keras model x ``[n, *image_shape]`` → ``(mean, log_variance)``, each
        ``[n, latent_dim]``.
      decoder: a Keras model z ``[n, latent_dim]`` → x̂ ``[n, *image_shape]`` in (0, 1)
        (a sigmoid output).
      seed: seed of the reparameterisation noise; None draws one from Keras' global seed
        (:func:`keras.utils.set_random_seed`).
      **kwargs: passed to :class:`keras.Model` (e.g. ``name``).

    Attributes:
      encoder, decoder: the two sub-models.
      latent_dim: the latent size.
      image_shape: the input shape without the batch axis.

    Raises:
      TypeError: ``encoder`` or ``decoder`` is not a Keras model.
      ValueError: the encoder does not output two ``[n, latent_dim]`` tensors, or the decoder
        does not map ``[n, latent_dim]`` to the encoder's input shape.
    """

    def __init__(self, encoder, decoder, seed=None, **kwargs):
        super().__init__(**kwargs)
        image_shape, (mean_shape, log_variance_shape) = _signature(encoder, "encoder", 2)
        if len(mean_shape) != 1 or log_variance_shape != mean_shape:
            raise ValueError(f"encoder: expected outputs (mean, log_variance) of shape "
                             f"[n, latent_dim], received {mean_shape} and {log_variance_shape} "
                             "(without the batch axis)")
        latent_shape, (output_shape,) = _signature(decoder, "decoder", 1)
        if latent_shape != mean_shape:
            raise ValueError(f"decoder: expected input shape {mean_shape} (the latent size of "
                             f"encoder), received {latent_shape}")
        if output_shape != image_shape:
            raise ValueError(f"decoder: expected output shape {image_shape} (the input shape of "
                             f"encoder), received {output_shape}")
        latent_dim = mean_shape[0]
        self.encoder = encoder
        self.decoder = decoder
        self.latent_dim = latent_dim
        self.image_shape = image_shape
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.loss_tracker = keras.metrics.Mean(name="loss")
        self.reconstruction_tracker = keras.metrics.Mean(name="reconstruction")
        self.kl_tracker = keras.metrics.Mean(name="kl")
        self.built = True  # the sub-models are built: lets save/load restore the optimizer

    @property
    def metrics(self):
        """The three loss trackers (``loss``, ``reconstruction``, ``kl``), reset every epoch.

        Returns:
          A list of three :class:`keras.metrics.Mean`.
        """
        return [self.loss_tracker, self.reconstruction_tracker, self.kl_tracker]

    def call(self, inputs, training=False):
        """The reconstruction of the latent mean, x̂ = decoder(μ(x)) (deterministic).

        Args:
          inputs: a tensor ``[n, *image_shape]``.
          training: passed to the sub-models.

        Returns:
          A tensor ``[n, *image_shape]`` in (0, 1).

        Raises:
          ValueError: from Keras, if ``inputs`` does not match the encoder's input shape.
        """
        mean, _ = self.encoder(inputs, training=training)
        return self.decoder(mean, training=training)

    def _loss_terms(self, x, training):
        """Per-example (reconstruction, kl) of one reparameterised sample, each ``[n]``."""
        mean, log_variance = self.encoder(x, training=training)
        epsilon = keras.random.normal(keras.ops.shape(mean), seed=self.seed_generator)
        z = mean + keras.ops.exp(0.5 * log_variance) * epsilon
        x_hat = self.decoder(z, training=training)
        return _binary_crossentropy(x, x_hat), _kl_divergence(mean, log_variance)

    def _update_metrics(self, reconstruction, kl):
        self.loss_tracker.update_state(reconstruction + kl)
        self.reconstruction_tracker.update_state(reconstruction)
        self.kl_tracker.update_state(kl)
        return {m.name: m.result() for m in self.metrics}

    def train_step(self, data):
        """One Adam step on the batch mean of the negative ELBO (TensorFlow backend).

        Args:
          data: a batch of images (or ``(x,)``; targets, if any, are ignored).

        Returns:
          ``{"loss", "reconstruction", "kl"}``: running means over the epoch's examples.

        Raises:
          ValueError: from Keras, if the batch does not match the encoder's input shape.
        """
        x = keras.ops.cast(keras.utils.unpack_x_y_sample_weight(data)[0], self.compute_dtype)
        with tf.GradientTape() as tape:
            reconstruction, kl = self._loss_terms(x, training=True)
            loss = keras.ops.mean(reconstruction + kl)
        gradients = tape.gradient(loss, self.trainable_weights)
        self.optimizer.apply_gradients(zip(gradients, self.trainable_weights))
        return self._update_metrics(reconstruction, kl)

    def test_step(self, data):
        """The metrics of :meth:`train_step` without the update (``evaluate``, validation).

        Args:
          data: a batch of images (or ``(x,)``).

        Returns:
          ``{"loss", "reconstruction", "kl"}``: running means over the examples seen.

        Raises:
          ValueError: from Keras, if the batch does not match the encoder's input shape.
        """
        x = keras.ops.cast(keras.utils.unpack_x_y_sample_weight(data)[0], self.compute_dtype)
        return self._update_metrics(*self._loss_terms(x, training=False))

    def _batched(self, model, value, name, shape, batch_size):
        value = validation.check_array(value, name)
        if value.ndim != len(shape) + 1 or tuple(value.shape[1:]) != shape:
            raise ValueError(f"{name}: expected shape [n, {', '.join(map(str, shape))}], "
                             f"received {value.shape}")
        batch_size = validation.check_positive_int(batch_size, "batch_size")
        chunks = [model(value[i:i + batch_size], training=False)
                  for i in range(0, len(value), batch_size)]
        if isinstance(chunks[0], (list, tuple)):
            return tuple(np.concatenate([keras.ops.convert_to_numpy(c[k]) for c in chunks])
                         for k in range(len(chunks[0])))
        return np.concatenate([keras.ops.convert_to_numpy(c) for c in chunks])

    def encode(self, x, batch_size=256):
        """The approximate posterior q(z | x) = N(μ, σ²) of each input.

        Args:
          x: float images ``[n, *image_shape]``.
          batch_size: rows per encoder call.

        Returns:
          ``(mean, log_variance)``: float32 NumPy arrays ``[n, latent_dim]``.

        Raises:
          TypeError: ``x`` is not a floating-point array.
          ValueError naming ``x``: wrong shape, NaN/inf, empty; or a bad ``batch_size``.
        """
        return self._batched(self.encoder, x, "x", self.image_shape, batch_size)

    def decode(self, z, batch_size=256):
        """The decoder's Bernoulli means x̂ = decoder(z).

        Args:
          z: float latent codes ``[n, latent_dim]``.
          batch_size: rows per decoder call.

        Returns:
          A float32 NumPy array ``[n, *image_shape]`` in (0, 1).

        Raises:
          TypeError: ``z`` is not a floating-point array.
          ValueError naming ``z``: wrong shape, NaN/inf, empty; or a bad ``batch_size``.
        """
        return self._batched(self.decoder, z, "z", (self.latent_dim,), batch_size)

    def reconstruct(self, x, batch_size=256):
        """``decode(encode(x)[0])``: the reconstruction of the latent mean.

        Args:
          x: float images ``[n, *image_shape]``.
          batch_size: rows per call.

        Returns:
          A float32 NumPy array ``[n, *image_shape]`` in (0, 1).

        Raises:
          TypeError: ``x`` is not a floating-point array.
          ValueError naming ``x``: wrong shape, NaN/inf, empty; or a bad ``batch_size``.
        """
        return self._batched(self, x, "x", self.image_shape, batch_size)

    def get_config(self):
        """The VAE's config, for ``vae.save`` / :func:`keras.models.load_model`.

        Returns:
          A dict: the sub-models (serialised with :func:`keras.saving.serialize_keras_object`),
          ``seed`` and the base Model config (name, trainable, dtype).

        Raises:
          Nothing of its own.
        """
        config = super().get_config()
        config.update(encoder=keras.saving.serialize_keras_object(self.encoder),
                      decoder=keras.saving.serialize_keras_object(self.decoder),
                      seed=self.seed)
        return config

    @classmethod
    def from_config(cls, config, custom_objects=None):
        """Rebuilds a VAE from :meth:`get_config` (the weights come from the saved file).

        Args:
          config: a dict from :meth:`get_config`.
          custom_objects: passed to :func:`keras.saving.deserialize_keras_object`.

        Returns:
          A new :class:`VAE` with freshly initialised weights.

        Raises:
          TypeError / ValueError: the sub-models cannot be deserialised or do not fit.
        """
        config = dict(config)
        for key in ("encoder", "decoder"):
            config[key] = keras.saving.deserialize_keras_object(config[key],
                                                                custom_objects=custom_objects)
        return cls(**config)


# ------------------------------------------------------------------------------------------
# Builders


def _iterable(value, name):
    try:
        return tuple(value)
    except TypeError:
        raise TypeError(f"{name}: expected a tuple of positive ints, received {value!r}") from None


def _check_shape(value, name, rank=None):
    shape = _iterable(value, name)
    if rank is not None and len(shape) != rank:
        raise ValueError(f"{name}: expected {rank} dimensions, received {shape}")
    if not shape:
        raise ValueError(f"{name}: expected at least one dimension, received {shape}")
    return tuple(validation.check_positive_int(d, name) for d in shape)


class _SeededLayers:
    """Seeded Glorot-uniform kernels, one fresh seed per layer (no global random state)."""

    def __init__(self, seed):
        self.seed = validation.check_positive_int(seed, "seed", minimum=0)
        self.count = 0

    def __call__(self):
        self.count += 1
        return keras.initializers.GlorotUniform(seed=self.seed * 1000 + self.count)


def conv_vae(image_shape, latent_dim=16, filters=(32, 64), hidden=128, seed=0):
    """The authors' low-resolution convolutional VAE, for any image size.

    Encoder: Conv2D(f, 3, stride 2, same, ReLU) for each f in ``filters`` → Flatten →
    Dense(hidden, ReLU) → Dense(latent_dim) "mean" and Dense(latent_dim) "log_variance".
    Decoder: Dense(h'·w'·filters[-1], ReLU) → Reshape → Conv2DTranspose(f, 3, stride 2,
    same, ReLU) for f in reversed ``filters`` → Conv2DTranspose(C, 3, stride 1, same,
    sigmoid), cropped (symmetrically, Cropping2D) to ``image_shape`` when H or W is not a
    multiple of 2**len(filters) (h' = ⌈H / 2**len(filters)⌉). Perez et al., "Attribution of
    Predictive Uncertainties in Classification Models", UAI 2022, §3.3.1; the authors' MNIST
    VAE is ``conv_vae((28, 28, 1), latent_dim=32)`` (their default filters and hidden size).

    Args:
      image_shape: ``(H, W, C)``.
      latent_dim: the latent size m (authors: 32 on MNIST; default 16 for small images).
      filters: channels of the stride-2 convolutions, at least one.
      hidden: units of the encoder's dense layer.
      seed: seed of every layer's initialiser and of the VAE's noise (global state untouched).

    Returns:
      An uncompiled :class:`VAE`.

    Raises:
      TypeError / ValueError naming the argument: a bad shape, size or seed.
    """
    height, width, channels = _check_shape(image_shape, "image_shape", rank=3)
    latent_dim = validation.check_positive_int(latent_dim, "latent_dim")
    filters = _check_shape(filters, "filters")
    hidden = validation.check_positive_int(hidden, "hidden")
    kernel = _SeededLayers(seed)
    layers = keras.layers

    inputs = keras.Input((height, width, channels))
    h = inputs
    for f in filters:
        h = layers.Conv2D(f, 3, strides=2, padding="same", activation="relu",
                          kernel_initializer=kernel())(h)
    h = layers.Flatten()(h)
    h = layers.Dense(hidden, activation="relu", kernel_initializer=kernel())(h)
    mean = layers.Dense(latent_dim, kernel_initializer=kernel(), name="mean")(h)
    log_variance = layers.Dense(latent_dim, kernel_initializer=kernel(), name="log_variance")(h)
    encoder = keras.Model(inputs, [mean, log_variance], name="encoder")

    scale = 2 ** len(filters)
    small_h, small_w = math.ceil(height / scale), math.ceil(width / scale)
    latent = keras.Input((latent_dim,))
    h = layers.Dense(small_h * small_w * filters[-1], activation="relu",
                     kernel_initializer=kernel())(latent)
    h = layers.Reshape((small_h, small_w, filters[-1]))(h)
    for f in reversed(filters):
        h = layers.Conv2DTranspose(f, 3, strides=2, padding="same", activation="relu",
                                   kernel_initializer=kernel())(h)
    h = layers.Conv2DTranspose(channels, 3, strides=1, padding="same", activation="sigmoid",
                               kernel_initializer=kernel())(h)
    extra_h, extra_w = small_h * scale - height, small_w * scale - width
    if extra_h or extra_w:
        h = layers.Cropping2D(((extra_h // 2, extra_h - extra_h // 2),
                               (extra_w // 2, extra_w - extra_w // 2)))(h)
    decoder = keras.Model(latent, h, name="decoder")
    return VAE(encoder, decoder, seed=kernel.seed, name="conv_vae")


def mlp_vae(input_shape, latent_dim=8, hidden=(128, 64), seed=0):
    """A dense VAE for tabular or flattened data (values in [0, 1]).

    Encoder: Flatten → Dense(h, ReLU) for h in ``hidden`` → Dense(latent_dim) "mean" and
    Dense(latent_dim) "log_variance". Decoder: Dense(h, ReLU) for h in reversed ``hidden`` →
    Dense(prod(input_shape), sigmoid) → Reshape(input_shape). Not in the authors' code (they
    use convolutional VAEs); the same objective (Kingma and Welling, ICLR 2014, Eq. 10) and
    role (Perez et al., UAI 2022, §3.3.1).

    Args:
      input_shape: ``(d,)`` or an image shape such as ``(H, W, C)``.
      latent_dim: the latent size.
      hidden: units of the encoder's dense layers (the decoder mirrors them); may be empty.
      seed: seed of every layer's initialiser and of the VAE's noise (global state untouched).

    Returns:
      An uncompiled :class:`VAE`.

    Raises:
      TypeError / ValueError naming the argument: a bad shape, size or seed.
    """
    input_shape = _check_shape(input_shape, "input_shape")
    latent_dim = validation.check_positive_int(latent_dim, "latent_dim")
    hidden = tuple(validation.check_positive_int(h, "hidden") for h in _iterable(hidden, "hidden"))
    kernel = _SeededLayers(seed)
    layers = keras.layers

    inputs = keras.Input(input_shape)
    h = layers.Flatten()(inputs)
    for units in hidden:
        h = layers.Dense(units, activation="relu", kernel_initializer=kernel())(h)
    mean = layers.Dense(latent_dim, kernel_initializer=kernel(), name="mean")(h)
    log_variance = layers.Dense(latent_dim, kernel_initializer=kernel(), name="log_variance")(h)
    encoder = keras.Model(inputs, [mean, log_variance], name="encoder")

    latent = keras.Input((latent_dim,))
    h = latent
    for units in reversed(hidden):
        h = layers.Dense(units, activation="relu", kernel_initializer=kernel())(h)
    h = layers.Dense(math.prod(input_shape), activation="sigmoid", kernel_initializer=kernel())(h)
    decoder = keras.Model(latent, layers.Reshape(input_shape)(h), name="decoder")
    return VAE(encoder, decoder, seed=kernel.seed, name="mlp_vae")


# ------------------------------------------------------------------------------------------
# Training


class _EpochLog(keras.callbacks.Callback):
    """Prints ``epoch i/n loss … reconstruction … kl …`` (and ``val_…``) to stderr."""

    def __init__(self, epochs):
        super().__init__()
        self.epochs = epochs

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        names = [prefix + metric for prefix in ("", "val_")
                 for metric in ("loss", "reconstruction", "kl")]
        values = " ".join(f"{k} {float(logs[k]):.4f}" for k in names if k in logs)
        sys.stderr.write(f"epoch {epoch + 1}/{self.epochs} {values}\n")
        sys.stderr.flush()


class _EpochBar(keras.callbacks.Callback):
    """A progress bar over epochs with the last epoch's losses."""

    def __init__(self, epochs):
        super().__init__()
        self.epochs = epochs
        self.bar = None

    def on_train_begin(self, logs=None):
        self.bar = progress_lib.Progress(self.epochs, "train_vae", enabled=True, unit="epoch")

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        self.bar.update(1, " ".join(f"{k} {float(v):.3g}" for k, v in logs.items()))

    def on_train_end(self, logs=None):
        self.bar.close()


def _check_images(vae, value, name):
    value = validation.check_array(value, name)
    if tuple(value.shape[1:]) != vae.image_shape:
        raise ValueError(f"{name}: expected shape [n, {', '.join(map(str, vae.image_shape))}] "
                         f"(vae.image_shape), received {value.shape}")
    if value.min() < 0.0 or value.max() > 1.0:
        raise ValueError(f"{name}: expected values in [0, 1] (the Bernoulli cross-entropy needs "
                         f"them), received values in [{value.min():g}, {value.max():g}]")
    return value


@seeding.seeded_by()
def train_vae(vae, x, epochs=50, batch_size=64, learning_rate=1e-3, validation_data=None,
              progress=None, seed=0):
    """Compiles ``vae`` with Adam and fits it to ``x`` (the negative ELBO, shuffled batches).

    The authors' recipe (Perez et al., "Attribution of Predictive Uncertainties in
    Classification Models", UAI 2022, §3.3.1; code Featurespace/uncertainty-attribution):
    Adam 1e-3, 50 epochs, batch 64, on the objective of Kingma and Welling, "Auto-Encoding
    Variational Bayes", ICLR 2014, Eq. 10 (see :class:`VAE`). Calls
    :func:`keras.utils.set_random_seed` with ``seed`` (shuffling and the noise stream are then
    reproducible) and restores the Python and NumPy global random states afterwards
    (:func:`tfpath.core.seeding.seeded`); TensorFlow's global seed stays set.

    Args:
      vae: a :class:`VAE` (e.g. from :func:`conv_vae` or :func:`mlp_vae`).
      x: float training inputs ``[n, *vae.image_shape]`` in [0, 1].
      epochs: passes over ``x``.
      batch_size: examples per step.
      learning_rate: Adam's learning rate.
      validation_data: None, or float inputs in [0, 1] like ``x``; adds ``val_…`` metrics.
      progress: None (default): a progress bar over the epochs on stderr when it is a
        terminal, else silent; True: print ``epoch i/n loss … reconstruction … kl …`` to
        stderr after every epoch (a log-friendly line each); False: silent.
      seed: the global seed set before training.

    Returns:
      The :class:`keras.callbacks.History` (``history.history["loss"]`` etc., per epoch).

    Raises:
      TypeError: ``vae`` is not a :class:`VAE`; ``x`` is not a floating-point array.
      ValueError naming the argument: ``x`` / ``validation_data`` empty, NaN/inf, outside
        [0, 1] or not of shape ``[n, *vae.image_shape]``; bad ``epochs``, ``batch_size``,
        ``learning_rate``, ``seed``.
    """
    if not isinstance(vae, VAE):
        raise TypeError(f"vae: expected a tfpath VAE, received {type(vae).__name__}")
    x = _check_images(vae, x, "x")
    if validation_data is not None:
        validation_data = _check_images(vae, validation_data, "validation_data")
    epochs = validation.check_positive_int(epochs, "epochs")
    batch_size = validation.check_positive_int(batch_size, "batch_size")
    learning_rate = validation.check_positive(learning_rate, "learning_rate")
    if progress is not None:
        progress = validation.check_bool(progress, "progress")
    vae.compile(optimizer=keras.optimizers.Adam(learning_rate))
    if progress is None:
        callbacks = [_EpochBar(epochs)] if progress_lib.wanted(None) else []
    else:
        callbacks = [_EpochLog(epochs)] if progress else []
    return vae.fit(x, epochs=epochs, batch_size=batch_size, shuffle=True,
                   validation_data=validation_data, callbacks=callbacks, verbose=0)
