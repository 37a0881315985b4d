"""What tfpath needs to know about Keras models (Keras 3 and tf_keras), in one place.

* :func:`is_keras_model` and :func:`call_inference`: the one way tfpath calls a model
  (``training=False`` for Keras models, so Dropout is off and BatchNorm uses its moving
  statistics);
* :func:`infer_output_kind`: whether a model outputs logits or probabilities;
* :func:`logits_function`: the pre-softmax logits of a model whose last layer applies a
  softmax (every ``keras.applications`` classifier by default), computed with the model's own
  live weights, without changing the model.
"""
from __future__ import annotations

from typing import Callable

import tensorflow as tf


def _keras_modules():
    modules = []
    try:
        import keras
        modules.append(keras)
    except ImportError:  # pragma: no cover
        pass
    try:
        import tf_keras
        modules.append(tf_keras)
    except ImportError:  # pragma: no cover
        pass
    return modules


def keras_model_class(model):
    """The ``Model`` class (Keras 3 or tf_keras) that ``model`` is an instance of, or None."""
    for module in _keras_modules():
        if isinstance(model, module.Model):
            return module.Model
    return None


def is_keras_model(model) -> bool:
    """True for Keras 3 and tf_keras models."""
    return keras_model_class(model) is not None


def call_inference(model, x):
    """``model(x)`` in inference mode: ``training=False`` for Keras models."""
    return model(x, training=False) if is_keras_model(model) else model(x)


def _is_softmax(fn) -> bool:
    if fn is None:
        return False
    if any(fn is m.activations.softmax for m in _keras_modules()):
        return True
    return getattr(fn, "__name__", "") == "softmax"


def _softmax_layer(layer) -> bool:
    """A layer that is only a softmax: ``Softmax`` or ``Activation("softmax")``."""
    name = type(layer).__name__
    if name == "Softmax":
        return True
    return name == "Activation" and _is_softmax(getattr(layer, "activation", None))


def ends_in_softmax(model) -> bool:
    """True if the last layer of a Keras model applies a softmax."""
    layers = getattr(model, "layers", None) or []
    if not layers:
        return False
    last = layers[-1]
    return _softmax_layer(last) or _is_softmax(getattr(last, "activation", None))


def infer_output_kind(model) -> str:
    """Guesses what a model outputs: ``"probabilities"`` if its last layer applies softmax.

    Keras models whose last layer is a softmax (a ``Softmax`` layer, ``Activation("softmax")``
    or any layer with ``activation=softmax``, as in ``keras.applications``) give
    ``"probabilities"``; other Keras models give ``"logits"``; plain callables give
    ``"scores"``. A model may declare its own kind with an ``output_kind`` attribute (tfpath's
    Bayesian wrappers do).
    """
    declared = getattr(model, "output_kind", None)
    if isinstance(declared, str):
        return declared
    if not is_keras_model(model):
        return "scores"
    return "probabilities" if ends_in_softmax(model) else "logits"


def sub_model(model, outputs):
    """A Keras model from ``model``'s inputs to ``outputs`` (symbolic tensors of ``model``),
    sharing its layers and weights.

    Raises:
      ValueError: ``model`` is not a built Keras model with symbolic inputs.
    """
    model_class = keras_model_class(model)
    if model_class is None:
        raise ValueError(f"model: expected a Keras model, received {type(model).__name__}")
    try:
        return model_class(inputs=model.inputs, outputs=outputs)
    except (AttributeError, ValueError, TypeError) as e:
        raise ValueError(f"model: cannot build a sub-model of {getattr(model, 'name', '')!r} "
                         f"({e}); build the model first (call it once)") from None


def pre_softmax(model):
    """Splits a model that ends in a softmax into its pre-softmax tensor and a logits head.

    * last layer ``Softmax`` / ``Activation("softmax")`` (MobileNet, MobileNetV3): the logits
      are that layer's input, the head is the identity;
    * last layer ``Dense(..., activation="softmax")`` (most ``keras.applications``): the head
      is ``h @ kernel + bias`` on the Dense layer's input ``h``, with the layer's live weights.

    Args:
      model: a built Keras 3 / tf_keras model with one output, ending in a softmax.

    Returns:
      ``(h, head)``: the symbolic input ``h`` of the last layer and ``head(h) -> logits``.

    Raises:
      ValueError: the model does not end in a softmax, or its softmax is the activation of a
        layer other than Dense (its logits cannot be recovered without changing the model).
    """
    if not is_keras_model(model) or not ends_in_softmax(model):
        raise ValueError("model: expected a Keras model whose last layer applies a softmax")
    last = model.layers[-1]
    if _softmax_layer(last):
        return last.input, lambda h: h
    if type(last).__name__ != "Dense":
        raise ValueError(
            f"model: its softmax is the activation of a {type(last).__name__} layer, whose "
            "pre-softmax logits tfpath cannot recover without changing the model. Use "
            "target='probability', or end the model in a separate Softmax layer.")

    def dense_logits(h):
        z = tf.matmul(h, tf.cast(last.kernel, h.dtype))
        return z + tf.cast(last.bias, h.dtype) if last.use_bias else z
    return last.input, dense_logits


def logits_function(model) -> Callable:
    """The pre-softmax logits of a Keras model whose last layer applies a softmax.

    The returned function reads the model's variables at every call (training the model later
    changes it too) and never modifies the model. See :func:`pre_softmax`.

    Returns:
      ``fn(x) -> logits``, traceable inside ``tf.function`` (inference mode).

    Raises:
      ValueError: as :func:`pre_softmax`.
    """
    h, head = pre_softmax(model)
    body = sub_model(model, h)
    return lambda x: head(body(x, training=False))
