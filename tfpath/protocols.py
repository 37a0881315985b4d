"""The contracts between tfpath's parts: evaluators, paths, integrators and baselines.

Every path method is ``attribution(x) = Σ_b w_b · ∫_{γ_b} ∇F(γ) · dγ``, computed by the engine
(:mod:`tfpath.engine`) from four parts that only talk through these protocols:

* an :class:`Evaluator` gives F and ∇F (and auxiliary quantities) at a batch of points;
* a :class:`Path` produces the points of a path, with their tangents, or moves adaptively;
* an :class:`Integrator` chooses the nodes and weights of a rule and accumulates the integral;
* a :class:`Baseline` turns a batch of inputs into a weighted set of path starts.

A *row* of the engine is one (input, baseline) pair. Inside the compiled loop, rows are
described by :class:`Rows`; a chunk holds ``T`` nodes of ``G`` rows, ``[T, G, ...]``.

Paths and integrators are frozen dataclasses: they are the configuration, so the engine's
compiled programs are cached by them (:class:`tfpath.engine.LoopKey`).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, NamedTuple, Optional, Protocol, Tuple, runtime_checkable

import numpy as np


class Rows(NamedTuple):
    """The rows of one group inside the compiled loop (TensorFlow tensors).

    Attributes:
      x: the input of each row, float32 ``[G, ...]``.
      baseline: the baseline of each row, float32 ``[G, ...]``.
      class_idx: the class of each row, int32 ``[G]``, or None.
      input_index: the index of each row's input in the caller's batch, int32 ``[G]``.
      context: per-row tensors ``{name: [G, ...]}`` (per-input context is gathered to rows).
      valid: bool ``[G]``: False for the padding the loop adds to keep its shapes equal
        (repeated nodes, rows of weight 0), which contributes nothing; None when every row is
        real. An evaluator that calls user code (a PAIR callback) calls it on the valid rows
        only, so that it sees exactly the points of the path.
    """

    x: Any
    baseline: Any
    class_idx: Any
    input_index: Any
    context: Mapping[str, Any]
    valid: Any = None


class Evaluation(NamedTuple):
    """What an evaluator returns for ``n`` points.

    Attributes:
      values: target values F, float32 ``[n]``.
      grads: ∇F with respect to the points, float32 ``[n, ...]``.
      aux: ``{name: (values [n], gradients [n, ...] or None)}`` of auxiliary quantities
        computed in the same forward pass (e.g. the score of an adversarial class).
    """

    values: Any
    grads: Any
    aux: Mapping[str, Tuple[Any, Any]]


@runtime_checkable
class Auxiliary(Protocol):
    """A scalar per row computed from the model's outputs beside the target (hashable).

    ``__call__(outputs, context, model_function, features) -> [n]``; ``gradient``: whether the
    engine also needs its gradient with respect to the input; ``representation``: None, or the
    :class:`~tfpath.core.representation.Representation` whose values the model function reads
    in the same forward pass and passes as ``features`` (IG²'s representation distance).
    """

    name: str
    gradient: bool
    representation: Any

    def __call__(self, outputs, context, model_function, features): ...


@runtime_checkable
class Evaluator(Protocol):
    """Target values and gradients at points, traceable inside the engine's ``tf.function``.

    Attributes:
      uses_class: the engine passes ``Rows.class_idx`` (a model function) or not (a PAIR
        callback, which receives its classes through ``call_model_args``).
      cache: the engine's compiled loops for this evaluator.
      config: hashable description of what the evaluator computes (part of the compile key).
    """

    uses_class: bool
    cache: dict
    config: Any

    def evaluate(self, points, rows: Rows) -> Evaluation:
        """F, ∇F and auxiliaries at ``points [n, ...]``; ``rows`` holds ``n`` rows' data."""

    def values(self, points, rows: Rows):
        """F only (no gradient) at ``points [n, ...]``: float32 ``[n]``."""

    def evaluate_numpy(self, points: np.ndarray, class_idx: Optional[np.ndarray]):
        """Eager ``(values [n], grads [n, ...])`` for NumPy points; row i is input i."""

    def raise_pending(self) -> None:
        """Re-raises an error that a callback raised inside the compiled loop."""


@runtime_checkable
class Path(Protocol):
    """A family of paths, one per row, from the row's baseline to its input.

    Attributes:
      adaptive: the path moves from the gradients (Guided IG, AGI); its nodes are step indices
        and :meth:`advance` returns the displacement of each step. Otherwise the path is
        parametric: :meth:`points` gives points and tangents at the node parameters.
      reverse: the loop runs from the input to the baseline (AGI, whose baseline is found by
        the path); integrators then flip the orientation so that attributions sum to
        ``F(x) - F(baseline)``.
    """

    adaptive: bool
    reverse: bool

    def grid(self, n: int) -> np.ndarray:
        """``n`` node parameters in loop order (float64); ``grid(2)`` is the interval."""

    def init(self, rows: Rows):
        """``(constants, state)`` for a group of rows: ``constants`` (nested tensors) are
        read by every chunk; ``state`` (nested tensors of fixed shapes, often empty) is what
        an adaptive path moves, carried through the loop."""

    def points(self, constants, state, params, with_tangents: bool):
        """``(points [T, G, ...] float32, tangents [T, G, ...] or None)`` at ``params [T, G]``."""

    def advance(self, constants, state, points, evaluation: Evaluation, params):
        """``(displacement [T, G, ...] or None, new state)`` after a chunk is evaluated."""

    def start(self, rows: Rows):
        """The point where the loop starts, ``[G, ...]``."""

    def end(self, constants, state):
        """The point where the loop ends (the final state of an adaptive path), ``[G, ...]``."""

    # Optional: a chained parametric path (pieces joined at points where the tangent jumps,
    # e.g. the generative path) declares ``piece_grids``, one grid function per piece in loop
    # order; integration rules are then applied to each piece (tfpath.integrate.piece_grids).
    # Optional: an adaptive path may declare ``summaries`` (a tuple of names) and
    # ``summarize(constants, state) -> {name: [G]}``, per-row scalars of its final state that
    # the engine returns with the details (``PathResult.path_summary``).


@dataclass(frozen=True)
class Schedule:
    """The nodes an integrator evaluates, in loop order.

    Attributes:
      params: path parameters ``[K]`` (shared by every row) or ``[K, R]`` (one column per row,
        e.g. Expected Gradients' random α), float64.
      weights: the rule weights, the shape of ``params`` (IDGI on a path: 1 for every node;
        each segment counts with the weight of the node that closes it).
      includes_first, includes_last: whether the first / last node is the loop's start / end
        point, so F there is read off the nodes instead of evaluated separately.
    """

    params: np.ndarray
    weights: np.ndarray
    includes_first: bool
    includes_last: bool
    per_row: bool = field(init=False)

    def __post_init__(self):
        object.__setattr__(self, "per_row", np.ndim(self.params) == 2)

    @property
    def nodes(self) -> int:
        return int(np.shape(self.params)[0])


@runtime_checkable
class Integrator(Protocol):
    """Chooses nodes and weights, and accumulates an attribution chunk by chunk (float64).

    Attributes:
      needs_values: uses F at the nodes (IDGI), so a PAIR callback must return
        OUTPUT_LAYER_VALUES.
      needs_tangents: uses the path's tangents (Riemann rules on parametric paths).
      needs_ends: uses F at the loop's start and end even when they are not nodes.
      adaptive_ok: meaningful on adaptive paths (the gradient multiplies the step it took).
      random_nodes: meant for nodes drawn at random by a method (Expected Gradients, LPI).
    """

    needs_values: bool
    needs_tangents: bool
    needs_ends: bool
    adaptive_ok: bool
    random_nodes: bool

    def schedule(self, path: Path, steps: int, reference_rule: str) -> Schedule:
        """The nodes for ``steps`` and the method's reference rule (see tfpath.integrate)."""

    def init(self, x):
        """Accumulator state for rows ``x [G, ...]``."""

    def update(self, state, grads, values, moves, weights):
        """Adds a chunk: grads and moves ``[T, G, ...]``, values and weights ``[T, G]``. The
        engine passes each node's schedule weight times its row's baseline weight (negated
        on reversed paths): the result is linear in ``weights``."""

    def result(self, state, f_first, f_last):
        """``(attribution [G, ...] float64, residual [G] float64 or None)``: None when the
        integrator has no residual (the engine then keeps none). ``f_first`` / ``f_last`` are
        F at the loop's ends (or None)."""


@dataclass(frozen=True)
class BaselineSet:
    """A weighted set of M baselines for each of B inputs, stored as a pool and indices.

    Attributes:
      pool: float32 ``[P, ...]`` distinct baseline points.
      index: int ``[B, M]``: baseline m of input b is ``pool[index[b, m]]``.
      weights: float64 ``[B, M]``: w_b of ``Σ_b w_b ∫_{γ_b}``; rows of weight 0 are skipped.
      context: per-row arrays ``{name: [B, M, ...]}`` that travel with the baselines (e.g. the
        adversarial class of each AGI row).
    """

    pool: np.ndarray
    index: np.ndarray
    weights: np.ndarray
    context: Mapping[str, np.ndarray] = field(default_factory=dict)

    @property
    def size(self) -> int:
        """M, the number of baselines per input."""
        return int(self.index.shape[1])

    def compact(self) -> "BaselineSet":
        """The same set with a pool of only the points its index uses (e.g. the few draws of a
        large reference pool), in the order of their first pool position."""
        used, inverse = np.unique(self.index, return_inverse=True)
        if used.size == np.shape(self.pool)[0]:
            return self
        return BaselineSet(np.asarray(self.pool)[used], inverse.reshape(self.index.shape),
                           self.weights, self.context)


@runtime_checkable
class BaselineChoice(Protocol):
    """Chooses each input's baseline set from the model's outputs at the inputs, inside the
    compiled loop (e.g. LPI's nearest neighbourhood). A frozen dataclass: it is part of the
    loop's compile key; its arrays travel as :attr:`ChosenBaselines.choice_args`."""

    def choose(self, outputs, *args):
        """TensorFlow-traceable: the row of the candidate tables for each input, int32
        ``[B]``, from the raw outputs ``[B, ...]`` and ``args`` (tensors)."""


@dataclass(frozen=True)
class ChosenBaselines:
    """C candidate sets of M weighted baselines; the engine chooses one per input from the
    model's outputs at the inputs, in the same compiled call as the integral (so the model
    runs on the inputs inside that call, not in a call of its own before it).

    Attributes:
      pool: float32 ``[P, ...]`` distinct baseline points.
      index: int ``[C, M]``: baseline m of candidate set c is ``pool[index[c, m]]``.
      weights: float64 ``[C, M]``; weight-0 baselines are integrated (their choice is not
        known before the call) and contribute nothing.
      choice: the :class:`BaselineChoice`.
      choice_args: arrays handed to ``choice.choose`` (e.g. centroids).

    Raises:
      ValueError: weights of another shape than ``index``, negative or non-finite weights, or
        a candidate set whose weights sum to 0 (named ``baseline_weights``).
    """

    pool: np.ndarray
    index: np.ndarray
    weights: np.ndarray
    choice: Any
    choice_args: Tuple[np.ndarray, ...] = ()

    def __post_init__(self):
        weights = np.asarray(self.weights, np.float64)
        if weights.shape != np.shape(self.index) or weights.ndim != 2:
            raise ValueError(f"baseline_weights: expected one weight per candidate baseline, "
                             f"shape {np.shape(self.index)}; received {weights.shape}")
        if not np.all(np.isfinite(weights)) or np.any(weights < 0) or np.any(
                weights.sum(axis=1) <= 0):
            raise ValueError("baseline_weights: a candidate set has negative or non-finite "
                             "weights, or weights that sum to 0")

    @property
    def size(self) -> int:
        """M, the number of baselines per input."""
        return int(self.index.shape[1])


@runtime_checkable
class Baseline(Protocol):
    """Something that gives a weighted baseline set for a batch of inputs (tfpath.baselines)."""

    def resolve(self, x: np.ndarray, model_function=None, class_idx=None) -> BaselineSet:
        """The baselines of ``x [B, ...]``; ``model_function`` is the caller's (or None),
        ``class_idx`` the explained classes ``[B]`` (or None)."""
