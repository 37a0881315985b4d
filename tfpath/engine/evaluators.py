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

    def evaluate_numpy(self, points, class_idx):
        values, grads = self.model_function.compiled("value_and_gradient", points, class_idx)
        return values.numpy(), grads.numpy()

    def raise_pending(self):
        pass


class CallbackEvaluator:
    """Evaluator of a PAIR ``call_model_function``, called per chunk via ``tf.py_function``.

    Args:
      call_model_function: PAIR contract ``f(x_batch, call_model_args, expected_keys)``.
      call_model_args: one dict for all inputs, or a list with one dict per input (rows of
        different inputs are then passed in separate calls).
      need_values: also ask for OUTPUT_LAYER_VALUES (IDGI, convergence delta, path values).
    """

    uses_class = False
    config = EvaluatorConfig("callback")

    def __init__(self, call_model_function, call_model_args, need_values: bool):
        self.fn = call_model_function
        self.cache = {}
        self.error: Optional[BaseException] = None
        self.configure(call_model_args, need_values)

    def configure(self, call_model_args, need_values: bool):
        """Sets the arguments of the next calls. They are read when the compiled loop calls
        back into Python, never baked into a trace, so one evaluator (and its compiled loops)
        serves every call with the same ``call_model_function``."""
        self.args = call_model_args
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
    def for_function(cls, call_model_function, call_model_args, need_values: bool):
        """The evaluator of ``call_model_function``, reused across calls (its compiled loops
        are cached with it) while the function is alive."""
        evaluator = memo.memoized(call_model_function, "engine.callback", "evaluator",
                                  lambda: cls(call_model_function, call_model_args,
                                              need_values))
        return evaluator.configure(call_model_args, need_values)

    def _expected_keys(self, gradients: bool):
        return (([keys.INPUT_OUTPUT_GRADIENTS] if gradients else [])
                + ([keys.OUTPUT_LAYER_VALUES] if self.need_values or not gradients else []))

    def call_numpy(self, points: np.ndarray, args, gradients: bool = True):
        """One PAIR call; returns (values [n] float32, grads [n, ...] float32 or None)."""
        expected = self._expected_keys(gradients)
        out = self.fn(points, call_model_args=args, expected_keys=list(expected))
        if not isinstance(out, dict) or expected[0] not in out:
            raise ValueError("call_model_function: must return a dict with "
                             f"{expected[0]} for expected_keys={expected}; returned "
                             f"{type(out).__name__}"
                             f"{' with keys ' + str(sorted(out)) if isinstance(out, dict) else ''}")
        grads = None
        if gradients:
            grads = np.asarray(out[keys.INPUT_OUTPUT_GRADIENTS], np.float32)
            if grads.shape != points.shape:
                raise ValueError("call_model_function: INPUT_OUTPUT_GRADIENTS has shape "
                                 f"{grads.shape}, expected the batch's shape {points.shape}")
        if keys.OUTPUT_LAYER_VALUES not in expected:
            return np.zeros(points.shape[0], np.float32), grads
        if keys.OUTPUT_LAYER_VALUES not in out:
            raise ValueError(
                "call_model_function: IDGI, convergence deltas and path values need the target "
                "value of each row: return OUTPUT_LAYER_VALUES (shape [n]) when it is in "
                "expected_keys (tfpath.ModelFunction does).")
        values = np.asarray(out[keys.OUTPUT_LAYER_VALUES], np.float32)
        if values.ndim == 2 and values.shape[1] == 1:
            values = values[:, 0]
        if values.shape != (points.shape[0],):
            raise ValueError("call_model_function: OUTPUT_LAYER_VALUES must hold one target "
                             f"value per row, shape ({points.shape[0]},); received {values.shape}")
        return values, grads

    def _py(self, points, input_index, gradients):
        try:
            points, input_index = points.numpy(), input_index.numpy()
            if not isinstance(self.args, list):
                values, grads = self.call_numpy(points, self.args, gradients)
                return (values, grads) if gradients else (values,)
            values = np.zeros(points.shape[0], np.float32)
            grads = np.zeros(points.shape, np.float32)
            for e in np.unique(input_index):
                rows = input_index == e
                v, g = self.call_numpy(points[rows], self.args[e], gradients)
                values[rows] = v
                if gradients:
                    grads[rows] = g
            return (values, grads) if gradients else (values,)
        except BaseException as e:  # re-raised with its type by raise_pending()
            self.error = e
            raise

    def evaluate(self, points, rows: Rows) -> Evaluation:
        values, grads = tf.py_function(lambda p, i: self._py(p, i, True),
                                       [points, rows.input_index], [tf.float32, tf.float32])
        values.set_shape(points.shape[:1])
        grads.set_shape(points.shape)
        return Evaluation(values, grads, {})

    def values(self, points, rows: Rows):
        (values,) = tf.py_function(lambda p, i: self._py(p, i, False),
                                   [points, rows.input_index], [tf.float32])
        values.set_shape(points.shape[:1])
        return values

    def evaluate_numpy(self, points, class_idx):
        if not isinstance(self.args, list):
            return self.call_numpy(points, self.args)
        parts = [self.call_numpy(points[i:i + 1], self.args[i]) for i in range(len(points))]
        return (np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]))

    def raise_pending(self):
        if self.error is not None:
            err, self.error = self.error, None
            raise err
