"""Shared machinery of frozen sampling: the S-fold batch layout and frozen layer views.

Every sampling wrapper evaluates its S frozen draws in one model call: the input batch
``[n, ...]`` is tiled sample-major to ``[S·n, ...]`` (rows ``s·n … s·n + n − 1`` belong to
sample s), stochastic layers are replaced by *views* that split their input to ``[S, n, ...]``
and apply draw s to block s (one draw per sample, broadcast over the batch axis), and the
``[S·n, K]`` outputs become ``[n, S, K]``. Draws are a deterministic function of a seed held in
a ``tf.Variable`` (stateless random ops), so the traced graph sees the same draws at every
call until :meth:`resample` assigns a new seed — no retracing, nothing row-dependent.
"""
from __future__ import annotations

import tensorflow as tf


def tile_samples(x, num_samples):
    """``[n, ...]`` → ``[S·n, ...]``, sample-major."""
    return tf.tile(x, tf.concat([[num_samples], tf.ones([tf.rank(x) - 1], tf.int32)], 0))


def split_samples(h, num_samples):
    """``[S·n, ...]`` → ``[S, n, ...]``."""
    shape = tf.shape(h)
    return tf.reshape(h, tf.concat([[num_samples, shape[0] // num_samples], shape[1:]], 0))


def merge_samples(h):
    """``[S, n, ...]`` → ``[S·n, ...]``."""
    shape = tf.shape(h)
    return tf.reshape(h, tf.concat([[shape[0] * shape[1]], shape[2:]], 0))


def outputs_by_input(y, num_samples):
    """Model outputs ``[S·n, K]`` → ``[n, S, K]``."""
    y = split_samples(y, num_samples)
    perm = tf.concat([[1, 0], tf.range(2, tf.rank(y))], 0)
    return tf.transpose(y, perm)


def layer_seed(seed, salt):
    """The stateless seed ``[2]`` int32 of one layer: the wrapper's seed variable + a salt."""
    seed = tf.cast(tf.convert_to_tensor(seed), tf.int32)
    return tf.stack([seed[0], seed[1] + tf.constant(7919 * (salt + 1), tf.int32)])


def dense_per_sample(inputs, kernels, num_samples):
    """``inputs [S·n, ..., i]`` times per-sample ``kernels [S, i, o]`` → ``[S, n, ..., o]``."""
    return tf.einsum("sn...i,sio->sn...o", split_samples(inputs, num_samples), kernels)


def conv_per_sample(inputs, kernels, num_samples, conv):
    """``conv(x_s, kernel_s)`` on each sample's block → ``[S, n, ...]`` (S is static)."""
    xs = split_samples(inputs, num_samples)
    return tf.stack([conv(xs[s], kernels[s]) for s in range(num_samples)])


def add_bias_per_sample(y, biases, channels_first=False):
    """``y [S, n, ..., o]`` (``[S, n, o, ...]`` if channels_first) plus ``biases [S, o]``."""
    if biases is None:
        return y
    rank = y.shape.rank
    if channels_first:
        shape = [tf.shape(biases)[0], 1, tf.shape(biases)[1]] + [1] * (rank - 3)
    else:
        shape = [tf.shape(biases)[0]] + [1] * (rank - 2) + [tf.shape(biases)[1]]
    return y + tf.reshape(tf.cast(biases, y.dtype), shape)


def convolution_fn(layer, rank):
    """``tf.nn.convolution`` with a Keras/TFP convolution layer's strides, padding, dilation."""
    channels_first = getattr(layer, "data_format", "channels_last") == "channels_first"
    data_format = {1: "NCW", 2: "NCHW", 3: "NCDHW"}[rank] if channels_first else None
    padding = str(layer.padding).upper()
    if padding not in ("VALID", "SAME"):
        raise ValueError(f"model: layer {layer.name!r} uses padding={layer.padding!r}; frozen "
                         "sampling supports 'valid' and 'same'")

    def conv(x, kernel):
        return tf.nn.convolution(x, kernel, strides=layer.strides, padding=padding,
                                 dilations=layer.dilation_rate, data_format=data_format)
    return conv, channels_first


_VIEW_CLASSES = {}


def view_class(layer_base):
    """A layer class (subclass of ``layer_base``: Keras 3 or tf_keras) that computes ``fn(x)``.

    Views stand in for stochastic layers in a clone of the user's model; the clone shares all
    other layers (and their weights) with the model.
    """
    cls = _VIEW_CLASSES.get(layer_base)
    if cls is None:
        class FrozenSampleView(layer_base):
            def __init__(self, fn, name, **kwargs):
                super().__init__(name=name, **kwargs)
                self._frozen_fn = fn

            def call(self, inputs, *args, **kwargs):  # training is ignored: draws are frozen
                return self._frozen_fn(inputs)

        cls = _VIEW_CLASSES[layer_base] = FrozenSampleView
    return cls


def clone_with_views(model, keras_module, make_view):
    """Clones a functional/Sequential model, sharing its layers, with stochastic ones replaced.

    Args:
      model: a Keras 3 or tf_keras functional or Sequential model.
      keras_module: ``keras`` or ``tf_keras``.
      make_view: ``layer -> view layer or None`` (None keeps the shared layer).

    Returns:
      ``(clone, replaced_layers)``.

    Raises:
      ValueError: a subclassed model (its ``call`` cannot be rewired).
    """
    replaced = []

    def clone_function(layer):
        view = make_view(layer, len(replaced))
        if view is None:
            return layer
        replaced.append(layer)
        return view

    kwargs = {"recursive": True} if keras_module.__name__ == "keras" else {}
    try:
        clone = keras_module.models.clone_model(model, clone_function=clone_function, **kwargs)
    except (ValueError, TypeError, NotImplementedError) as e:
        raise ValueError(
            f"model: cannot rewire {type(model).__name__} {getattr(model, 'name', '')!r} for "
            "frozen sampling; it must be a functional or Sequential Keras model (subclassed "
            f"models are not supported): {e}") from e
    return clone, replaced
