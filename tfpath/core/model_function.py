"""ModelFunction: the Keras face of tfpath, and a PAIR ``call_model_function``.

``ModelFunction(model, target=...)`` wraps a Keras 3 model, a tf_keras model or any
TensorFlow-differentiable callable. It serves two callers:

* PAIR's contract: ``mf(x_value_batch, call_model_args, expected_keys)`` returns a dict with
  INPUT_OUTPUT_GRADIENTS, OUTPUT_LAYER_VALUES (the target value per example, shape ``[n]``),
  and, when built with ``layer_name``, CONVOLUTION_LAYER_VALUES / CONVOLUTION_OUTPUT_GRADIENTS.
  So it plugs into ``saliency.core`` methods and XRAI unchanged.
* tfpath's engine (the fast path): :meth:`evaluate` is a TensorFlow-traceable call
  ``(x [n, ...], class_idx [n]) -> (F [n], dF/dx [n, ...], auxiliary values and gradients)``
  that the engine traces into its own compiled loop, batched over inputs and path steps.

What a model outputs is sniffed by :mod:`tfpath.core.keras_utils`, checked on the first
outputs by :mod:`tfpath.core.output_checks`, and the per-shape compilation lives in
:mod:`tfpath.core.compiled`.
"""
from __future__ import annotations

from typing import Mapping, Optional, Sequence

import numpy as np
import tensorflow as tf

from tfpath import preprocessing
from tfpath import targets as targets_lib
from tfpath.core import keras_utils, keys, memo, output_checks, validation
from tfpath.core import representation as representation_lib
from tfpath.core.compiled import CompiledCalls, quiet_tracing

NO_GRADIENT_MESSAGE = (
    "model: the target has no gradient path to the input (tf.GradientTape returned None). The "
    "model must be differentiable in its input: no integer casts, tf.stop_gradient or numpy "
    "round-trips between input and output.")


class ModelFunction:
    """Wraps a model and a target into a PAIR ``call_model_function`` with a compiled fast path.

    Args:
      model: a Keras 3 model, a tf_keras model, or any callable mapping a float32 tensor
        ``[n, ...]`` to outputs ``[n]`` or ``[n, K]`` (or ``[n, S, K]`` for Bayesian wrappers),
        differentiable with ``tf.GradientTape``. Keras models are called with ``training=False``.
      target: what is explained: ``"logit"`` (default), ``"probability"``, ``"score"``, a
        registered name (``"entropy"``, ...), a :class:`tfpath.targets.Target`, or a callable
        ``fn(outputs, class_idx) -> [n]``.
      output: what the model outputs: ``"auto"`` (default, see
        :func:`tfpath.core.keras_utils.infer_output_kind`), ``"logits"``, ``"probabilities"``
        or ``"scores"``. Checked against the first outputs seen: probabilities declared as
        logits (or the reverse) raise ValueError.
      layer_name: name of a layer (typically the last convolution) for
        CONVOLUTION_LAYER_VALUES / CONVOLUTION_OUTPUT_GRADIENTS (Grad-CAM, XRAI users).
      batch_size: largest number of rows per model call in the PAIR face (None: one call).
      class_key: the key of ``call_model_args`` holding the class (PAIR's examples use
        ``"class_idx"``).
      preprocess: None (default), or a preprocessing applied to the inputs *inside* the
        differentiated function, so the model function computes ``F(preprocess(x))`` and
        gradients, masks and baselines are in the caller's input space (e.g. pixels 0–255, as
        PAIR's ImageNet examples): a ``keras.applications`` family name (``"mobilenet_v2"``,
        ``"resnet50"``, ``"inception_v3"``, ... see :data:`tfpath.preprocessing.FAMILIES`;
        pixels in [0, 255]), an input range ``"LOW,HIGH"`` or ``(low, high)`` (pixels in
        [0, 255] mapped linearly), or a TensorFlow-traceable callable ``x -> model input``.
        Resolved by :func:`tfpath.preprocessing.resolve`; the callable is :attr:`preprocess`.

    Logits of softmax models: with ``output="auto"``, a target that needs logits (the default
    ``"logit"``) on a Keras model whose last layer applies a softmax (every
    ``keras.applications`` classifier by default) differentiates the *pre-softmax* logits,
    computed from the model's own layers and live weights
    (:func:`tfpath.core.keras_utils.logits_function`); :attr:`output_kind` is then
    ``"logits"`` and :attr:`uses_pre_softmax_logits` is True. The model is not modified.

    Returns:
      A PAIR ``call_model_function`` (see :meth:`__call__`) whose values and gradients are
      those of ``target(model(preprocess(x)))`` with respect to ``x``.

    Raises:
      TypeError: ``model`` is not callable; ``preprocess`` of another type. ValueError: bad
      ``output``, a target that cannot read the declared outputs, an unknown ``layer_name``,
      or an unknown ``preprocess`` family / a malformed range (the message lists the valid
      names).
    """

    def __init__(self, model, target="logit", output: str = "auto",
                 layer_name: Optional[str] = None, batch_size: Optional[int] = None,
                 class_key: str = "class_idx", preprocess=None):
        if not callable(model):
            raise TypeError(f"model: expected a Keras model or a callable, received "
                            f"{type(model).__name__}")
        self.model = model
        self.preprocess = preprocessing.resolve(preprocess)
        self.target = targets_lib.get_target(target)
        self._is_keras = keras_utils.is_keras_model(model)
        kind = keras_utils.infer_output_kind(model) if output == "auto" else output
        if kind not in targets_lib.OUTPUT_KINDS:
            raise ValueError(f"output: expected 'auto' or one of {targets_lib.OUTPUT_KINDS}, "
                             f"received {output!r}")
        self.uses_pre_softmax_logits = (
            output == "auto" and self._is_keras and kind == "probabilities"
            and "logits" in self.target.accepted_kinds
            and "probabilities" not in self.target.accepted_kinds)
        head = None
        if self.uses_pre_softmax_logits:
            pre, head = keras_utils.pre_softmax(model)
            kind = "logits"
        self.target.check_output_kind(kind)
        self.output_kind = kind
        self.batch_size = validation.check_optional_positive_int(batch_size, "batch_size")
        self.class_key = class_key
        self.layer_name = layer_name
        self._forward = self._build_forward(head)
        self._layer_forward = (self._preprocessed(self._build_layer_forward(layer_name, head))
                               if layer_name else None)
        self._outputs_checked = False
        self._num_classes = None
        self._input_shape = None
        self.compiled = CompiledCalls({
            "value_and_gradient": self.value_and_gradient,
            "values": self.values,
            "values_and_outputs": self._values_and_outputs,
            "outputs": lambda x, c: self.call_model(x),
            "conv": self._layer_values_and_gradients,
        })

    # ------------------------------------------------------------------ model calls
    def _preprocessed(self, forward):
        """``forward`` composed with :attr:`preprocess` (``forward`` itself without one)."""
        if self.preprocess is None:
            return forward
        preprocess = self.preprocess

        def composed(x):
            return forward(preprocess(x))
        return composed

    def _build_forward(self, head):
        if head is None:
            return self._preprocessed(lambda x: keras_utils.call_inference(self.model, x))
        return self._preprocessed(keras_utils.logits_function(self.model))

    def _build_layer_forward(self, layer_name, head):
        """``x -> (layer values, outputs)`` from one forward pass, for the CONVOLUTION keys."""
        if not self._is_keras:
            raise ValueError("layer_name: only Keras models have named layers; received a "
                             f"{type(self.model).__name__}")
        try:
            layer = self.model.get_layer(layer_name)
        except ValueError:
            names = [l.name for l in self.model.layers]
            raise ValueError(f"layer_name: no layer named {layer_name!r} in the model; layers "
                             f"are {names}") from None
        if head is None:
            body = keras_utils.sub_model(self.model, [layer.output, self.model.output])
            return lambda x: tuple(body(x, training=False))
        pre, head = keras_utils.pre_softmax(self.model)
        body = keras_utils.sub_model(self.model, [layer.output, pre])

        def forward(x):
            conv, h = body(x, training=False)
            return conv, head(h)
        return forward

    def call_model(self, x):
        """The model's outputs for a float32 batch ``x`` (inference mode for Keras models;
        the pre-softmax logits when :attr:`uses_pre_softmax_logits`; of ``preprocess(x)`` when
        built with ``preprocess``)."""
        out = self._forward(x)
        if isinstance(out, (list, tuple, dict)):
            raise ValueError("model: returns several outputs; wrap it so that it returns one "
                             "tensor (e.g. lambda x: model(x)[0])")
        return tf.convert_to_tensor(out)

    def target_values(self, outputs, class_idx):
        """Applies the target to raw outputs; returns float32 ``[n]``."""
        values = self.target(outputs, class_idx, self.output_kind)
        return tf.cast(tf.reshape(values, [-1]), tf.float32)

    def evaluate(self, x, class_idx=None, auxiliary: Sequence = (),
                 context: Optional[Mapping[str, tf.Tensor]] = None):
        """Target values, their input gradients and auxiliary quantities, from one forward pass.

        Traceable inside ``tf.function`` (the engine's loop calls it).

        Args:
          x: float32 tensor ``[n, ...]``.
          class_idx: int32 tensor ``[n]`` or None (targets that need no class).
          auxiliary: :class:`~tfpath.protocols.Auxiliary` objects; each is computed as
            ``a(outputs, context, model_function, features)`` on the same forward pass, and
            differentiated with respect to ``x`` if ``a.gradient``. ``features`` are the values
            of ``a.representation`` (a :class:`~tfpath.core.representation.Representation`,
            read in the same pass), or None when no auxiliary names one.
          context: per-row tensors ``{name: [n, ...]}`` handed to the auxiliary functions.

        Returns:
          ``(values [n] float32, gradients [n, ...] float32, aux)`` where ``aux`` maps each
          auxiliary name to ``(values [n] float32, gradients [n, ...] float32 or None)``.

        Raises:
          ValueError: the target or an auxiliary has no gradient path to the input; auxiliaries
            that need different representations.
        """
        x = tf.convert_to_tensor(x, tf.float32)
        needs_tape = [a for a in auxiliary if a.gradient]
        wanted = {a.representation for a in auxiliary
                  if getattr(a, "representation", None) is not None}
        if len(wanted) > 1:
            raise ValueError("auxiliary: quantities that need different representations cannot "
                             "share one forward pass")
        with tf.GradientTape(persistent=bool(needs_tape)) as tape:
            tape.watch(x)
            if wanted:
                features, outputs = self.features_and_outputs(x, next(iter(wanted)))
            else:
                features, outputs = None, self.call_model(x)
            values = self.target_values(outputs, class_idx)
            aux_values = {a.name: tf.cast(tf.reshape(a(outputs, context or {}, self, features),
                                                     [-1]), tf.float32) for a in auxiliary}
        grads = tape.gradient(values, x)
        if grads is None:
            raise ValueError(NO_GRADIENT_MESSAGE)
        aux = {}
        for a in auxiliary:
            g = tape.gradient(aux_values[a.name], x) if a.gradient else None
            if a.gradient and g is None:
                raise ValueError(f"model: the auxiliary quantity {a.name!r} has no gradient "
                                 "path to the input")
            aux[a.name] = (aux_values[a.name], None if g is None else tf.cast(g, tf.float32))
        del tape
        return values, tf.cast(grads, tf.float32), aux

    # ------------------------------------------------------------------ representations
    def _features_forward(self, representation):
        def build():
            fn = representation_lib.features_function(self, representation)
            spec = representation.layer
            if spec == representation_lib.INPUT or (callable(spec) and not isinstance(spec, str)):
                return fn                   # reads x and call_model(x): preprocessed already
            return self._preprocessed(fn)   # a Keras layer of the model: feed it preprocess(x)
        return memo.memoized(self, "representation.forward", representation, build)

    def features_and_outputs(self, x, representation):
        """``(features, outputs)`` of ``x`` from one forward pass; traceable.

        Args:
          x: float32 tensor ``[n, ...]``.
          representation: a :class:`~tfpath.core.representation.Representation` (or what
            :func:`~tfpath.core.representation.as_representation` accepts).

        Returns:
          ``(features [n, ...], outputs)``; ``outputs`` as :meth:`call_model`'s.

        Raises:
          ValueError naming ``representation``: see
          :func:`~tfpath.core.representation.features_function`.
        """
        representation = representation_lib.as_representation(representation)
        features, outputs = self._features_forward(representation)(x)
        return tf.cast(features, tf.float32), tf.convert_to_tensor(outputs)

    def features_numpy(self, x, representation, rows: Optional[int] = None):
        """Eager ``(features, outputs)`` as float32 NumPy arrays, compiled, in chunks of
        ``rows`` (None: all at once). Checks once per representation that the features depend
        on the input.

        Raises:
          ValueError naming ``representation`` (see :meth:`features_and_outputs`), or if its
          features do not depend on the input.
        """
        representation = representation_lib.as_representation(representation)
        x = np.asarray(x, np.float32)

        def build():
            representation_lib.check_depends_on_input(self._features_forward(representation),
                                                      x[:1], representation)
            return quiet_tracing(tf.function(
                lambda t: self.features_and_outputs(t, representation), reduce_retracing=True))
        fn = memo.memoized(self, "representation.compiled", representation, build)
        rows = rows or max(len(x), 1)
        parts = [fn(tf.constant(x[i:i + rows])) for i in range(0, len(x), rows)]
        return (np.concatenate([p[0].numpy() for p in parts]),
                np.concatenate([p[1].numpy() for p in parts]))

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
        values, grads, _ = self.evaluate(x, class_idx)
        return values, grads

    def values(self, x, class_idx=None):
        """Target values only (one forward pass, no gradient); traceable. ``[n]`` float32."""
        return self.target_values(self.call_model(tf.convert_to_tensor(x, tf.float32)),
                                  class_idx)

    def _layer_values_and_gradients(self, x, class_idx=None):
        x = tf.convert_to_tensor(x, tf.float32)
        with tf.GradientTape() as tape:
            conv, out = self._layer_forward(x)
            values = self.target_values(out, class_idx)
        return conv, tape.gradient(values, conv)

    def _values_and_outputs(self, x, class_idx=None):
        outputs = self.call_model(x)
        return self.target_values(outputs, class_idx), outputs

    # ------------------------------------------------------------------ validation
    @property
    def declared_input_shape(self) -> Optional[tuple]:
        """One input's shape as the Keras model declares it (None entries for free axes), or
        None (plain callables, unbuilt or multi-input models). A built model's shape does not
        change: it is read once (every method call checks it twice)."""
        if self._input_shape is not None:
            return self._input_shape
        try:
            shape = self.model.input_shape
        except (AttributeError, ValueError):      # callables, unbuilt or multi-input models
            return None
        if isinstance(shape, tuple) and len(shape) >= 1 and all(
                isinstance(d, (int, type(None))) for d in shape):
            self._input_shape = tuple(shape[1:])
        return self._input_shape

    @property
    def _class_argument(self) -> str:
        """How error messages name the classes: ``call_model_args['class_idx']``."""
        return f"call_model_args[{self.class_key!r}]"

    @property
    def num_classes(self) -> Optional[int]:
        """The number of classes K, known once outputs have been checked (else None)."""
        return self._num_classes

    def check_outputs(self, x, class_idx=None):
        """Runs the model once on ``x`` and checks outputs, classes and the declared kind.

        Called once per method call at the boundary, so errors name the user's argument.

        Args:
          x: float32 array ``[n, ...]``.
          class_idx: int array ``[n]`` or None.

        Returns:
          The raw outputs as a NumPy array.

        Raises:
          ValueError: NaN/inf outputs; a class out of range or missing; probabilities declared
            as logits or the reverse; a target that does not return one value per input.
        """
        return self.checked_outputs_and_values(x, class_idx)[0]

    def checked_outputs_and_values(self, x, class_idx=None):
        """:meth:`check_outputs`, also returning the target's values on ``x``.

        Returns:
          ``(outputs, values)``: the raw outputs and F(x), float32 ``[n]``, NumPy arrays.

        Raises:
          As :meth:`check_outputs`.
        """
        class_name = self._class_argument
        classes = None if class_idx is None else tf.constant(class_idx, tf.int32)
        if self._num_classes is not None and class_idx is not None:
            # the class count is known from earlier outputs: the classes are checked first,
            # and the outputs and F(x) come from one compiled call
            validation.check_class_idx(class_idx, self._num_classes, class_name)
            values, outputs = self.compiled("values_and_outputs", x, classes)
            outputs = outputs.numpy()
            self.check_computed_outputs(outputs, class_idx)
        else:
            outputs = self.compiled("outputs", x).numpy()
            num_classes = output_checks.check_outputs(outputs, self.target, self.output_kind,
                                                      class_idx, class_name)
            if num_classes is not None:
                self._num_classes = num_classes
            values = self.target_values(tf.constant(outputs), classes)
        if values.shape != (outputs.shape[0],):
            raise ValueError(f"target: {self.target.name!r} must return one value per input "
                             f"({outputs.shape[0]}); it returned {values.shape[0]}")
        self._outputs_checked = True
        return outputs, values.numpy()

    def check_classes_only(self, class_idx) -> bool:
        """The boundary check without the model call, when the class count is known from an
        earlier check: checks ``class_idx`` (int ``[n]`` or None) against it and returns True;
        returns False (nothing checked) when it is not known yet. The outputs, computed later
        (inside the engine's loop), then go through :meth:`check_computed_outputs`.

        Raises:
          ValueError: a class out of range.
        """
        if self._num_classes is None or not self._outputs_checked:
            return False
        if class_idx is None and self.target.needs_class and self._num_classes > 1:
            return False                        # the full check says what is missing
        if class_idx is not None:
            validation.check_class_idx(class_idx, self._num_classes,
                                       self._class_argument)
        return True

    def check_computed_outputs(self, outputs, class_idx=None):
        """:meth:`check_outputs`'s checks of outputs computed elsewhere (the engine's loop).

        Args:
          outputs: the raw outputs on the inputs, NumPy ``[n, ...]``.
          class_idx: int ``[n]`` or None.

        Raises:
          As :meth:`check_outputs`.
        """
        output_checks.check_outputs(outputs, self.target, self.output_kind, class_idx,
                                    self._class_argument)

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
                                              self._class_argument)

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
        self._check_once(x, class_idx, self._class_argument)
        want_conv = any(k in (keys.CONVOLUTION_LAYER_VALUES, keys.CONVOLUTION_OUTPUT_GRADIENTS)
                        for k in expected_keys)
        if want_conv and self._layer_forward is None:
            raise ValueError("expected_keys: CONVOLUTION_* keys need ModelFunction(..., "
                             "layer_name=<name of a convolution layer>)")
        want_grads = keys.INPUT_OUTPUT_GRADIENTS in expected_keys
        want_values = keys.OUTPUT_LAYER_VALUES in expected_keys
        rows = self.batch_size or max(n, 1)
        parts = {k: [] for k in expected_keys}
        for start in range(0, n, rows):
            xs = x[start:start + rows]
            cs = None if class_idx is None else class_idx[start:start + rows]
            if want_grads:
                values, grads = self.compiled("value_and_gradient", xs, cs)
                parts[keys.INPUT_OUTPUT_GRADIENTS].append(grads.numpy())
            elif want_values:
                values = self.compiled("values", xs, cs)
            if want_values:
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
        return self.compiled("values", x, c).numpy()

    def with_target(self, target) -> "ModelFunction":
        """This model function's model with another target (memoised per target).

        Args:
          target: as in the constructor.

        Returns:
          A :class:`ModelFunction` on the same model and ``output`` kind (the model's own,
          not the pre-softmax logits, unless the new target needs logits).
        """
        from tfpath.core import memo
        key = ("name", target.lower()) if isinstance(target, str) else ("id", id(target))
        entry = memo.memoized(self, "retargeted", key, lambda: (target, ModelFunction(
            self.model, target=target,
            output="auto" if self.uses_pre_softmax_logits else self.output_kind,
            layer_name=self.layer_name, batch_size=self.batch_size, class_key=self.class_key,
            preprocess=self.preprocess)))
        return entry[1]

    def __repr__(self):
        extra = "" if self.preprocess is None else f", preprocess={self.preprocess!r}"
        return (f"ModelFunction({getattr(self.model, 'name', type(self.model).__name__)}, "
                f"target={self.target!r}, output={self.output_kind!r}{extra})")

