"""Representations: intermediate features of a model, computed in the same forward pass as its
outputs (IG²'s representation layer, Zhuo and Ge, "IG²: Integrated Gradient on Iterative
Gradient Path for Feature Attribution", IEEE TPAMI 2024, Eq. 4 and footnote 4).

A :class:`Representation` names *where* the features are read:

* ``None`` (the default): the penultimate layer of a Keras model, i.e. the input of its last
  logit layer (the last layer, or the one before a trailing ``Softmax`` / ``Activation``
  layer). This is the paper's rule ("activations in the penultimate layer") and the tensor the
  authors' code hooks on Inception-v3 (the input of ``fc``);
* a layer name (``str``) or index (``int``, negative from the end): that layer's output;
* ``"input"``: the identity (features = the input itself);
* a callable ``fn(x [n, ...]) -> features [n, ...]``, TensorFlow-differentiable. It is called
  beside the model (a second forward pass, since tfpath cannot see inside it).

:func:`features_function` turns a representation and a :class:`tfpath.ModelFunction` into
``fn(x) -> (features, outputs)``; for Keras layers one sub-model (sharing the model's layers and
weights) returns both from one forward pass.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import tensorflow as tf

from tfpath.core import keras_utils

INPUT = "input"


@dataclass(frozen=True)
class Representation:
    """Where features are read (see the module docstring); hashable, so it keys compiled loops.

    Attributes:
      layer: None, a layer name, a layer index, ``"input"`` or a callable.
    """

    layer: Any = None

    def describe(self) -> str:
        if self.layer is None:
            return "the penultimate layer"
        if callable(self.layer):
            return f"the callable {getattr(self.layer, '__name__', type(self.layer).__name__)}"
        return f"layer {self.layer!r}" if self.layer != INPUT else "the input"


def as_representation(value) -> Representation:
    """``value`` as a :class:`Representation` (a Representation, None, str, int or callable).

    Raises:
      TypeError naming ``representation`` for any other type.
    """
    if isinstance(value, Representation):
        return value
    if value is None or isinstance(value, str) or callable(value) or (
            isinstance(value, int) and not isinstance(value, bool)):
        return Representation(value)
    raise TypeError("representation: expected a layer name, a layer index, 'input', a callable "
                    f"x -> features or None (the penultimate layer), received "
                    f"{type(value).__name__}")


def _logit_layer_index(model) -> int:
    """Index of the layer producing the logits (skipping a trailing softmax-only layer)."""
    layers = model.layers
    last = len(layers) - 1
    if last > 0 and keras_utils.ends_in_softmax(model) and type(layers[last]).__name__ in (
            "Softmax", "Activation"):
        return last - 1
    return last


def layer_tensor(model, representation: Representation):
    """The symbolic tensor of ``representation`` (None, a layer name or an index) in a Keras
    model's graph.

    Raises:
      ValueError naming ``representation``: an unknown layer or index, a layer with several
        inputs or outputs.
    """
    layers = model.layers
    names = [layer.name for layer in layers]
    spec = representation.layer
    if spec is None:
        if not layers:
            raise ValueError("representation: the model has no layers; name one, or pass "
                             "'input' or a callable")
        layer = layers[_logit_layer_index(model)]
        tensor = layer.input
        if isinstance(tensor, (list, tuple)):
            raise ValueError(f"representation: the logit layer {layer.name!r} has several "
                             "inputs; name the representation layer")
        return tensor
    if isinstance(spec, int):
        if not -len(layers) <= spec < len(layers):
            raise ValueError(f"representation: layer index {spec} out of range for a model of "
                             f"{len(layers)} layers")
        layer = layers[spec]
    else:
        if spec not in names:
            raise ValueError(f"representation: no layer named {spec!r} in the model; its layers "
                             f"are {names}")
        layer = model.get_layer(spec)
    tensor = layer.output
    if isinstance(tensor, (list, tuple)):
        raise ValueError(f"representation: layer {layer.name!r} has several outputs; choose a "
                         "layer with one")
    return tensor


def features_function(model_function, representation: Representation) -> Callable:
    """``fn(x) -> (features, outputs)`` for a :class:`tfpath.ModelFunction`.

    ``outputs`` are what ``model_function.call_model(x)`` returns (the pre-softmax logits when
    it explains those); for a Keras layer both come from one forward pass.

    Raises:
      ValueError naming ``representation``: an unknown layer or index, a layer of a model that
        is not Keras, or a model whose sub-model cannot be built.
    """
    spec = representation.layer
    if spec == INPUT:
        return lambda x: (x, model_function.call_model(x))
    if callable(spec) and not isinstance(spec, str):
        return lambda x: (spec(x), model_function.call_model(x))
    model = model_function.model
    if not keras_utils.is_keras_model(model):
        raise ValueError(f"representation: {representation.describe()} needs a Keras model; "
                         f"received a {type(model).__name__}. Pass 'input' or a callable "
                         "x -> features")
    tensor = layer_tensor(model, representation)
    if model_function.uses_pre_softmax_logits:
        pre, head = keras_utils.pre_softmax(model)
        if tensor is pre:                   # the default on Dense-softmax models: one output
            trunk = keras_utils.sub_model(model, pre)

            def forward(x):
                h = trunk(x, training=False)
                return h, head(h)
            return forward
        body = keras_utils.sub_model(model, [tensor, pre])

        def forward(x):
            features, h = body(x, training=False)
            return features, head(h)
        return forward
    body = keras_utils.sub_model(model, [tensor, model.output])

    def forward(x):
        features, outputs = body(x, training=False)
        return features, outputs
    return forward


def check_depends_on_input(forward, x, representation: Representation):
    """Raises ValueError naming ``representation`` if its features have no gradient path to the
    input (``x``: float32 ``[n, ...]``)."""
    x = tf.convert_to_tensor(x, tf.float32)
    with tf.GradientTape() as tape:
        tape.watch(x)
        features, _ = forward(x)
        total = tf.reduce_sum(tf.cast(features, tf.float32))
    if tape.gradient(total, x) is None:
        raise ValueError(f"representation: {representation.describe()} does not depend on the "
                         "model's input (no gradient path); choose a layer between the input "
                         "and the output")
