"""The streaming path engine: one compiled loop for every path × integrator × baseline set.

A *row* is one (input, baseline) pair: ``x [B, ...]`` with a :class:`~tfpath.protocols.
BaselineSet` of M weighted baselines per input gives ``B·M`` rows (rows of weight 0 are
skipped). One ``tf.function`` call runs everything: an outer ``tf.while_loop`` over groups of
``G`` rows (the inputs and the baseline pool are gathered per group inside the graph), and, for
each group, an inner ``tf.while_loop`` over chunks of ``T`` path nodes (``T·G ≤ batch_size``):

1. the path produces the points (and tangents) of ``T`` nodes of the ``G`` rows,
   ``[T, G, ...]``, from per-row node parameters ``[T, G]`` (α may differ per row);
2. the evaluator returns F, ∇F and any auxiliary quantities for those ``T·G`` points in one
   call, with every row's class and context tiled along;
3. an adaptive path moves its state (Guided IG, AGI) and returns the step's displacement;
4. the integrator accumulates the chunk in float64.

Each row's baseline weight rides on its node weights, so after the loop the rows' attributions
are summed into their inputs as they are (``Σ_b w_b ∫_{γ_b}``). Memory is bounded by the chunk
(``T·G`` points, two chunks in flight: :data:`OVERLAP`), never by ``steps × rows``. F at
both ends of every row's path comes from the loop itself: read off the first / last node when
the schedule contains it, otherwise evaluated (forward only) at the path's start and at its
final state; for a straight path (``ends_at_rows``) F(x) comes from the caller's input check
and F at the baselines, only when details are asked for, from the model's outputs once per
pool point after the loop (a plain call returns the range of F over each row's nodes
instead).

Each loop is traced once per :class:`LoopKey` (and context structure) as a concrete function
with free leading axes, and called directly.
"""
from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass, field
from typing import Any, Mapping, Optional

import numpy as np
import tensorflow as tf

from tfpath.core import memo
from tfpath.core import progress as progress_lib
from tfpath.core.compiled import quiet_tracing
from tfpath.protocols import ChosenBaselines, Evaluation, Rows, Schedule

# Rows (path points) per model call when batch_size is None: ~16 MB of float32 input per chunk,
# between 1 and 64 rows. On small inputs (28×28, a small CNN, a 2-core machine) 128 rows were a
# few % faster than 256, and 64 used 3-4 % less CPU time than 128 for IG and Expected
# Gradients at an equal or shorter wall time (the activations of a call stay in cache), with
# half the memory per call.
AUTO_CHUNK_BYTES = 1 << 24
AUTO_CHUNK_MAX_ROWS = 64
#: loop iterations of a compiled model that may run at once (see :func:`_overlap`); at most
#: this many chunks are in flight, so memory stays bounded by ``OVERLAP · batch_size`` points
OVERLAP = 2
#: the names of the per-row least and greatest F over the nodes (``LoopKey.value_range``),
#: returned beside the path's summaries
VALUE_RANGE = ("range.lo", "range.hi")


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
    feature_shape: tuple
    group_rows: int
    chunk_nodes: int
    one_group: bool
    one_chunk: bool
    uses_class: bool
    first_from_nodes: bool
    last_from_nodes: bool
    need_ends: bool
    keep_values: bool
    keep_end: bool
    progress: bool = False
    mark_padding: bool = False
    value_range: bool = False
    choice: Any = None


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
      path_summary: per-row scalars an adaptive path reports of its final state
        (``Path.summaries``, e.g. GradPath's length), ``{name: [B, M]}`` float64.
      value_range: when F at the path starts was not evaluated (see :func:`integrate`), the
        least and greatest F over each row's evaluated nodes, ``[B, M, 2]`` float64; else None.
      outputs: the model's raw outputs at the inputs ``[B, ...]`` when the loop computed them
        (to choose :class:`~tfpath.protocols.ChosenBaselines`), else None.
    """

    attribution: np.ndarray
    residual: np.ndarray
    weights: np.ndarray
    baseline_values: Optional[np.ndarray] = None
    input_values: Optional[np.ndarray] = None
    path_values: Optional[np.ndarray] = None
    path_end: Optional[np.ndarray] = None
    path_summary: Mapping[str, np.ndarray] = field(default_factory=dict)
    value_range: Optional[np.ndarray] = None
    outputs: Optional[np.ndarray] = None


def _tile(t, times):
    """``t [G, ...]`` repeated ``times`` times along a new leading axis, flattened:
    ``[times·G, ...]`` in node-major order (the order of flattened ``[T, G, ...]`` points)."""
    if t is None or times == 1:
        return t
    return tf.reshape(tf.tile(t[None], tf.concat([[times], tf.ones([tf.rank(t)], tf.int32)], 0)),
                      tf.concat([[times * tf.shape(t)[0]], tf.shape(t)[1:]], 0))


def _take(t, index):
    """``t[index]`` along the first axis. ``gather_nd`` copies whole slices: on CPU it took a
    third of ``tf.gather``'s time for ``[107, 784]`` float32 rows (18 against 55 µs)."""
    return tf.gather_nd(t, index[:, None])


def _sum_into_inputs(rows, input_index, n_inputs):
    """``rows [G, ...]`` summed into their inputs ``[n_inputs, ...]``. Rows are input-major
    (:func:`integrate` orders them so), so ``input_index`` never decreases and the sorted
    segment sum applies: on CPU it took a fifth of ``unsorted_segment_sum``'s time for
    ``[107, 784]`` float64 rows (16 against 74 µs)."""
    summed = tf.math.segment_sum(rows, input_index)            # [max index + 1, ...]
    missing = n_inputs - tf.shape(summed)[0]
    return tf.pad(summed, [[0, missing]] + [[0, 0]] * (rows.shape.rank - 1))


# the progress bar of the integrate() call that is running (ticked from the compiled loop)
_BAR = []


def _tick():
    if _BAR:
        _BAR[-1].update(1)
    return []


def _run_group(key: LoopKey, evaluator, rows: Rows, params, node_weights, n_nodes):
    """One group of ``G`` rows: the node loop. Returns the rows' attributions and residuals
    (weighted: ``node_weights`` hold each row's baseline weight), F along the path ``[K, G]``,
    F at both ends ``[G]``, the final point and the path's summaries of its final state.
    ``n_nodes`` is the schedule's length before padding (with ``key.mark_padding``, the
    evaluator is told which points are padding)."""
    path, integrator = key.path, key.integrator
    constants, state = path.init(rows)
    acc = integrator.init(rows.x)
    n_chunks = tf.shape(params)[0] // key.chunk_nodes
    # F along the path is carried only when something reads it
    keep = key.keep_values or (key.need_ends and (key.first_from_nodes or key.last_from_nodes))
    values_ta = tf.TensorArray(tf.float32, size=n_chunks, infer_shape=False,
                               element_shape=tf.TensorShape([key.chunk_nodes, key.group_rows]))
    f_start = None
    if key.need_ends and not key.first_from_nodes:
        f_start = evaluator.values(path.start(rows), rows)
    with_tangents = integrator.needs_tangents and not path.adaptive
    t = key.chunk_nodes                         # every chunk has T nodes (padded schedule)
    g = key.group_rows
    # the rows' class, index and context, tiled once for the T nodes of a chunk
    tiled = Rows(None, None, _tile(rows.class_idx, t), _tile(rows.input_index, t),
                 {name: _tile(v, t) for name, v in rows.context.items()})

    def body(i, state, acc, track):
        p = tf.ensure_shape(params[i * t:(i + 1) * t], [t, g])
        w = tf.ensure_shape(node_weights[i * t:(i + 1) * t], [t, g])
        points, tangents = path.points(constants, state, p, with_tangents)
        flat = tf.reshape(points, [t * g] + rows.x.shape[1:].as_list())
        if not path.adaptive:
            # a free batch axis: TensorFlow then differentiates the model's means with
            # BroadcastTo, not Tile (measured 3-8 % faster for IG, EG and LPI on a small CNN,
            # CPU); an adaptive path's chain of small calls ran ~5 % slower so
            flat = tf.compat.v1.placeholder_with_default(flat, [None] + rows.x.shape[1:].as_list())
        chunk_rows = tiled
        if key.mark_padding:                    # real nodes × real rows, node-major
            real_nodes = tf.range(i * t, (i + 1) * t) < n_nodes
            chunk_rows = tiled._replace(valid=tf.reshape(
                real_nodes[:, None] & rows.valid[None, :], [t * g]))
        ev = evaluator.evaluate(flat, chunk_rows)
        values = tf.reshape(ev.values, [t, g])
        shape = points.shape if points.shape.is_fully_defined() else tf.shape(points)
        grads = tf.reshape(ev.grads, shape)
        if key.mark_padding:
            # padding nodes (only in the last chunk, after a real node) were not evaluated:
            # they repeat the last real node, as if it had been evaluated again
            real = tf.range(i * t, (i + 1) * t) < n_nodes
            last = tf.minimum(n_nodes - 1 - i * t, t - 1)
            values = tf.where(real[:, None], values, values[last][None])
            grads = tf.where(tf.reshape(real, [t] + [1] * (len(grads.shape) - 1)), grads,
                             grads[last][None])
        aux = {name: (tf.reshape(v, [t, g]), None if gr is None else tf.reshape(gr, shape))
               for name, (v, gr) in ev.aux.items()}
        displacement, new_state = path.advance(constants, state, points,
                                               Evaluation(values, grads, aux), p)
        moves = displacement if path.adaptive else tangents
        if path.adaptive and key.last_from_nodes:
            # the schedule's last node is the path's end (IDGI): evaluated, never moved from
            last = tf.equal(i, n_chunks - 1)
            new_state = tf.nest.map_structure(lambda new, old: tf.where(last, old, new),
                                              new_state, state)
        new_acc = integrator.update(acc, grads, values, moves, w)
        if key.progress:                        # one tick per model call (a bar is showing)
            tf.py_function(_tick, [], [])
        # keep the loop variables' static shapes (dynamic reshapes above lose them)
        tf.nest.map_structure(lambda new, old: new.set_shape(old.shape), new_state, state)
        tf.nest.map_structure(lambda new, old: new.set_shape(old.shape), new_acc, acc)
        track = dict(track)
        if keep:
            track["values"] = track["values"].write(i, values)
        if key.value_range:
            track["lo"] = tf.minimum(track["lo"], tf.reduce_min(values, axis=0))
            track["hi"] = tf.maximum(track["hi"], tf.reduce_max(values, axis=0))
        return i + 1, new_state, new_acc, track

    track = {"values": values_ta} if keep else {}
    if key.value_range:
        track.update(lo=tf.fill([g], np.float32(np.inf)), hi=tf.fill([g], np.float32(-np.inf)))
    start = (tf.constant(0), state, acc, track)
    if key.one_chunk:                           # e.g. one random α per row: no loop at all
        loop = body(*start)
    else:
        loop = tf.while_loop(lambda i, *_: i < n_chunks, body, start,
                             parallel_iterations=_overlap(key, outer=False))
    state, acc, track = loop[1], loop[2], loop[3]
    values = track["values"].concat() if keep else tf.zeros([0, g])       # [K, G]
    end = path.end(constants, state)
    f_end = None
    if key.need_ends:
        f_start = tf.cast(values[0], tf.float32) if key.first_from_nodes else f_start
        f_end = values[-1] if key.last_from_nodes else evaluator.values(end, rows)
    attr_rows, residual_rows = integrator.result(acc, f_start, f_end)
    summary = (path.summarize(constants, state)
               if key.keep_end and getattr(path, "summaries", ()) else {})
    if key.value_range:
        summary = dict(summary, **dict(zip(VALUE_RANGE, (track["lo"], track["hi"]))))
    return attr_rows, residual_rows, values, f_start, f_end, end, summary


def _overlap(key: LoopKey, outer: bool) -> int:
    """``parallel_iterations`` of the node loop (``outer=False``) or of the group loop.

    A compiled model's loops let :data:`OVERLAP` iterations run at once: the next chunk's
    model call starts while the last one's accumulation finishes, and small chunks keep
    both cores busy. An adaptive path's node loop is a chain (each step needs the last). A
    PAIR callback (and a loop that ticks a progress bar) runs strictly in order.
    """
    if key.mark_padding or key.progress or (key.path.adaptive and not outer):
        return 1
    return OVERLAP


def _summaries(key: LoopKey):
    """The names of the per-row scalars the loop returns: the path's summaries of its final
    state (with the final state), and the range of F over the nodes (``key.value_range``)."""
    names = tuple(getattr(key.path, "summaries", ())) if key.keep_end else ()
    return names + (VALUE_RANGE if key.value_range else ())


def _run(key: LoopKey, evaluator, x, pool, row_input, row_pool, row_weight, params,
         node_weights, n_nodes, class_idx, chosen, input_context, row_context):
    """All groups of rows in one compiled call: an outer loop over groups of ``G`` rows (rows
    padded to a multiple of G with weight 0), each running the node loop of
    :func:`_run_group` with the schedule's ``node_weights`` times its rows' ``row_weight``
    (the integrators are linear in them); the rows' attributions are summed into their
    inputs. A weight of 0 marks a padding row (a PAIR callback is not sent it).

    With ``chosen`` (``key.choice`` set), the model first runs on the inputs, the choice picks
    each input's candidate set, and ``row_pool`` holds each row's slot ``b·M + m`` in the
    chosen ``[B, M]`` sets (``row_weight``: ±1, 0 for padding) rather than a pool index."""
    n_inputs = tf.shape(x)[0]
    out = {}
    if key.choice is not None:
        outputs, f_x = evaluator.outputs_and_values(x, class_idx)
        pick = key.choice.choose(outputs, *chosen["args"])
        chosen_index = tf.gather(chosen["index"], pick)                   # [B, M]
        chosen_weights = tf.gather(chosen["weights"], pick)
        row_weight = row_weight * tf.gather(tf.reshape(chosen_weights, [-1]), row_pool)
        row_pool = tf.gather(tf.reshape(chosen_index, [-1]), row_pool)
        out.update(outputs=outputs, f_x=f_x, chosen_index=chosen_index,
                   chosen_weights=chosen_weights)
    group = key.group_rows
    n_groups = tf.shape(row_input)[0] // group
    tas = {"values": tf.TensorArray(tf.float32, size=n_groups, infer_shape=False,
                                    element_shape=tf.TensorShape([None, None]))}
    if key.need_ends:
        for name in ("f_start", "f_end"):
            tas[name] = tf.TensorArray(tf.float32, size=n_groups)
    if key.keep_end:
        tas["end"] = tf.TensorArray(tf.float32, size=n_groups, infer_shape=False,
                                    element_shape=tf.TensorShape([None]).concatenate(
                                        x.shape[1:]))
    for name in _summaries(key):
        tas["summary." + name] = tf.TensorArray(tf.float32, size=n_groups, infer_shape=False,
                                                element_shape=tf.TensorShape([None]))

    def body(gi, attr, residual, tas):
        sl = slice(gi * group, (gi + 1) * group)
        r_input = tf.ensure_shape(row_input[sl], [group])
        context = {name: _take(v, r_input) for name, v in input_context.items()}
        context.update({name: tf.ensure_shape(v[sl], [group] + v.shape[1:].as_list())
                        for name, v in row_context.items()})
        w = tf.ensure_shape(row_weight[sl], [group])
        rows = Rows(_take(x, r_input), _take(pool, tf.ensure_shape(row_pool[sl], [group])),
                    None if class_idx is None else tf.gather(class_idx, r_input), r_input,
                    context, tf.not_equal(w, 0.0) if key.mark_padding else None)
        attr_rows, residual_rows, values, f_start, f_end, end, summary = _run_group(
            key, evaluator, rows, params[:, sl], node_weights[:, sl] * w[None, :], n_nodes)
        attr = attr + _sum_into_inputs(attr_rows, r_input, n_inputs)
        if residual_rows is not None:
            residual = residual + _sum_into_inputs(residual_rows, r_input, n_inputs)
        attr.set_shape(x.shape)
        residual.set_shape(x.shape[:1])
        tas = dict(tas)
        if key.keep_values:
            tas["values"] = tas["values"].write(gi, values)
        if key.need_ends:
            tas["f_start"] = tas["f_start"].write(gi, tf.cast(f_start, tf.float32))
            tas["f_end"] = tas["f_end"].write(gi, tf.cast(f_end, tf.float32))
        if key.keep_end:
            tas["end"] = tas["end"].write(gi, end)
        for name, value in summary.items():
            tas["summary." + name] = tas["summary." + name].write(gi, tf.cast(value, tf.float32))
        return gi + 1, attr, residual, tas

    start = (tf.constant(0), tf.zeros(tf.shape(x), tf.float64), tf.zeros([n_inputs], tf.float64),
             tas)
    if key.one_group:                           # all rows in one group: no outer loop
        _, attr, residual, tas = body(*start)
    else:
        _, attr, residual, tas = tf.while_loop(lambda gi, *_: gi < n_groups, body, start,
                                               parallel_iterations=_overlap(key, outer=True))
    out.update(attribution=attr, residual=residual)
    if key.keep_values:                             # [n_groups, K, G] -> [R, K]
        out["values"] = tf.reshape(tf.transpose(tas["values"].stack(), [0, 2, 1]),
                                   [n_groups * group, -1])
    if key.need_ends:
        out["f_start"] = tf.reshape(tas["f_start"].stack(), [-1])
        out["f_end"] = tf.reshape(tas["f_end"].stack(), [-1])
    if key.keep_end:
        out["end"] = tas["end"].concat()
    for name in _summaries(key):
        out["summary." + name] = tas["summary." + name].concat()
    return out


def _relaxed(t, free=1):
    """The spec of ``t`` with its first ``free`` axes free (numbers of inputs, rows, nodes)."""
    if t is None:
        return None
    return tf.TensorSpec([None] * min(t.shape.rank, free) + t.shape.as_list()[free:], t.dtype)


def _compiled(evaluator, key: LoopKey, args):
    """The loop of ``key`` as a concrete function of :func:`_run`'s ``args`` with free
    numbers of inputs, pool points, rows and nodes: traced once, and called directly (a
    ``tf.function``'s per-call argument matching costs ~0.4 ms). The key fixes every spec but
    those of the context tensors (the last two arguments), which are added to it."""
    contexts = tuple(tuple((name, v.dtype, tuple(v.shape[1:])) for name, v in sorted(c.items()))
                     for c in args[-2:])
    chosen = args[-3]
    arity = None if chosen is None else len(chosen["args"])
    cache = evaluator.cache
    fn = cache.get((key, contexts, arity))
    if fn is None:
        specs = [tf.nest.map_structure(_relaxed, a) for a in args]
        specs[5], specs[6] = _relaxed(args[5], 2), _relaxed(args[6], 2)   # params, weights
        if chosen is not None:                   # the candidate tables: every axis free
            specs[-3] = tf.nest.map_structure(lambda t: _relaxed(t, t.shape.rank), chosen)
        function = quiet_tracing(tf.function(functools.partial(_run, key, evaluator)))
        fn = cache[(key, contexts, arity)] = function.get_concrete_function(*specs)
    return fn


def _groups(n_rows: int, per_call: int):
    """Balanced groups of at most ``per_call`` rows: ``(group size, number of groups)``."""
    n_groups = -(-n_rows // per_call)
    return -(-n_rows // n_groups), n_groups


def integrate(evaluator, path, integrator, x: np.ndarray, baselines,
              schedule: Schedule, class_idx: Optional[np.ndarray] = None,
              context: Optional[Mapping[str, np.ndarray]] = None,
              batch_size: Optional[int] = None, details: bool = False,
              progress: bool = False, label: str = "",
              input_values: Optional[np.ndarray] = None) -> PathResult:
    """Integrates along ``path`` from every baseline of every input, streaming in chunks.

    Args:
      evaluator: a :class:`tfpath.protocols.Evaluator` (with the path's auxiliary quantities).
      path: a :class:`tfpath.protocols.Path`.
      integrator: a :class:`tfpath.protocols.Integrator`.
      x: float32 inputs ``[B, ...]``.
      baselines: the :class:`~tfpath.protocols.BaselineSet` (``index [B, M]``), or
        :class:`~tfpath.protocols.ChosenBaselines`, chosen per input inside the compiled call
        from the model's outputs at ``x`` (a compiled model only; ``PathResult.outputs``
        then holds those outputs, and ``input_values`` is not needed).
      schedule: the nodes (``params [K]`` shared, or ``[K, B·M]`` one column per row in
        input-major order) and weights.
      class_idx: int32 ``[B]`` or None.
      context: per-input arrays ``{name: [B, ...]}``, handed to the path and the evaluator
        with each row (the baselines' own per-row context is added).
      batch_size: most points per model call; None chooses :func:`auto_rows`.
      details: also return F at both ends, along the path and the final state.
      progress: show a bar of the model calls on stderr (when there are several), labelled
        ``label``; the compiled loop then ticks it after every call.
      input_values: F(x) per input ``[B]``, if the caller has it (a method's input check
        runs the model on x): the engine then does not evaluate it again.

    Returns:
      :class:`PathResult`. F at both ends of every row is in it for a compiled model (for a
      PAIR callback only with ``details`` or an integrator that needs them), with one
      exception that saves a forward pass per distinct baseline: on a straight path whose
      nodes miss an end (Expected Gradients, LPI, one-sided rules) and without ``details``,
      F at the baselines is not evaluated; ``value_range`` holds the range of F over each
      row's nodes instead (what the degenerate-attribution check reads).

    Raises:
      TypeError: chosen baselines with a PAIR callback.
      ValueError: every baseline has weight 0.
      Whatever the evaluator raises (a callback's own exception keeps its type).
    """
    chosen = isinstance(baselines, ChosenBaselines)
    n_inputs = x.shape[0]
    per_call = batch_size or auto_rows(int(np.prod(x.shape[1:])))
    if chosen:
        if not hasattr(evaluator, "outputs_and_values"):
            raise TypeError("baselines: chosen from the model's outputs inside the compiled "
                            "loop, which needs a tfpath.ModelFunction, not a PAIR callback")
        m = baselines.size
        table = np.asarray(baselines.weights, np.float64)    # checked by ChosenBaselines
        weights = None                       # known once chosen, inside the call
        keep = np.arange(n_inputs * m)       # every (input, slot) row
    else:
        baselines = baselines.compact()        # only the pool points some row starts from
        m = baselines.index.shape[1]
        weights = np.asarray(baselines.weights, np.float64)
        keep = np.flatnonzero(weights.reshape(-1) != 0)           # rows, input-major
        if keep.size == 0:
            raise ValueError("baseline_weights: every baseline has weight 0; nothing to "
                             "integrate")
    k = schedule.nodes
    group, n_groups = _groups(len(keep), per_call)
    callback = evaluator.config.kind == "callback"
    # a PAIR callback sees PAIR's calls: full chunks of batch_size points and a short last one
    # (the padding is marked and never sent); compiled models get balanced chunks
    if path.adaptive:                          # an adaptive path steps all rows together
        chunk = 1
    else:
        chunk = max(1, min(k, per_call // group))
        if not callback:
            chunk = -(-k // (-(-k // chunk)))                     # balanced chunks
    # F at both ends is returned for every compiled model (the degenerate-attribution check
    # reads it; free when the schedule has both ends, as PAIR's IG, else one forward pass per
    # end); a PAIR callback is called only where PAIR calls it, unless details are asked for
    need_ends = details or integrator.needs_ends or not callback
    uses_class = class_idx is not None and evaluator.uses_class
    # when the schedule lacks an end and the path runs from each row's baseline to its input,
    # the model runs once per input and (with details) once per pool point, outside the loop,
    # instead of twice per row (e.g. 128 rows per input for Expected Gradients)
    ends_outside = (need_ends and not integrator.needs_ends and not callback
                    and getattr(path, "ends_at_rows", False) and not path.reverse
                    and not (schedule.includes_first and schedule.includes_last)
                    and hasattr(evaluator, "values_at"))
    key = LoopKey(path, integrator, evaluator.config, tuple(x.shape[1:]), group, chunk,
                  n_groups == 1, -(-k // chunk) == 1, uses_class,
                  schedule.includes_first, schedule.includes_last,
                  need_ends and not ends_outside,
                  keep_values=details, keep_end=details and path.adaptive,
                  mark_padding=callback, value_range=ends_outside and not details,
                  choice=baselines.choice if chosen else None)
    calls = n_groups * -(-k // chunk)
    if progress and calls > 1:
        key = dataclasses.replace(key, progress=True)
    padded = np.concatenate([keep, np.full(n_groups * group - len(keep), keep[-1])])
    # each row's baseline weight (negated on a reversed path) multiplies its node weights in
    # the loop (the integrators are linear in them); chosen rows get theirs there
    row_weight = np.ones(len(padded)) if chosen else weights.reshape(-1)[padded]
    row_weight = -row_weight if path.reverse else row_weight.copy()
    row_weight[len(keep):] = 0.0                  # padding rows: one shape, one trace
    params = np.asarray(schedule.params, np.float64)
    node_weights = np.asarray(schedule.weights, np.float64)
    if schedule.per_row:
        params, node_weights = params[:, padded], node_weights[:, padded]
    else:
        params = np.repeat(params[:, None], len(padded), 1)
        node_weights = np.repeat(node_weights[:, None], len(padded), 1)
    extra = -k % chunk                   # repeat the last node with weight 0: equal chunks
    if extra:
        params = np.concatenate([params, np.repeat(params[-1:], extra, 0)])
        node_weights = np.concatenate([node_weights, np.zeros((extra, len(padded)))])
    row_context = {} if chosen else {
        name: tf.constant(np.asarray(v).reshape((n_inputs * m,) + np.shape(v)[2:])[padded])
        for name, v in baselines.context.items()}
    if chosen:
        row_pool = padded                   # each row's slot in the chosen [B, M] sets
        # a chosen set is a fixed table (e.g. a fitted LocalDistribution's): its tensors are
        # made once per set object
        pool, choice = memo.memoized(baselines, "engine", "tensors", lambda: (
            tf.constant(np.asarray(baselines.pool, np.float32)),
            {"index": tf.constant(np.asarray(baselines.index, np.int32)),
             "weights": tf.constant(table),
             "args": tuple(tf.constant(a) for a in baselines.choice_args)}))
    else:
        row_pool = baselines.index.reshape(-1)[padded]
        pool, choice = tf.constant(np.asarray(baselines.pool, np.float32)), None
    input_context = {name: tf.constant(v) for name, v in (context or {}).items()}
    if key.progress:
        _BAR.append(progress_lib.Progress(calls, label, enabled=True, unit="call"))
    try:
        args = (tf.constant(x), pool,
                tf.constant(padded // m, tf.int32), tf.constant(row_pool, tf.int32),
                tf.constant(row_weight), tf.constant(params), tf.constant(node_weights),
                tf.constant(k, tf.int32),
                tf.constant(class_idx, tf.int32) if uses_class else None, choice,
                input_context, row_context)
        out = _compiled(evaluator, key, args)(*args)
    except (tf.errors.OpError, ValueError, TypeError):
        evaluator.raise_pending()
        raise
    finally:
        if key.progress:
            _BAR.pop().close()
    attribution = out["attribution"].numpy()
    residual = out["residual"].numpy()
    real = len(keep)
    pool_index = baselines.index.reshape(-1)
    if chosen:
        weights = out["chosen_weights"].numpy()
        pool_index = out["chosen_index"].numpy().reshape(-1)
        input_values = out["f_x"].numpy()
    result = PathResult(attribution, residual, weights,
                        outputs=out["outputs"].numpy() if chosen else None)

    def per_row(values, shape=()):
        full = np.full((n_inputs * m,) + shape, np.nan, values.dtype)
        full[keep] = values[:real]
        return full.reshape((n_inputs, m) + shape)

    if ends_outside:
        # F(x) and F(b) from the model's outputs once per input / pool point, the target
        # applied per row
        inputs = keep // m
        row_classes = np.asarray(class_idx)[inputs] if uses_class else None
        f_x = (evaluator.values_at(x, inputs, row_classes, per_call) if input_values is None
               else np.asarray(input_values)[inputs])
        result.input_values = per_row(np.asarray(f_x, np.float64))
        if details:
            f_b = evaluator.values_at(np.asarray(baselines.pool, np.float32), pool_index[keep],
                                      row_classes, per_call)
            result.baseline_values = per_row(f_b.astype(np.float64))
        else:
            result.value_range = np.stack(
                [per_row(out["summary." + name].numpy().astype(np.float64))
                 for name in VALUE_RANGE], axis=-1)
    elif need_ends:
        f_start = per_row(out["f_start"].numpy().astype(np.float64))
        f_end = per_row(out["f_end"].numpy().astype(np.float64))
        base, inp = (f_end, f_start) if path.reverse else (f_start, f_end)
        result.baseline_values, result.input_values = base, inp
    if details:
        result.path_values = per_row(out["values"].numpy()[:, :k].astype(np.float64), (k,))
    if key.keep_end:
        result.path_end = per_row(out["end"].numpy(), x.shape[1:])
    result.path_summary = {name: per_row(out["summary." + name].numpy().astype(np.float64))
                           for name in _summaries(key) if name not in VALUE_RANGE}
    return result


def evaluate_points(evaluator, points: np.ndarray, class_idx: Optional[np.ndarray]):
    """Target values (float64) and gradients at ``points [B, ...]``; row i belongs to input i."""
    values, grads = evaluator.evaluate_numpy(np.asarray(points, np.float32), class_idx)
    return np.asarray(values, np.float64), np.asarray(grads, np.float32)
