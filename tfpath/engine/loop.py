"""The streaming path engine: one compiled loop for every path × integrator × baseline set.

A *row* is one (input, baseline) pair: ``x [B, ...]`` with a :class:`~tfpath.protocols.
BaselineSet` of M weighted baselines per input gives ``B·M`` rows (rows of weight 0 are
skipped). Rows are cut into groups of ``G`` rows; each group runs, inside one ``tf.function``,
a ``tf.while_loop`` over chunks of ``T`` path nodes (``T·G ≤ batch_size``):

1. the path produces the points (and tangents) of ``T`` nodes of the ``G`` rows,
   ``[T, G, ...]``, from per-row node parameters ``[T, G]`` (α may differ per row);
2. the evaluator returns F, ∇F and any auxiliary quantities for those ``T·G`` points in one
   call, with every row's class and context tiled along;
3. an adaptive path moves its state (Guided IG, AGI) and returns the step's displacement;
4. the integrator accumulates the chunk in float64.

After the loop, the rows' attributions are summed into their inputs with the baseline weights
(``Σ_b w_b ∫_{γ_b}``). Memory is bounded by the chunk (``T·G`` points), never by
``steps × rows``. F at both ends of every row's path comes from the loop itself: read off the
first / last node when the schedule contains it, otherwise evaluated (forward only) at the
path's start and at its final state.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any, Mapping, Optional

import numpy as np
import tensorflow as tf

from tfpath.core.compiled import quiet_tracing
from tfpath.protocols import BaselineSet, Rows, Schedule

# Rows (path points) per model call when batch_size is None: ~16 MB of float32 input per chunk,
# between 1 and 256 rows.
AUTO_CHUNK_BYTES = 1 << 24
AUTO_CHUNK_MAX_ROWS = 256


def auto_rows(feature_count: int) -> int:
    """Default points per model call for inputs of ``feature_count`` floats: as many as fit in
    :data:`AUTO_CHUNK_BYTES` of float32, between 1 and :data:`AUTO_CHUNK_MAX_ROWS`."""
    return int(max(1, min(AUTO_CHUNK_MAX_ROWS, AUTO_CHUNK_BYTES // (4 * max(feature_count, 1)))))


@dataclass(frozen=True)
class LoopKey:
    """What a compiled loop depends on (its cache key): the parts' frozen configurations and
    the loop's static choices."""

    path: Any
    integrator: Any
    evaluator: Any
    chunk_nodes: int
    uses_class: bool
    first_from_nodes: bool
    last_from_nodes: bool
    need_ends: bool
    keep_values: bool
    keep_end: bool


@dataclass
class PathResult:
    """What the engine computed for a batch of ``B`` inputs and ``M`` baselines each.

    Attributes:
      attribution: ``Σ_b w_b ∫_{γ_b} ∇F · dγ`` per input, float64 ``[B, ...]``.
      residual: with IDGI, the weighted part of ``F(x) - F(x')`` on zero-gradient steps
        (skipped), float64 ``[B]``; 0 otherwise.
      weights: the baseline weights ``[B, M]``.
      baseline_values: F at each row's path start (the baseline end of the path, in
        baseline → input orientation), ``[B, M]`` float64, or None if not computed.
      input_values: F at each row's input end, ``[B, M]`` float64, or None.
      path_values: F at the evaluated nodes, loop order, ``[B, M, K]``, or None.
      path_end: the final state of an adaptive path (e.g. AGI's adversarial example, Guided
        IG's end point), ``[B, M, ...]`` float32, or None.
    """

    attribution: np.ndarray
    residual: np.ndarray
    weights: np.ndarray
    baseline_values: Optional[np.ndarray] = None
    input_values: Optional[np.ndarray] = None
    path_values: Optional[np.ndarray] = None
    path_end: Optional[np.ndarray] = None


def _tile(t, times):
    """``t [G, ...]`` repeated ``times`` times along a new leading axis, flattened:
    ``[times·G, ...]`` in node-major order (the order of flattened ``[T, G, ...]`` points)."""
    if t is None:
        return None
    return tf.reshape(tf.tile(t[None], tf.concat([[times], tf.ones([tf.rank(t)], tf.int32)], 0)),
                      tf.concat([[times * tf.shape(t)[0]], tf.shape(t)[1:]], 0))


def _run(key: LoopKey, evaluator, x_in, row_input, row_global, baseline, weight, params,
         node_weights, class_rows, context):
    path, integrator = key.path, key.integrator
    n_inputs = tf.shape(x_in)[0]
    x_rows = tf.gather(x_in, row_input)
    g = tf.shape(x_rows)[0]
    rows = Rows(x_rows, baseline, class_rows, row_global, context)
    state = path.init(rows)
    acc = integrator.init(x_rows)
    k = tf.shape(params)[0]
    t_max = key.chunk_nodes
    n_chunks = (k + t_max - 1) // t_max
    values_ta = tf.TensorArray(tf.float32, size=n_chunks, infer_shape=False,
                               element_shape=tf.TensorShape([None, None]))
    f_start = None
    if key.need_ends and not key.first_from_nodes:
        f_start = evaluator.values(path.start(rows), rows)
    with_tangents = integrator.needs_tangents and not path.adaptive

    def body(i, state, acc, values_ta):
        p = params[i * t_max:(i + 1) * t_max]                      # [t, G]
        w = node_weights[i * t_max:(i + 1) * t_max]
        t = tf.shape(p)[0]
        points, tangents = path.points(state, p, with_tangents)
        flat = tf.reshape(points, tf.concat([[t * g], tf.shape(points)[2:]], 0))
        tiled = Rows(None, None, _tile(rows.class_idx, t), _tile(rows.input_index, t),
                     {name: _tile(v, t) for name, v in rows.context.items()})
        ev = evaluator.evaluate(flat, tiled)
        values = tf.reshape(ev.values, [t, g])
        grads = tf.reshape(ev.grads, tf.shape(points))
        aux = {name: (tf.reshape(v, [t, g]),
                      None if gr is None else tf.reshape(gr, tf.shape(points)))
               for name, (v, gr) in ev.aux.items()}
        displacement, new_state = path.advance(state, points, type(ev)(values, grads, aux), p)
        moves = displacement if path.adaptive else tangents
        new_acc = integrator.update(acc, grads, values, moves, w)
        # keep the loop variables' static shapes (dynamic reshapes above lose them)
        tf.nest.map_structure(lambda new, old: new.set_shape(old.shape), new_state, state)
        tf.nest.map_structure(lambda new, old: new.set_shape(old.shape), new_acc, acc)
        return i + 1, new_state, new_acc, values_ta.write(i, values)

    _, state, acc, values_ta = tf.while_loop(
        lambda i, *_: i < n_chunks, body, (tf.constant(0), state, acc, values_ta),
        parallel_iterations=1)
    values = values_ta.concat()                                     # [K, G]
    end = path.end(state, rows)
    f_end = None
    if key.need_ends:
        f_start = tf.cast(values[0], tf.float32) if key.first_from_nodes else f_start
        f_end = values[-1] if key.last_from_nodes else evaluator.values(end, rows)
    sign = tf.constant(-1.0 if path.reverse else 1.0, tf.float64)
    attr_rows, residual_rows = integrator.result(acc, f_start, f_end, sign)
    w = tf.cast(weight, tf.float64)
    shape_w = tf.concat([[g], tf.ones([tf.rank(attr_rows) - 1], tf.int32)], 0)
    attr = tf.math.unsorted_segment_sum(attr_rows * tf.reshape(w, shape_w), row_input, n_inputs)
    residual = tf.math.unsorted_segment_sum(residual_rows * w, row_input, n_inputs)
    out = {"attribution": attr, "residual": residual}
    if key.need_ends:
        out["f_start"], out["f_end"] = f_start, f_end
    if key.keep_values:
        out["values"] = values
    if key.keep_end:
        out["end"] = end
    return out


def _compiled(evaluator, key: LoopKey):
    cache = evaluator.cache
    fn = cache.get(key)
    if fn is None:
        fn = quiet_tracing(tf.function(functools.partial(_run, key, evaluator),
                                       reduce_retracing=True))
        cache[key] = fn
    return fn


def _groups(n_rows: int, per_call: int):
    """Balanced groups of at most ``per_call`` rows: ``(group size, number of groups)``."""
    n_groups = -(-n_rows // per_call)
    return -(-n_rows // n_groups), n_groups


def integrate(evaluator, path, integrator, x: np.ndarray, baselines: BaselineSet,
              schedule: Schedule, class_idx: Optional[np.ndarray] = None,
              context: Optional[Mapping[str, np.ndarray]] = None,
              batch_size: Optional[int] = None, details: bool = False) -> PathResult:
    """Integrates along ``path`` from every baseline of every input, streaming in chunks.

    Args:
      evaluator: a :class:`tfpath.protocols.Evaluator` (with the path's auxiliary quantities).
      path: a :class:`tfpath.protocols.Path`.
      integrator: a :class:`tfpath.protocols.Integrator`.
      x: float32 inputs ``[B, ...]``.
      baselines: the :class:`~tfpath.protocols.BaselineSet` (``index [B, M]``).
      schedule: the nodes (``params [K]`` shared, or ``[K, B·M]`` one column per row in
        input-major order) and weights.
      class_idx: int32 ``[B]`` or None.
      context: per-input arrays ``{name: [B, ...]}``, handed to the path and the evaluator
        with each row (the baselines' own per-row context is added).
      batch_size: most points per model call; None chooses :func:`auto_rows`.
      details: also return F at both ends, along the path and the final state.

    Returns:
      :class:`PathResult`.

    Raises:
      Whatever the evaluator raises (a callback's own exception keeps its type).
    """
    n_inputs, m = baselines.index.shape
    per_call = batch_size or auto_rows(int(np.prod(x.shape[1:])))
    weights = np.asarray(baselines.weights, np.float64)
    keep = np.flatnonzero(weights.reshape(-1) != 0)               # rows, input-major
    if keep.size == 0:
        raise ValueError("baseline_weights: every baseline has weight 0; nothing to integrate")
    row_input_all = keep // m
    k = schedule.nodes
    group, n_groups = _groups(len(keep), per_call)
    if path.adaptive:                          # an adaptive path steps all rows together
        chunk = 1
    else:
        chunk = max(1, min(k, per_call // group))
        chunk = -(-k // (-(-k // chunk)))                         # balanced chunks
    need_ends = details or integrator.needs_ends
    uses_class = class_idx is not None and evaluator.uses_class
    key = LoopKey(path, integrator, evaluator.config, chunk, uses_class,
                  schedule.includes_first, schedule.includes_last, need_ends,
                  keep_values=details, keep_end=details and path.adaptive)
    fn = _compiled(evaluator, key)
    params = np.asarray(schedule.params, np.float64)
    node_weights = np.asarray(schedule.weights, np.float64)
    pool = np.asarray(baselines.pool, np.float32)
    flat_index = baselines.index.reshape(-1)
    row_context = {name: np.asarray(v).reshape((n_inputs * m,) + np.shape(v)[2:])
                   for name, v in baselines.context.items()}
    input_context = dict(context or {})

    attribution = np.zeros(x.shape, np.float64)
    residual = np.zeros(n_inputs, np.float64)
    f_start = np.full(n_inputs * m, np.nan)
    f_end = np.full(n_inputs * m, np.nan)
    path_values = np.full((n_inputs * m, k), np.nan) if details else None
    path_end = np.full((n_inputs * m,) + x.shape[1:], np.nan, np.float32) if key.keep_end \
        else None
    for gi in range(n_groups):
        rows = keep[gi * group:(gi + 1) * group]
        real = len(rows)
        if real < group:                       # pad with weight-0 copies: one shape, one trace
            rows = np.concatenate([rows, np.full(group - real, rows[-1])])
        r_input = row_input_all[gi * group:gi * group + real]
        r_input = np.concatenate([r_input, np.full(group - real, r_input[-1])])
        first = int(r_input[0])
        w = weights.reshape(-1)[rows].copy()
        w[real:] = 0.0
        p = params[:, rows] if schedule.per_row else np.repeat(params[:, None], group, 1)
        nw = node_weights[:, rows] if schedule.per_row else np.repeat(node_weights[:, None],
                                                                      group, 1)
        ctx = {name: tf.constant(v[r_input]) for name, v in input_context.items()}
        ctx.update({name: tf.constant(v[rows]) for name, v in row_context.items()})
        c = tf.constant(class_idx[r_input], tf.int32) if uses_class else None
        try:
            out = fn(tf.constant(x[first:int(r_input[-1]) + 1]),
                     tf.constant(r_input - first, tf.int32), tf.constant(r_input, tf.int32),
                     tf.constant(pool[flat_index[rows]]), tf.constant(w), tf.constant(p),
                     tf.constant(nw), c, ctx)
        except (tf.errors.OpError, ValueError, TypeError):
            evaluator.raise_pending()
            raise
        span = slice(first, int(r_input[-1]) + 1)
        attribution[span] += out["attribution"].numpy()
        residual[span] += out["residual"].numpy()
        rows, sl = rows[:real], slice(0, real)
        if need_ends:
            f_start[rows] = out["f_start"].numpy()[sl]
            f_end[rows] = out["f_end"].numpy()[sl]
        if details:
            path_values[rows] = out["values"].numpy()[:, sl].T
        if key.keep_end:
            path_end[rows] = out["end"].numpy()[sl]
    result = PathResult(attribution, residual, weights)
    if need_ends:
        f_start, f_end = f_start.reshape(n_inputs, m), f_end.reshape(n_inputs, m)
        base, inp = (f_end, f_start) if path.reverse else (f_start, f_end)
        result.baseline_values, result.input_values = base, inp
    if details:
        result.path_values = path_values.reshape(n_inputs, m, k)
    if path_end is not None:
        result.path_end = path_end.reshape((n_inputs, m) + x.shape[1:])
    return result


def evaluate_points(evaluator, points: np.ndarray, class_idx: Optional[np.ndarray]):
    """Target values (float64) and gradients at ``points [B, ...]``; row i belongs to input i."""
    values, grads = evaluator.evaluate_numpy(np.asarray(points, np.float32), class_idx)
    return np.asarray(values, np.float64), np.asarray(grads, np.float32)
