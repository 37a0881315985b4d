"""The streaming path engine: one compiled loop for every path × integrator.

``integrate_path`` runs, inside one ``tf.function``, a ``tf.while_loop`` over chunks of path
nodes. Each iteration:

1. the path produces the points of ``T`` nodes for all ``B`` inputs: ``[T, B, ...]``;
2. the evaluator returns target values and gradients for those ``T·B`` rows in one call;
3. the path returns the rule's ``deltas`` (and, if adaptive, moves its state using the
   gradients: Guided IG);
4. the accumulator (a Riemann rule or IDGI) adds the chunk's contribution in float64.

Memory is bounded by the chunk (``T·B`` rows), never by ``steps × B``. Target values along the
path (``[K, B]`` floats) are kept for :class:`PathDetails`.

Evaluators are objects with ``__call__(points [n, ...], example [n], class_idx [B]) ->
(values [n], grads [n, ...])``: :class:`ModelEvaluator` (the fast path: the model traced
into the loop) and :class:`CallbackEvaluator` (any PAIR ``call_model_function``, called from
the loop through ``tf.py_function``).
"""
from __future__ import annotations

import functools
import weakref
from typing import Optional, Sequence

import numpy as np
import tensorflow as tf

from tfpath.core import keys
from tfpath.core.compiled import quiet_tracing

# Rows (path points) per model call when batch_size is None: ~16 MB of float32 input per chunk,
# between 1 and 256 rows.
AUTO_CHUNK_BYTES = 1 << 24
AUTO_CHUNK_MAX_ROWS = 256


def auto_rows(feature_count: int) -> int:
    """Default rows per model call for inputs of ``feature_count`` floats."""
    return int(max(1, min(AUTO_CHUNK_MAX_ROWS, AUTO_CHUNK_BYTES // (4 * max(feature_count, 1)))))


# ---------------------------------------------------------------------------------- evaluators
class ModelEvaluator:
    """Evaluator of a :class:`tfpath.ModelFunction`: the model is traced into the engine loop."""

    def __init__(self, model_function):
        self.model_function = model_function
        self.uses_class = True

    @property
    def cache(self):
        return self.model_function.engine_cache

    def __call__(self, points, example, class_idx):
        rows = None if class_idx is None else tf.gather(class_idx, example)
        return self.model_function.value_and_gradient(points, rows)

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

    def __init__(self, call_model_function, call_model_args, need_values: bool):
        self.fn = call_model_function
        self.uses_class = False
        self.cache = {}
        self.error: Optional[BaseException] = None
        self.configure(call_model_args, need_values)

    def configure(self, call_model_args, need_values: bool):
        """Sets the arguments of the next calls. They are read when the compiled loop calls
        back into Python, never baked into a trace, so one evaluator (and its compiled loops)
        serves every call with the same ``call_model_function``."""
        self.args = call_model_args
        self.need_values = need_values
        self.expected_keys = [keys.INPUT_OUTPUT_GRADIENTS] + (
            [keys.OUTPUT_LAYER_VALUES] if need_values else [])
        self.error = None
        return self

    @classmethod
    def for_function(cls, call_model_function, call_model_args, need_values: bool):
        """The evaluator of ``call_model_function``, reused across calls (its compiled loops
        are cached with it) while the function is alive."""
        try:
            evaluator = _CALLBACK_EVALUATORS.get(call_model_function)
        except TypeError:                          # not weak-referenceable
            return cls(call_model_function, call_model_args, need_values)
        if evaluator is None:
            evaluator = cls(call_model_function, call_model_args, need_values)
            _CALLBACK_EVALUATORS[call_model_function] = evaluator
        return evaluator.configure(call_model_args, need_values)

    def call_numpy(self, points: np.ndarray, args):
        """One PAIR call; returns (values [n] float32, grads [n, ...] float32)."""
        out = self.fn(points, call_model_args=args, expected_keys=list(self.expected_keys))
        if not isinstance(out, dict) or keys.INPUT_OUTPUT_GRADIENTS not in out:
            raise ValueError("call_model_function: must return a dict with "
                             "INPUT_OUTPUT_GRADIENTS for expected_keys="
                             f"{self.expected_keys}; returned {type(out).__name__}"
                             f"{' with keys ' + str(sorted(out)) if isinstance(out, dict) else ''}")
        grads = np.asarray(out[keys.INPUT_OUTPUT_GRADIENTS], np.float32)
        if grads.shape != points.shape:
            raise ValueError("call_model_function: INPUT_OUTPUT_GRADIENTS has shape "
                             f"{grads.shape}, expected the batch's shape {points.shape}")
        if not self.need_values:
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

    def _py(self, points, example):
        try:
            points, example = points.numpy(), example.numpy()
            if not isinstance(self.args, list):
                return self.call_numpy(points, self.args)
            values = np.zeros(points.shape[0], np.float32)
            grads = np.zeros(points.shape, np.float32)
            for e in np.unique(example):
                rows = example == e
                values[rows], grads[rows] = self.call_numpy(points[rows], self.args[e])
            return values, grads
        except BaseException as e:  # re-raised with its type by raise_pending()
            self.error = e
            raise

    def __call__(self, points, example, class_idx):
        values, grads = tf.py_function(self._py, [points, example], [tf.float32, tf.float32])
        values.set_shape(points.shape[:1])
        grads.set_shape(points.shape)
        return values, grads

    def evaluate_numpy(self, points, class_idx):
        if not isinstance(self.args, list):
            return self.call_numpy(points, self.args)
        parts = [self.call_numpy(points[i:i + 1], self.args[i]) for i in range(len(points))]
        return (np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]))

    def raise_pending(self):
        if self.error is not None:
            err, self.error = self.error, None
            raise err


_CALLBACK_EVALUATORS = weakref.WeakKeyDictionary()


# ---------------------------------------------------------------------------------- the loop
def _run(evaluator, path, accumulator, chunk_steps, x, baseline, params, weights, class_idx):
    b = tf.shape(x)[0]
    feature_shape = tf.shape(x)[1:]
    state = path.init(x, baseline)
    acc = accumulator.init(x)
    k = tf.shape(params)[0]
    n_chunks = (k + chunk_steps - 1) // chunk_steps
    values_ta = tf.TensorArray(tf.float32, size=n_chunks, infer_shape=False,
                               element_shape=tf.TensorShape([None, None]))

    def body(i, state, acc, values_ta):
        p = params[i * chunk_steps:(i + 1) * chunk_steps]
        w = weights[i * chunk_steps:(i + 1) * chunk_steps]
        t = tf.shape(p)[0]
        pts = path.points(state, p)
        flat = tf.reshape(pts, tf.concat([[t * b], feature_shape], 0))
        example = tf.tile(tf.range(b), [t])
        values, grads = evaluator(flat, example, class_idx)
        values = tf.reshape(values, [t, b])
        grads = tf.reshape(grads, tf.shape(pts))
        deltas, new_state = path.advance(state, pts, grads, p, w)
        new_acc = accumulator.update(acc, grads, values, deltas)
        # keep the loop variables' static shapes (dynamic reshapes above lose them)
        tf.nest.map_structure(lambda new, old: new.set_shape(old.shape), new_state, state)
        tf.nest.map_structure(lambda new, old: new.set_shape(old.shape), new_acc, acc)
        return i + 1, new_state, new_acc, values_ta.write(i, values)

    _, state, acc, values_ta = tf.while_loop(
        lambda i, *_: i < n_chunks, body, (tf.constant(0), state, acc, values_ta),
        parallel_iterations=1)
    attr, residual = accumulator.result(acc)
    return attr, residual, values_ta.concat()


def _compiled(evaluator, path, accumulator, chunk_steps):
    key = (path.key, accumulator.key, chunk_steps, evaluator.uses_class)
    fn = evaluator.cache.get(key)
    if fn is None:
        fn = quiet_tracing(tf.function(
            functools.partial(_run, evaluator, path, accumulator, chunk_steps),
            reduce_retracing=True))
        evaluator.cache[key] = fn
    return fn


def integrate_path(evaluator, path, accumulator, x: np.ndarray, baseline: Optional[np.ndarray],
                   params: np.ndarray, weights: np.ndarray, class_idx: Optional[np.ndarray],
                   batch_size: Optional[int]):
    """Integrates along ``path`` for a batch of inputs, streaming in chunks.

    Args:
      evaluator: a :class:`ModelEvaluator` or :class:`CallbackEvaluator`.
      path: a path object (:mod:`tfpath.paths`).
      accumulator: an accumulator (:mod:`tfpath.integrate`).
      x: float32 ``[B, ...]`` inputs. baseline: float32 ``[B, ...]`` or None (blur path).
      params, weights: the rule's node parameters and weights ``[K]`` (for adaptive paths, the
        node indices ``0..K-1``; weights unused).
      class_idx: int32 ``[B]`` or None.
      batch_size: most rows (points) per model call; None chooses :func:`auto_rows`. Inputs
        are split into groups of at most ``batch_size``, each group run with
        ``batch_size // group`` nodes per chunk.

    Returns:
      ``(attribution [B, ...] float64, residual [B] float64, values [K, B] float32)``.
    """
    n_inputs = x.shape[0]
    rows = batch_size or auto_rows(int(np.prod(x.shape[1:])))
    group = max(1, min(n_inputs, rows))
    chunk_steps = max(1, rows // group)
    if path.adaptive:
        chunk_steps = 1
    if baseline is None:
        baseline = x
    uses_class = class_idx is not None and evaluator.uses_class
    fn = _compiled(evaluator, path, accumulator, chunk_steps)
    attrs, residuals, values = [], [], []
    for start in range(0, n_inputs, group):
        sl = slice(start, start + group)
        c = tf.constant(class_idx[sl], tf.int32) if uses_class else None
        try:
            a, r, v = fn(tf.constant(x[sl]), tf.constant(baseline[sl]),
                         tf.constant(params, tf.float64), tf.constant(weights, tf.float64), c)
        except (tf.errors.OpError, ValueError, TypeError):
            evaluator.raise_pending()
            raise
        attrs.append(a.numpy())
        residuals.append(r.numpy())
        values.append(v.numpy())
    return (np.concatenate(attrs, 0), np.concatenate(residuals, 0),
            np.concatenate(values, 1))


def evaluate_points(evaluator, points: np.ndarray, class_idx: Optional[np.ndarray]):
    """Target values (float64) and gradients at ``points [B, ...]``; row i belongs to input i."""
    values, grads = evaluator.evaluate_numpy(np.asarray(points, np.float32), class_idx)
    return np.asarray(values, np.float64), np.asarray(grads, np.float32)
