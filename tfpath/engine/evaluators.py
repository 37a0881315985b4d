"""Evaluators: F, ∇F and auxiliary quantities at a batch of points, inside the engine's loop.

* :class:`ModelEvaluator`: a :class:`tfpath.ModelFunction`, traced into the compiled loop (the
  fast path). It computes auxiliary quantities (a path's :class:`~tfpath.protocols.Auxiliary`,
  e.g. the score of AGI's adversarial class) from the same forward pass.
* :class:`CallbackEvaluator`: any PAIR ``call_model_function``, called from the loop through
  ``tf.py_function``.

Both implement :class:`tfpath.protocols.Evaluator`.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence, Tuple

import numpy as np
import tensorflow as tf

from tfpath.core import keys, memo
from tfpath.protocols import Evaluation, Rows


@dataclass(frozen=True)
class EvaluatorConfig:
    """What an evaluator contributes to a compiled loop's key."""

    kind: str
    auxiliary: Tuple = ()


class ModelEvaluator:
    """Evaluator of a :class:`tfpath.ModelFunction`: the model is traced into the engine loop.

    Args:
      model_function: the :class:`tfpath.ModelFunction`.
      auxiliary: :class:`~tfpath.protocols.Auxiliary` objects computed beside the target.
    """

    uses_class = True

    def __init__(self, model_function, auxiliary: Sequence = ()):
        self.model_function = model_function
        self.auxiliary = tuple(auxiliary)

    @property
    def config(self):
        return EvaluatorConfig("model", self.auxiliary)

    @property
    def cache(self):
        return memo.cache_for(self.model_function, "engine")

    def with_auxiliary(self, auxiliary: Sequence) -> "ModelEvaluator":
        """This evaluator, also computing ``auxiliary`` (a path's needs)."""
        return self if not auxiliary else ModelEvaluator(self.model_function,
                                                          self.auxiliary + tuple(auxiliary))

    def evaluate(self, points, rows: Rows) -> Evaluation:
        values, grads, aux = self.model_function.evaluate(points, rows.class_idx,
                                                          self.auxiliary, rows.context)
        return Evaluation(values, grads, aux)

    def values(self, points, rows: Rows):
        return self.model_function.values(points, rows.class_idx)

    def outputs_and_values(self, points, class_idx):
        """The raw outputs at ``points [n, ...]`` and the target's values there (float32
        ``[n]``), from one forward pass (no gradient). Traceable: the loop runs it on the
        inputs when it chooses their baselines (:class:`~tfpath.protocols.ChosenBaselines`)."""
        outputs = self.model_function.call_model(points)
        return outputs, self.model_function.target_values(outputs, class_idx)

    def evaluate_numpy(self, points, class_idx):
        values, grads = self.model_function.compiled("value_and_gradient", points, class_idx)
        return values.numpy(), grads.numpy()

    def values_at(self, points, index, class_idx, rows: int):
        """F (no gradient) at ``points[index[r]]`` with class ``class_idx[r]`` for every r:
        the model's outputs once per point of ``points`` (``rows`` per compiled call), the
        target applied per r. float32 ``[len(index)]``.

        Args:
          points: NumPy ``[P, ...]`` float32.
          index: int ``[R]`` into ``points``.
          class_idx: int ``[R]`` or None.
          rows: points per compiled call.
        """
        mf = self.model_function
        outputs = tf.concat([mf.compiled("outputs", points[s:s + rows])
                             for s in range(0, len(points), rows)], axis=0)
        picked = tf.gather(outputs, tf.constant(np.asarray(index, np.int32)))
        classes = None if class_idx is None else tf.constant(np.asarray(class_idx, np.int32))
        return mf.target_values(picked, classes).numpy()

    def raise_pending(self):
        pass


class CallbackEvaluator:
    """Evaluator of a PAIR ``call_model_function``, called per chunk via ``tf.py_function``.

    The function is called exactly as PAIR calls it: ``fn(x_batch, call_model_args=...,
    expected_keys=[...])`` with the points of the path only (the loop's padding is never
    sent), ``call_model_args`` the caller's object itself (any object, passed through
    untouched), and ``expected_keys`` ``[INPUT_OUTPUT_GRADIENTS]`` (plus
    ``OUTPUT_LAYER_VALUES`` when values are needed). Every output is checked with PAIR's
    messages (:data:`tfpath.core.keys.SHAPE_ERROR_MESSAGE`); the function's own exceptions
    are re-raised unchanged.

    Args:
      call_model_function: PAIR contract ``f(x_batch, call_model_args, expected_keys)``.
      call_model_args: passed to every call (one object for all inputs).
      need_values: also ask for OUTPUT_LAYER_VALUES (IDGI, convergence delta, path values).
      per_input_args: None, or one ``call_model_args`` per input of the batch (rows of
        different inputs are then passed in separate calls): tfpath's batches with one class
        per input.
    """

    uses_class = False
    config = EvaluatorConfig("callback")

    def __init__(self, call_model_function, call_model_args, need_values: bool,
                 per_input_args: Optional[Sequence] = None):
        self.fn = call_model_function
        self.cache = {}
        self.error: Optional[BaseException] = None
        self.configure(call_model_args, need_values, per_input_args)

    def configure(self, call_model_args, need_values: bool,
                  per_input_args: Optional[Sequence] = None):
        """Sets the arguments of the next calls. They are read when the compiled loop calls
        back into Python, never baked into a trace, so one evaluator (and its compiled loops)
        serves every call with the same ``call_model_function``."""
        self.args = call_model_args
        self.per_input_args = None if per_input_args is None else list(per_input_args)
        self.need_values = need_values
        self.error = None
        return self

    def with_auxiliary(self, auxiliary: Sequence) -> "CallbackEvaluator":
        if auxiliary:
            names = ", ".join(a.name for a in auxiliary)
            raise ValueError(
                f"call_model_function: this path also needs the gradients of {names} from the "
                "same forward pass, which a PAIR call_model_function cannot give; pass a "
                "tfpath.ModelFunction(model, target=...) instead")
        return self

    @classmethod
    def for_function(cls, call_model_function, call_model_args, need_values: bool,
                     per_input_args: Optional[Sequence] = None):
        """The evaluator of ``call_model_function``, reused across calls (its compiled loops
        are cached with it) while the function is alive."""
        evaluator = memo.memoized(call_model_function, "engine.callback", "evaluator",
                                  lambda: cls(call_model_function, call_model_args,
                                              need_values, per_input_args))
        return evaluator.configure(call_model_args, need_values, per_input_args)

    def _expected_keys(self, gradients: bool):
        return (([keys.INPUT_OUTPUT_GRADIENTS] if gradients else [])
                + ([keys.OUTPUT_LAYER_VALUES] if self.need_values or not gradients else []))

    def call_numpy(self, points: np.ndarray, args, gradients: bool = True):
        """One PAIR call; returns (values [n] float32, grads [n, ...] float32 or None).

        Raises:
          ValueError: an output of the wrong shape, in PAIR's words; a missing key.
        """
        expected = self._expected_keys(gradients)
        out = self.fn(points, call_model_args=args, expected_keys=list(expected))
        if not isinstance(out, dict) or expected[0] not in out:
            raise ValueError("call_model_function: must return a dict with "
                             f"{expected[0]} for expected_keys={expected}; returned "
                             f"{type(out).__name__}"
                             f"{' with keys ' + str(sorted(out)) if isinstance(out, dict) else ''}")
        grads = None
        if gradients:
            grads = np.asarray(out[keys.INPUT_OUTPUT_GRADIENTS])
            if grads.shape != points.shape:
                raise ValueError(keys.SHAPE_ERROR_MESSAGE[keys.INPUT_OUTPUT_GRADIENTS].format(
                    points.shape, grads.shape))
            grads = grads.astype(np.float32)
        if keys.OUTPUT_LAYER_VALUES not in expected:
            return np.zeros(points.shape[0], np.float32), grads
        if keys.OUTPUT_LAYER_VALUES not in out:
            raise ValueError(
                "call_model_function: IDGI, convergence deltas and path values need the target "
                "value of each row: return OUTPUT_LAYER_VALUES (shape [n]) when it is in "
                "expected_keys (tfpath.ModelFunction does).")
        values = np.asarray(out[keys.OUTPUT_LAYER_VALUES])
        if values.shape[:1] != points.shape[:1]:
            raise ValueError(keys.SHAPE_ERROR_MESSAGE[keys.OUTPUT_LAYER_VALUES].format(
                points.shape[0], values.shape[0] if values.ndim else values.shape))
        if values.ndim == 2 and values.shape[1] == 1:
            values = values[:, 0]
        if values.shape != (points.shape[0],):
            raise ValueError("call_model_function: OUTPUT_LAYER_VALUES must hold one target "
                             f"value per row, shape ({points.shape[0]},); received {values.shape}")
        return values.astype(np.float32), grads

    def _call_rows(self, points, input_index, gradients):
        """Calls the function on ``points`` (one call, or one per input with per-input args)."""
        if self.per_input_args is None:
            return self.call_numpy(points, self.args, gradients)
        values = np.zeros(points.shape[0], np.float32)
        grads = np.zeros(points.shape, np.float32)
        for e in np.unique(input_index):
            rows = input_index == e
            v, g = self.call_numpy(points[rows], self.per_input_args[e], gradients)
            values[rows] = v
            if gradients:
                grads[rows] = g
        return values, grads

    def _py(self, points, input_index, valid, gradients):
        try:
            points, input_index = points.numpy(), input_index.numpy()
            valid = None if valid is None else valid.numpy()
            if valid is None or valid.all():
                values, grads = self._call_rows(points, input_index, gradients)
            else:                        # the loop's padding: not sent, zeros in its place
                values = np.zeros(points.shape[0], np.float32)
                grads = np.zeros(points.shape, np.float32)
                if valid.any():
                    v, g = self._call_rows(points[valid], input_index[valid], gradients)
                    values[valid] = v
                    if gradients:
                        grads[valid] = g
            return (values, grads) if gradients else (values,)
        except BaseException as e:  # re-raised with its type by raise_pending()
            self.error = e
            raise

    def evaluate(self, points, rows: Rows) -> Evaluation:
        inputs = [points, rows.input_index] + ([] if rows.valid is None else [rows.valid])
        values, grads = tf.py_function(
            lambda p, i, v=None: self._py(p, i, v, True), inputs, [tf.float32, tf.float32])
        values.set_shape(points.shape[:1])
        grads.set_shape(points.shape)
        return Evaluation(values, grads, {})

    def values(self, points, rows: Rows):
        inputs = [points, rows.input_index] + ([] if rows.valid is None else [rows.valid])
        (values,) = tf.py_function(lambda p, i, v=None: self._py(p, i, v, False), inputs,
                                   [tf.float32])
        values.set_shape(points.shape[:1])
        return values

    def evaluate_numpy(self, points, class_idx):
        return self._call_rows(points, np.arange(len(points)), True)    # row i is input i

    def raise_pending(self):
        if self.error is not None:
            err, self.error = self.error, None
            raise err
