"""Baselines: where paths start, as weighted sets of M baselines per input.

Every path method integrates ``Σ_b w_b ∫_{γ_b} ∇F · dγ`` over a :class:`~tfpath.protocols.
BaselineSet` (a pool of points, an index ``[B, M]`` and weights ``[B, M]``). This module makes
those sets from what users pass:

* an array: ``[M, ...]`` shared by every input, or ``[B, M, ...]`` one set per input
  (:func:`baseline_set`); ``x_baseline=`` (one input's shape or ``[B, ...]``) is the M = 1
  case (:func:`single_baseline`);
* a :class:`~tfpath.protocols.Baseline` object:

  ============================ ================================================================
  :class:`Fixed`               black / white / a value / one array for every input
  :class:`Blurred`             each input Gaussian-blurred
  :class:`UniformNoise`        M uniform-noise images per input
  :class:`DatasetSamples`      M samples of a reference pool per input (Expected Gradients)
  :class:`LocalReferences`     the references and densities of each input's neighbourhood (LPI)
  :class:`Counterfactuals`     given counterfactuals ``[B, M, ...]`` with weights (CLUE, ...)
  :class:`OtherClassSamples`   M samples of other classes than the input's (IG²'s references)
  :class:`ClassSamples`        M samples of one class (IG²'s anomaly-detection references)
  :class:`RelevantClassSamples` M samples of the classes ranked 2..4 by the model (IG²'s trick)
  ============================ ================================================================

Weights given by users are relative: they must be finite and non-negative with a positive sum
per input, and are normalised to sum to 1 (the default is uniform, 1/M). Then the attribution's
completeness reads ``Σ mask = Σ_b w_b (F(x) - F(b))`` = F(x) minus the weighted mean of F(b).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional, Tuple, Union

import numpy as np

from tfpath.core import validation
from tfpath.core.output_checks import mean_prediction
from tfpath.protocols import Baseline, BaselineSet


# ------------------------------------------------------------------------------ weights
def check_weights(weights, n_inputs: int, m: int, name: str = "baseline_weights") -> np.ndarray:
    """Relative baseline weights ``[M]`` or ``[B, M]``, normalised per input to sum to 1.

    Args:
      weights: None (uniform), ``[M]`` (the same for every input) or ``[B, M]``.
      n_inputs, m: B and M.
      name: the argument's name in messages.

    Returns:
      float64 ``[B, M]``, rows summing to 1.

    Raises:
      ValueError naming ``name``: another shape, NaN/inf, a negative weight, or a row whose
        weights sum to 0.
    """
    if weights is None:
        return np.full((n_inputs, m), 1.0 / m)
    w = np.asarray(weights, np.float64)
    if w.shape == (m,):
        w = np.broadcast_to(w, (n_inputs, m))
    if w.shape != (n_inputs, m):
        raise ValueError(f"{name}: expected shape ({m},) or ({n_inputs}, {m}) (one weight per "
                         f"baseline), received {np.shape(weights)}")
    if not np.all(np.isfinite(w)):
        raise ValueError(f"{name}: contains NaN or inf")
    if np.any(w < 0):
        raise ValueError(f"{name}: weights must be >= 0, received {w.min():g}")
    sums = w.sum(axis=1)
    if np.any(sums <= 0):
        raise ValueError(f"{name}: the weights of input {int(np.argmin(sums))} sum to 0; each "
                         "input needs a positive total weight")
    return w / sums[:, None]


# ------------------------------------------------------------------------------ arrays
def from_array(baselines, x: np.ndarray, weights=None, name: str = "baselines") -> BaselineSet:
    """A baseline set from an array ``[M, ...]`` (shared) or ``[B, M, ...]`` (per input).

    Args:
      baselines: the array; its trailing dimensions must be one input's shape.
      x: the inputs ``[B, ...]``.
      weights: relative weights ``[M]`` or ``[B, M]`` (see :func:`check_weights`).
      name: the argument's name in messages.

    Returns:
      :class:`~tfpath.protocols.BaselineSet`.

    Raises:
      ValueError naming ``name``: another shape, M = 0, NaN/inf; bad weights.
    """
    b = validation.check_array(baselines, name, min_rank=1, allow_empty=True,
                               allow_integer=True)
    feature = x.shape[1:]
    n = x.shape[0]
    if b.ndim == len(feature) + 1 and b.shape[1:] == feature:
        m = b.shape[0]
        if m == 0:
            raise ValueError(f"{name}: holds no baselines (M = 0); expected [M, ...] with M >= 1")
        index = np.broadcast_to(np.arange(m), (n, m))
        pool = b
    elif b.ndim == len(feature) + 2 and b.shape[0] == n and b.shape[2:] == feature:
        m = b.shape[1]
        if m == 0:
            raise ValueError(f"{name}: holds no baselines (M = 0); expected [B, M, ...] with "
                             "M >= 1")
        index = np.arange(n * m).reshape(n, m)
        pool = b.reshape((n * m,) + feature)
    else:
        raise ValueError(f"{name}: expected [M, {', '.join(map(str, feature))}] (shared by all "
                         f"inputs) or [{n}, M, {', '.join(map(str, feature))}] (per input), "
                         f"received shape {tuple(b.shape)}")
    return BaselineSet(pool, np.ascontiguousarray(index), check_weights(weights, n, m))


def single_baseline(x_baseline, x: np.ndarray, name: str = "x_baseline") -> BaselineSet:
    """The M = 1 set of ``x_baseline``: None (zeros), one input's shape, or ``[B, ...]``.

    Raises:
      ValueError naming ``name``: another shape or NaN/inf.
    """
    n = x.shape[0]
    if x_baseline is None:
        return BaselineSet(np.zeros((1,) + x.shape[1:], np.float32),
                           np.zeros((n, 1), np.int64), np.ones((n, 1)))
    b = validation.check_array(x_baseline, name, allow_integer=True)
    if b.shape == x.shape[1:]:
        return BaselineSet(b[None], np.zeros((n, 1), np.int64), np.ones((n, 1)))
    validation.check_same_shape(b, x.shape, name, "x_value")
    return BaselineSet(b, np.arange(n)[:, None], np.ones((n, 1)))


def baseline_set(x: np.ndarray, x_baseline=None, baselines=None, baseline_weights=None,
                 model_function=None, class_idx=None, name: str = "baselines",
                 weights_name: str = "baseline_weights") -> BaselineSet:
    """The baseline set of a path method's arguments.

    Args:
      x: the inputs ``[B, ...]``.
      x_baseline: PAIR's single baseline (None: zeros, unless ``baselines`` is given).
      baselines: an array ``[M, ...]`` / ``[B, M, ...]``, or a
        :class:`~tfpath.protocols.Baseline` object.
      baseline_weights: relative weights ``[M]`` or ``[B, M]``; with a baseline object they
        replace its own weights.
      model_function: the caller's model function (some baselines need the model).
      class_idx: the explained classes ``[B]`` (or None), for baselines chosen by class.
      name, weights_name: the arguments' names in messages (IG² calls them ``references``).

    Returns:
      :class:`~tfpath.protocols.BaselineSet`.

    Raises:
      TypeError: both ``x_baseline`` and ``baselines``; ValueError / TypeError naming the
        argument for bad shapes, weights or objects.
    """
    if baselines is None:
        if baseline_weights is not None:
            raise ValueError(f"{weights_name}: given without {name}=; weights apply to a "
                             "baseline set")
        return single_baseline(x_baseline, x)
    if x_baseline is not None:
        raise TypeError("x_baseline and baselines: give one of them (x_baseline is the "
                        "single-baseline case of baselines=)")
    if isinstance(baselines, Baseline):
        resolved = baselines.resolve(x, model_function, class_idx)
        if baseline_weights is None:
            return resolved
        return BaselineSet(resolved.pool, resolved.index,
                           check_weights(baseline_weights, *resolved.index.shape, weights_name),
                           resolved.context)
    if isinstance(baselines, BaselineSet):
        if baselines.index.shape[0] != x.shape[0]:
            raise ValueError(f"{name}: a BaselineSet for {baselines.index.shape[0]} inputs, "
                             f"received {x.shape[0]} inputs")
        return baselines
    b = from_array(baselines, x, None, name)
    return BaselineSet(b.pool, b.index, check_weights(baseline_weights, *b.index.shape,
                                                      weights_name))


# ------------------------------------------------------------------------------ baseline objects
@dataclass(frozen=True, eq=False)
class Fixed:
    """One fixed baseline for every input.

    Args:
      value: ``"black"`` (the low end of ``value_range``), ``"white"`` (the high end), a
        number, or an array of one input's shape.
      value_range: the inputs' valid range (default [0, 1], tfpath's image convention).
    """

    value: Union[str, float, np.ndarray] = "black"
    value_range: Tuple[float, float] = (0.0, 1.0)

    def resolve(self, x, model_function=None, class_idx=None) -> BaselineSet:
        low, high = validation.check_range(self.value_range, "value_range")
        if isinstance(self.value, str):
            if self.value not in ("black", "white"):
                raise ValueError(f"value: expected 'black', 'white', a number or an array, "
                                 f"received {self.value!r}")
            point = np.full(x.shape[1:], low if self.value == "black" else high, np.float32)
        elif np.ndim(self.value) == 0:
            point = np.full(x.shape[1:], float(self.value), np.float32)
        else:
            point = validation.check_array(self.value, "value")
            validation.check_same_shape(point, x.shape[1:], "value", "one input")
        return BaselineSet(point[None], np.zeros((x.shape[0], 1), np.int64),
                           np.ones((x.shape[0], 1)))


@dataclass(frozen=True, eq=False)
class Blurred:
    """Each input blurred with a Gaussian of standard deviation ``sigma`` (pixels).

    Uses tfpath's blur (:func:`tfpath.paths.blur.gaussian_blur`) with ``mode`` edge handling
    (``"nearest"``: edges repeated, so a blurred image keeps its mean brightness).

    Args:
      sigma: standard deviation > 0.
      mode: ``"nearest"`` or ``"constant"`` (zero padding, as the Blur IG path).
    """

    sigma: float = 5.0
    mode: str = "nearest"

    def resolve(self, x, model_function=None, class_idx=None) -> BaselineSet:
        from tfpath.paths.blur import gaussian_blur
        sigma = validation.check_positive(self.sigma, "sigma")
        if x.ndim != 4:
            raise ValueError(f"x_value: Blurred baselines need images [H, W, C]; received "
                             f"inputs of shape {x.shape[1:]}")
        pool = gaussian_blur(x, np.array([sigma]), self.mode)[0].numpy().astype(np.float32)
        n = x.shape[0]
        return BaselineSet(pool, np.arange(n)[:, None], np.ones((n, 1)))


@dataclass(frozen=True, eq=False)
class UniformNoise:
    """``count`` images of uniform noise in ``value_range`` per input.

    Args:
      count: M >= 1.
      value_range: ``(low, high)`` of the noise.
      seed: seed of a private NumPy generator (None: fresh entropy at every call).
    """

    count: int = 1
    value_range: Tuple[float, float] = (0.0, 1.0)
    seed: Optional[int] = None

    def resolve(self, x, model_function=None, class_idx=None) -> BaselineSet:
        m = validation.check_positive_int(self.count, "count")
        low, high = validation.check_range(self.value_range, "value_range")
        rng = np.random.default_rng(self.seed)
        n = x.shape[0]
        pool = rng.uniform(low, high, (n * m,) + x.shape[1:]).astype(np.float32)
        return BaselineSet(pool, np.arange(n * m).reshape(n, m), np.full((n, m), 1.0 / m))


@dataclass(frozen=True, eq=False)
class DatasetSamples:
    """``count`` references drawn uniformly (with replacement) from a pool, per input.

    The baselines of Expected Gradients (Erion et al., Nature Machine Intelligence 2021): each
    input draws its own ``count`` references independently.

    Args:
      references: the pool ``[N, ...]`` (e.g. training inputs).
      count: M >= 1 draws per input.
      seed: seed of a private NumPy generator (None: fresh entropy at every call).
    """

    references: np.ndarray
    count: int = 1
    seed: Optional[int] = None

    def resolve(self, x, model_function=None, class_idx=None) -> BaselineSet:
        pool = check_pool(self.references, x, "references")
        m = validation.check_positive_int(self.count, "count")
        rng = np.random.default_rng(self.seed)
        index = rng.integers(0, pool.shape[0], size=(x.shape[0], m))
        return BaselineSet(pool, index, np.full((x.shape[0], m), 1.0 / m))


def check_pool(references, x, name="references") -> np.ndarray:
    """A reference pool ``[N, ...]`` whose items have the inputs' shape, as float32.

    Raises:
      ValueError naming ``name``: another shape, an empty pool, NaN/inf.
    """
    pool = validation.check_array(references, name, min_rank=1, allow_empty=True)
    if pool.ndim != x.ndim or pool.shape[1:] != x.shape[1:]:
        raise ValueError(f"{name}: expected a pool [N, {', '.join(map(str, x.shape[1:]))}] "
                         f"(items of the inputs' shape), received shape {tuple(pool.shape)}")
    if pool.shape[0] == 0:
        raise ValueError(f"{name}: the pool is empty (N = 0); expected at least one reference")
    return pool


@dataclass(frozen=True, eq=False)
class LocalReferences:
    """The references of each input's neighbourhood with their density weights (LPI).

    Yang et al., "Local Path Integration for Attribution", AAAI 2023, Sec. 3: each input is
    assigned to the nearest neighbourhood (K-means centroid of training logits) and its paths
    start at that neighbourhood's m references, weighted by their densities p_j.

    Args:
      distribution: a fitted :class:`tfpath.LocalDistribution`.
      model: the model whose logits assign inputs to neighbourhoods (default: the
        distribution's own, else the caller's model function).
      mode: ``"weighted"`` (all m references, weights p_j: Eq. 6 and the authors' code) or
        ``"sampled"`` (m references drawn from Categorical(p), equal weights: the text's
        "sampling from clusters using the corresponding densities").
      seed: seed of ``"sampled"``'s private generator.
      logits: the inputs' logits, if already computed.
    """

    distribution: object
    model: object = None
    mode: str = "weighted"
    seed: Optional[int] = None
    logits: Optional[np.ndarray] = None

    def resolve(self, x, model_function=None, class_idx=None) -> BaselineSet:
        model = self.model if self.model is not None else model_function
        return self.distribution.baseline_set(x, model, self.mode,
                                              np.random.default_rng(self.seed), self.logits)


@dataclass(frozen=True, eq=False)
class Counterfactuals:
    """Given counterfactuals as baselines, e.g. the ``[B, k, ...]`` output of a CLUE search.

    Args:
      points: ``[B, M, ...]`` (one set per input) or ``[M, ...]`` (shared).
      weights: relative weights ``[M]`` or ``[B, M]`` (e.g. by cost); None: uniform.
    """

    points: np.ndarray
    weights: Optional[np.ndarray] = field(default=None)

    def resolve(self, x, model_function=None, class_idx=None) -> BaselineSet:
        return from_array(self.points, x, self.weights, name="points")


# ------------------------------------------------------------------------------ by class
def _labelled_pool(references, labels, x):
    pool = check_pool(references, x, "references")
    y = np.asarray(labels)
    if y.dtype == bool or not np.issubdtype(y.dtype, np.integer):
        raise TypeError(f"labels: expected integer class labels, received dtype {y.dtype}")
    if y.shape != (pool.shape[0],):
        raise ValueError(f"labels: expected one label per reference, shape ({pool.shape[0]},); "
                         f"received {y.shape}")
    return pool, y.astype(np.int64)


def _class_scores(model_function, x, who):
    if model_function is None:
        raise ValueError(f"{who}: needs the model's predictions; pass a tfpath.ModelFunction "
                         "as call_model_function")
    out = mean_prediction(model_function.compiled("outputs", x))
    if out.ndim != 2:
        raise ValueError(f"{who}: needs class outputs [n, K]; the model returns shape "
                         f"{out.shape}")
    return out


def _input_classes(x, model_function, class_idx, who):
    """The explained class of each input, else the model's predicted class."""
    if class_idx is not None:
        return np.asarray(class_idx, np.int64)
    return _class_scores(model_function, x, who).argmax(axis=1)


def _spread_draws(rng, y, classes, count):
    """``count`` pool indices spread over ``classes`` in turn (a random order, then cycling),
    without replacement within a class while it has samples left."""
    order = rng.permutation(classes)
    slots = np.resize(order, count)
    picks = np.empty(count, np.int64)
    for cls in np.unique(slots):
        members = np.flatnonzero(y == cls)
        where = np.flatnonzero(slots == cls)
        picks[where] = rng.choice(members, size=where.size, replace=where.size > members.size)
    return picks


@dataclass(frozen=True, eq=False)
class OtherClassSamples:
    """``count`` references per input from classes other than the input's.

    IG²'s default reference distribution (Zhuo and Ge, "IG²: Integrated Gradient on Iterative
    Gradient Path for Feature Attribution", IEEE TPAMI 2024, §7.1: "uniformly sampling
    references from more categories and a few (1 or 2) samples per category"; same-class
    references are never drawn, Fig. 12): the other classes present in the pool are taken in a
    random order and cycled, so ``count`` references cover ``min(count, classes)`` classes with
    at most ``ceil(count / classes)`` samples each.

    The input's class is the explained class (``call_model_args["class_idx"]``), else the
    model's prediction.

    Args:
      references: the pool ``[N, ...]``; labels: its classes ``[N]``.
      count: M >= 1.
      seed: seed of a private NumPy generator (None: fresh entropy at every call).
    """

    references: np.ndarray
    labels: np.ndarray
    count: int = 10
    seed: Optional[int] = None

    def resolve(self, x, model_function=None, class_idx=None) -> BaselineSet:
        pool, y = _labelled_pool(self.references, self.labels, x)
        m = validation.check_positive_int(self.count, "count")
        classes = _input_classes(x, model_function, class_idx, "OtherClassSamples")
        rng = np.random.default_rng(self.seed)
        index = np.empty((x.shape[0], m), np.int64)
        for i, c in enumerate(classes):
            others = np.setdiff1d(np.unique(y), [c])
            if others.size == 0:
                raise ValueError(f"labels: the pool holds no class other than {int(c)}, the class "
                                 f"of input {i}")
            index[i] = _spread_draws(rng, y, others, m)
        return BaselineSet(pool, index, np.full(index.shape, 1.0 / m))


@dataclass(frozen=True, eq=False)
class ClassSamples:
    """``count`` references per input, all from one class (IG²'s references for anomaly
    detection: samples of the normal class, §7.1).

    Args:
      references: the pool ``[N, ...]``; labels: its classes ``[N]``.
      target_class: the class to draw from.
      count: M >= 1.
      seed: seed of a private NumPy generator (None: fresh entropy at every call).
    """

    references: np.ndarray
    labels: np.ndarray
    target_class: int = 0
    count: int = 10
    seed: Optional[int] = None

    def resolve(self, x, model_function=None, class_idx=None) -> BaselineSet:
        pool, y = _labelled_pool(self.references, self.labels, x)
        m = validation.check_positive_int(self.count, "count")
        members = np.flatnonzero(y == int(self.target_class))
        if members.size == 0:
            raise ValueError(f"target_class: no reference is labelled {self.target_class!r}")
        rng = np.random.default_rng(self.seed)
        index = np.stack([rng.choice(members, size=m, replace=m > members.size)
                          for _ in range(x.shape[0])])
        return BaselineSet(pool, index, np.full(index.shape, 1.0 / m))


@dataclass(frozen=True, eq=False)
class RelevantClassSamples:
    """``count`` references per input from the classes the model ranks ``ranks[0]`` to
    ``ranks[1]`` for it (IG²'s "relevant references" denoising trick, §7.1.2).

    The paper's sources define "relevant" differently (top-3 classes in §7.1.2, top-4 in
    Table 5, the top-2..top-4 predictions in the authors' ImageNet notebook); tfpath takes the
    notebook's: ranks 2 to 4 of the model's mean prediction (the top-1 excluded), and never
    the explained class. The classes are cycled as in :class:`OtherClassSamples`.

    Args:
      references: the pool ``[N, ...]``; labels: its classes ``[N]``.
      count: M >= 1.
      ranks: ``(first, last)`` prediction ranks, 1-based (default ``(2, 4)``).
      seed: seed of a private NumPy generator (None: fresh entropy at every call).
    """

    references: np.ndarray
    labels: np.ndarray
    count: int = 10
    ranks: Tuple[int, int] = (2, 4)
    seed: Optional[int] = None

    def resolve(self, x, model_function=None, class_idx=None) -> BaselineSet:
        pool, y = _labelled_pool(self.references, self.labels, x)
        m = validation.check_positive_int(self.count, "count")
        first, last = (int(r) for r in self.ranks)
        if not 1 <= first <= last:
            raise ValueError(f"ranks: expected 1 <= first <= last, received {self.ranks!r}")
        scores = _class_scores(model_function, x, "RelevantClassSamples")
        explained = (scores.argmax(axis=1) if class_idx is None
                     else np.asarray(class_idx, np.int64))
        ranking = np.argsort(-scores, axis=1, kind="stable")
        rng = np.random.default_rng(self.seed)
        index = np.empty((x.shape[0], m), np.int64)
        for i in range(x.shape[0]):
            chosen = [c for c in ranking[i, first - 1:last] if c != explained[i]]
            chosen = np.intersect1d(chosen, y)
            if chosen.size == 0:
                raise ValueError(f"references: no reference belongs to the classes ranked "
                                 f"{first}..{last} for input {i}")
            index[i] = _spread_draws(rng, y, chosen, m)
        return BaselineSet(pool, index, np.full(index.shape, 1.0 / m))
