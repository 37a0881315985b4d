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
    b = validation.check_array(baselines, name, min_rank=1, allow_empty=True)
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
    b = validation.check_array(x_baseline, name)
    if b.shape == x.shape[1:]:
        return BaselineSet(b[None], np.zeros((n, 1), np.int64), np.ones((n, 1)))
    validation.check_same_shape(b, x.shape, name, "x_value")
    return BaselineSet(b, np.arange(n)[:, None], np.ones((n, 1)))


def baseline_set(x: np.ndarray, x_baseline=None, baselines=None, baseline_weights=None,
                 model_function=None) -> BaselineSet:
    """The baseline set of a path method's arguments.

    Args:
      x: the inputs ``[B, ...]``.
      x_baseline: PAIR's single baseline (None: zeros, unless ``baselines`` is given).
      baselines: an array ``[M, ...]`` / ``[B, M, ...]``, or a
        :class:`~tfpath.protocols.Baseline` object.
      baseline_weights: relative weights ``[M]`` or ``[B, M]``; with a baseline object they
        replace its own weights.
      model_function: the caller's model function (some baselines need the model).

    Returns:
      :class:`~tfpath.protocols.BaselineSet`.

    Raises:
      TypeError: both ``x_baseline`` and ``baselines``; ValueError / TypeError naming the
        argument for bad shapes, weights or objects.
    """
    if baselines is None:
        if baseline_weights is not None:
            raise ValueError("baseline_weights: given without baselines=; weights apply to a "
                             "baseline set")
        return single_baseline(x_baseline, x)
    if x_baseline is not None:
        raise TypeError("x_baseline and baselines: give one of them (x_baseline is the "
                        "single-baseline case of baselines=)")
    if isinstance(baselines, Baseline):
        resolved = baselines.resolve(x, model_function)
        if baseline_weights is None:
            return resolved
        return BaselineSet(resolved.pool, resolved.index,
                           check_weights(baseline_weights, *resolved.index.shape),
                           resolved.context)
    if isinstance(baselines, BaselineSet):
        if baselines.index.shape[0] != x.shape[0]:
            raise ValueError(f"baselines: a BaselineSet for {baselines.index.shape[0]} inputs, "
                             f"received {x.shape[0]} inputs")
        return baselines
    return from_array(baselines, x, baseline_weights)


# ------------------------------------------------------------------------------ baseline objects
def _value_range(value_range):
    low, high = (float(v) for v in value_range)
    if not (np.isfinite(low) and np.isfinite(high) and low < high):
        raise ValueError(f"value_range: expected finite (low, high) with low < high, received "
                         f"{value_range!r}")
    return low, high


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

    def resolve(self, x, model_function=None) -> BaselineSet:
        low, high = _value_range(self.value_range)
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

    def resolve(self, x, model_function=None) -> BaselineSet:
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

    def resolve(self, x, model_function=None) -> BaselineSet:
        m = validation.check_positive_int(self.count, "count")
        low, high = _value_range(self.value_range)
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

    def resolve(self, x, model_function=None) -> BaselineSet:
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

    def resolve(self, x, model_function=None) -> BaselineSet:
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

    def resolve(self, x, model_function=None) -> BaselineSet:
        return from_array(self.points, x, self.weights, name="points")
