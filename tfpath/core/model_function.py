"""ModelFunction: the Keras face of tfpath, and a PAIR ``call_model_function``.

``ModelFunction(model, target=...)`` wraps a Keras 3 model, a tf_keras model or any
TensorFlow-differentiable callable. It serves two callers:

* PAIR's contract: ``mf(x_value_batch, call_model_args, expected_keys)`` returns a dict with
  INPUT_OUTPUT_GRADIENTS, OUTPUT_LAYER_VALUES (the target value per example, shape ``[n]``),
  and, when built with ``layer_name``, CONVOLUTION_LAYER_VALUES / CONVOLUTION_OUTPUT_GRADIENTS.
  So it plugs into ``saliency.core`` methods and XRAI unchanged.
* tfpath's engine (the fast path): :meth:`value_and_gradient` is a TensorFlow-traceable call
  ``(x [n, ...], class_idx [n]) -> (F [n], dF/dx [n, ...])`` that the engine traces into its
  own compiled loop, batched over inputs and path steps at once.
"""
from __future__ import annotations

from typing import Optional

import numpy as np
import tensorflow as tf

from tfpath import targets as targets_lib
from tfpath.core import keys
from tfpath.core import validation


def quiet_tracing(fn):
    """Silences TensorFlow's "frequent retracing" warning for ``fn``, a ``tf.function``.

    TensorFlow counts traces per Python code object, across all instances. tfpath traces each
    call once per model function and input shape — by design, not the retracing loop the
    warning is about — so many ModelFunction instances would otherwise trigger it.
    """
    fn._omit_frequent_tracing_warning = True   # the attribute tf.function reads; no public API
    return fn


def _keras_model_classes():
    classes = []
    try:
        import keras
        classes.append(keras.Model)
    except ImportError:  # pragma: no cover
        pass
    try:
        import tf_keras
        classes.append(tf_keras.Model)
    except ImportError:  # pragma: no cover
        pass
    return tuple(classes)


def _is_keras_model(model) -> bool:
    return isinstance(model, _keras_model_classes())


def _softmax_activations():
    acts = []
    try:
        import keras
        acts.append(keras.activations.softmax)
    except ImportError:  # pragma: no cover
        pass
    try:
        import tf_keras
        acts.append(tf_keras.activations.softmax)
    except ImportError:  # pragma: no cover
        pass
    return acts


def infer_output_kind(model) -> str:
    """Guesses what a model outputs: ``"probabilities"`` if its last layer applies softmax.

    Keras models whose last layer is a softmax (a ``Softmax`` layer or any layer with
    ``activation=softmax``, as in ``keras.applications``) give ``"probabilities"``; other Keras
    models give ``"logits"``; plain callables give ``"scores"``. A model may declare its own
    kind with an ``output_kind`` attribute (tfpath's Bayesian wrappers do).
    """
    declared = getattr(model, "output_kind", None)
    if isinstance(declared, str):
        return declared
    if not _is_keras_model(model):
        return "scores"
    layers = getattr(model, "layers", [])
    if not layers:
        return "logits"
    last = layers[-1]
    if type(last).__name__ == "Softmax":
        return "probabilities"
    activation = getattr(last, "activation", None)
    if activation is not None:
        if any(activation is a for a in _softmax_activations()):
            return "probabilities"
        if getattr(activation, "__name__", "") == "softmax":
            return "probabilities"
    return "logits"


class ModelFunction:
    """Wraps a model and a target into a PAIR ``call_model_function`` with a compiled fast path.

    Args:
      model: a Keras 3 model, a tf_keras model, or any callable mapping a float32 tensor
        ``[n, ...]`` to outputs ``[n]`` or ``[n, K]`` (or ``[n, S, K]`` for Bayesian wrappers),
        differentiable with ``tf.GradientTape``. Keras models are called with ``training=False``.
      target: what is explained: ``"logit"`` (default), ``"probability"``, ``"score"``, a
        registered name (``"entropy"``, ...), a :class:`tfpath.targets.Target`, or a callable
        ``fn(outputs, class_idx) -> [n]``.
      output: what the model outputs: ``"auto"`` (default, see :func:`infer_output_kind`),
        ``"logits"``, ``"probabilities"`` or ``"scores"``. Checked against the first outputs
        seen: probabilities declared as logits (or the reverse) raise ValueError.
      layer_name: name of a layer (typically the last convolution) for
        CONVOLUTION_LAYER_VALUES / CONVOLUTION_OUTPUT_GRADIENTS (Grad-CAM, XRAI users).
      batch_size: largest number of rows per model call in the PAIR face (None: one call).
      class_key: the key of ``call_model_args`` holding the class (PAIR's examples use
        ``"class_idx"``).

    Raises:
      TypeError: ``model`` is not callable. ValueError: bad ``output`` or unknown ``layer_name``.
    """

    def __init__(self, model, target="logit", output: str = "auto",
                 layer_name: Optional[str] = None, batch_size: Optional[int] = None,
                 class_key: str = "class_idx"):
        if not callable(model):
            raise TypeError(f"model: expected a Keras model or a callable, received "
                            f"{type(model).__name__}")
        self.model = model
        self.target = targets_lib.get_target(target)
        if output == "auto":
            output = infer_output_kind(model)
        if output not in targets_lib.OUTPUT_KINDS:
            raise ValueError(f"output: expected 'auto' or one of {targets_lib.OUTPUT_KINDS}, "
                             f"received {output!r}")
        self.target.check_output_kind(output)
        self.output_kind = output
        self.batch_size = validation.check_optional_positive_int(batch_size, "batch_size")
        self.class_key = class_key
        self.layer_name = layer_name
        self._is_keras = _is_keras_model(model)
        self._conv_model = self._build_conv_model(layer_name) if layer_name else None
        self._outputs_checked = False
        self._num_classes = None
        self._traced = {}          # compiled calls, see compiled()
        self.engine_cache = {}     # the engine's compiled loops for this model function

    # ------------------------------------------------------------------ model calls
    def _build_conv_model(self, layer_name):
        if not self._is_keras:
            raise ValueError("layer_name: only Keras models have named layers; received a "
                             f"{type(self.model).__name__}")
        try:
            layer = self.model.get_layer(layer_name)
        except ValueError:
            names = [l.name for l in self.model.layers]
            raise ValueError(f"layer_name: no layer named {layer_name!r} in the model; layers "
                             f"are {names}") from None
        model_cls = type(self.model).__mro__
        keras_model_cls = next(c for c in _keras_model_classes() if c in model_cls)
        return keras_model_cls(inputs=self.model.inputs, outputs=[layer.output, self.model.output])

    def call_model(self, x):
        """The model's raw outputs for a float32 batch ``x`` (inference mode for Keras models)."""
        out = self.model(x, training=False) if self._is_keras else self.model(x)
        if isinstance(out, (list, tuple, dict)):
            raise ValueError("model: returns several outputs; wrap it so that it returns one "
                             "tensor (e.g. lambda x: model(x)[0])")
        return tf.convert_to_tensor(out)

    def target_values(self, outputs, class_idx):
        """Applies the target to raw outputs; returns float32 ``[n]``."""
        values = self.target(outputs, class_idx, self.output_kind)
        return tf.cast(tf.reshape(values, [-1]), tf.float32)

    def value_and_gradient(self, x, class_idx=None):
        """Target values and their input gradients; traceable inside ``tf.function``.

        Args:
          x: float32 tensor ``[n, ...]``.
          class_idx: int32 tensor ``[n]`` or None (targets that need no class).

        Returns:
          ``(values [n] float32, gradients [n, ...] float32)``.

        Raises:
          ValueError: the target has no gradient path to the input (e.g. the model casts its
            input to an integer, or ignores it).
        """
        x = tf.convert_to_tensor(x, tf.float32)
        with tf.GradientTape() as tape:
            tape.watch(x)
            values = self.target_values(self.call_model(x), class_idx)
        grads = tape.gradient(values, x)
        if grads is None:
            raise ValueError(
                "model: the target has no gradient path to the input (tf.GradientTape returned "
                "None). The model must be differentiable in its input: no integer casts, "
                "tf.stop_gradient or numpy round-trips between input and output.")
        return values, tf.cast(grads, tf.float32)

    def _conv_values_and_gradients(self, x, class_idx=None):
        x = tf.convert_to_tensor(x, tf.float32)
        with tf.GradientTape() as tape:
            conv, out = self._conv_model(x, training=False)
            values = self.target_values(out, class_idx)
        return conv, tape.gradient(values, conv)

    def _values_and_outputs(self, x, class_idx=None):
        outputs = self.call_model(x)
        return self.target_values(outputs, class_idx), outputs

    def compiled(self, name, x, class_idx=None):
        """Runs one of the model function's calls, compiled once per input shape.

        Each call is a ``tf.function`` with an input signature whose batch axis is free, so a
        ModelFunction traces each call once per input shape however many rows it is given.

        Args:
          name: ``"value_and_gradient"`` -> (values, gradients); ``"values_and_outputs"`` ->
            (target values, raw outputs); ``"outputs"`` -> raw outputs; ``"conv"`` -> (layer
            values, layer gradients).
          x: float32 array ``[n, ...]``.
          class_idx: int array ``[n]`` or None.

        Returns:
          The call's tensors.
        """
        x = tf.convert_to_tensor(x, tf.float32)
        key = (name, tuple(x.shape[1:]), class_idx is not None)
        fn = self._traced.get(key)
        if fn is None:
            call = {"value_and_gradient": self.value_and_gradient,
                    "values_and_outputs": self._values_and_outputs,
                    "outputs": lambda x, c: self.call_model(x),
                    "conv": self._conv_values_and_gradients}[name]
            x_spec = tf.TensorSpec([None, *x.shape[1:]], tf.float32)
            if class_idx is None:
                fn = tf.function(lambda x: call(x, None), input_signature=[x_spec])
            else:
                fn = tf.function(call, input_signature=[x_spec, tf.TensorSpec([None], tf.int32)])
            quiet_tracing(fn)
            self._traced[key] = fn
        if class_idx is None:
            return fn(x)
        return fn(x, tf.convert_to_tensor(class_idx, tf.int32))

    # ------------------------------------------------------------------ validation
    def check_outputs(self, x, class_idx=None):
        """Runs the model once on ``x`` and checks outputs, classes and the declared kind.

        Called once per method call at the boundary, so errors name the user's argument.

        Args:
          x: float32 array ``[n, ...]``.
          class_idx: int array ``[n]`` or None.

        Raises:
          ValueError: NaN/inf outputs; a class out of range or missing; probabilities declared
            as logits or the reverse.
        """
        outputs = self.compiled("outputs", x).numpy()
        if not np.all(np.isfinite(outputs)):
            raise ValueError("model: produced NaN or inf outputs on the given input")
        if outputs.ndim >= 2:
            self._num_classes = outputs.shape[-1]
        needs_class = self.target.needs_class and outputs.ndim >= 2 and outputs.shape[-1] > 1
        if needs_class and class_idx is None:
            raise ValueError(
                f"call_model_args[{self.class_key!r}]: target {self.target.name!r} on a model "
                f"with {outputs.shape[-1]} outputs needs a class index; none was given")
        if class_idx is not None and self._num_classes is not None:
            validation.check_class_idx(class_idx, self._num_classes,
                                       f"call_model_args[{self.class_key!r}]")
        kind = self.output_kind
        if kind in ("logits", "probabilities") and outputs.ndim >= 2 and outputs.shape[-1] > 1:
            sums = outputs.sum(axis=-1)
            looks_like_probs = bool(np.all(outputs >= 0) and np.allclose(sums, 1.0, atol=1e-3))
            if kind == "logits" and looks_like_probs:
                raise ValueError(
                    "output: declared (or inferred) 'logits', but the model's outputs are "
                    "non-negative and sum to 1 over the last axis: they look like probabilities. "
                    "Pass output='probabilities' (targets 'probability', 'entropy', ...), or "
                    "remove the final softmax to explain logits.")
            if kind == "probabilities" and not looks_like_probs:
                raise ValueError(
                    "output: declared (or inferred) 'probabilities', but the model's outputs do "
                    "not sum to 1 over the last axis (or are negative): they look like logits. "
                    "Pass output='logits'.")
        values = self.target_values(tf.constant(outputs),
                                    None if class_idx is None else tf.constant(class_idx, tf.int32))
        if values.shape != (outputs.shape[0],):
            raise ValueError(f"target: {self.target.name!r} must return one value per input "
                             f"({outputs.shape[0]}); it returned {values.shape[0]}")
        self._outputs_checked = True
        return outputs

    def _check_once(self, x, class_idx, name):
        """The model's outputs are checked on the first call (one row); classes on every call."""
        if not self._outputs_checked:
            self.check_outputs(x[:1], None if class_idx is None else class_idx[:1])
        if class_idx is not None and self._num_classes is not None:
            validation.check_class_idx(class_idx, self._num_classes, name)

    # ------------------------------------------------------------------ PAIR face
    def class_indices(self, call_model_args, n):
        """The per-row class array ``[n]`` from ``call_model_args`` (None if absent)."""
        if not call_model_args or self.class_key not in call_model_args:
            return None
        return validation.check_class_indices(call_model_args[self.class_key], n,
                                              f"call_model_args[{self.class_key!r}]")

    def __call__(self, x_value_batch, call_model_args=None, expected_keys=None):
        """PAIR ``call_model_function``: returns the requested keys for a batch.

        Args:
          x_value_batch: array ``[n, ...]`` (cast to float32).
          call_model_args: dict; ``call_model_args['class_idx']`` is an int or one int per row.
          expected_keys: list of PAIR keys; None means INPUT_OUTPUT_GRADIENTS.

        Returns:
          dict of numpy arrays: INPUT_OUTPUT_GRADIENTS ``[n, ...]``, OUTPUT_LAYER_VALUES ``[n]``
          (the target values), CONVOLUTION_LAYER_VALUES / CONVOLUTION_OUTPUT_GRADIENTS.

        Raises:
          ValueError: unknown key, convolution keys without ``layer_name``, bad classes.
        """
        x = validation.check_array(x_value_batch, "x_value_batch", min_rank=1)
        expected_keys = list(expected_keys) if expected_keys else [keys.INPUT_OUTPUT_GRADIENTS]
        for key in expected_keys:
            if key not in keys.ALL_KEYS:
                raise ValueError(f"expected_keys: unknown key {key!r}; expected keys from "
                                 f"{keys.ALL_KEYS}")
        n = x.shape[0]
        class_idx = self.class_indices(call_model_args, n)
        self._check_once(x, class_idx, f"call_model_args[{self.class_key!r}]")
        want_conv = any(k in (keys.CONVOLUTION_LAYER_VALUES, keys.CONVOLUTION_OUTPUT_GRADIENTS)
                        for k in expected_keys)
        if want_conv and self._conv_model is None:
            raise ValueError("expected_keys: CONVOLUTION_* keys need ModelFunction(..., "
                             "layer_name=<name of a convolution layer>)")
        rows = self.batch_size or max(n, 1)
        parts = {k: [] for k in expected_keys}
        for start in range(0, n, rows):
            xs = x[start:start + rows]
            cs = None if class_idx is None else class_idx[start:start + rows]
            if keys.INPUT_OUTPUT_GRADIENTS in expected_keys or keys.OUTPUT_LAYER_VALUES in expected_keys:
                values, grads = self.compiled("value_and_gradient", xs, cs)
                if keys.INPUT_OUTPUT_GRADIENTS in parts:
                    parts[keys.INPUT_OUTPUT_GRADIENTS].append(grads.numpy())
                if keys.OUTPUT_LAYER_VALUES in parts:
                    parts[keys.OUTPUT_LAYER_VALUES].append(values.numpy())
            if want_conv:
                conv, conv_grads = self.compiled("conv", xs, cs)
                if keys.CONVOLUTION_LAYER_VALUES in parts:
                    parts[keys.CONVOLUTION_LAYER_VALUES].append(conv.numpy())
                if keys.CONVOLUTION_OUTPUT_GRADIENTS in parts:
                    parts[keys.CONVOLUTION_OUTPUT_GRADIENTS].append(conv_grads.numpy())
        return {k: np.concatenate(v, axis=0) for k, v in parts.items()}

    def predict(self, x, class_idx=None):
        """Target values (no gradient) for a batch, as float32 numpy ``[n]``."""
        x = validation.check_array(x, "x", min_rank=1)
        c = (None if class_idx is None
             else validation.check_class_indices(class_idx, x.shape[0], "class_idx"))
        self._check_once(x, c, "class_idx")
        return self.compiled("values_and_outputs", x, c)[0].numpy()

    def __repr__(self):
        return (f"ModelFunction({getattr(self.model, 'name', type(self.model).__name__)}, "
                f"target={self.target!r}, output={self.output_kind!r})")
