"""Diversity of sets of counterfactual explanations: the metrics of Ley, Bhatt and Weller,
"Diverse, Global and Amortised Counterfactual Explanations for Uncertainty Estimates", AAAI 2022,
Table 1 (defined in its Appendix C), and the label distribution of its Appendix B.

Every input x0 of a batch has a set of k counterfactuals x_1 … x_k (e.g. the δ-CLUEs of x0, or
their latents z_1 … z_k). The metrics take the sets as one array ``points [B, k, ...]`` (B inputs,
k counterfactuals each, any feature shape) and return one float64 value per input, ``[B]``; a
single set ``s [k, ...]`` is ``points = s[None]``. Features are flattened: d' is the number of
features of one counterfactual.

* :func:`dpp` — determinantal point process diversity D = det K, K_ij = 1 / (1 + d(x_i, x_j));
* :func:`apd` — average pairwise distance;
* :func:`coverage` (and :func:`coverage_max`) — the mean per-feature extent of the set around
  x0, optionally normalised by its maximum over a box of valid inputs;
* :func:`prediction_coverage` — (1/C) Σ_c max_j (y_j)_c over the predicted probability vectors;
* :func:`distinct_labels`, :func:`label_entropy` — how many classes the predicted labels reach,
  and how evenly;
* :func:`label_distribution` — a distribution over the classes found, weighted by the least
  cost at which each class is reached (Appendix B, "Computing a Label Distribution");
* :func:`diversity` — every metric that applies to given latents, inputs and predictions, as a
  :class:`DiversityReport`.

Only NumPy is used; the arithmetic is float64.
"""
from __future__ import annotations

import numbers
from dataclasses import dataclass, fields
from typing import Optional

import numpy as np

from tfpath.core import validation

#: the distances between two counterfactuals (over their flattened features)
DISTANCES = ("l2", "l1")

#: relative tolerance of the check that counterfactuals lie inside ``bounds`` (as
#: :func:`tfpath.metrics.checks.check_images`'s value range check)
BOUNDS_TOLERANCE = 1e-5


def _check_sets(points, name="points"):
    """``points [B, k, features...]`` as float64; ValueError naming ``name`` otherwise."""
    arr = validation.check_real_array(points, name)
    if arr.ndim < 3:
        raise ValueError(f"{name}: expected sets of counterfactuals [B, k, features...] (a single "
                         f"set [k, ...] is points[None]), received shape {arr.shape}")
    return arr


def _check_distance(distance):
    if not isinstance(distance, str) or distance not in DISTANCES:
        raise ValueError(f"distance: expected one of {DISTANCES}, received {distance!r}")
    return distance


def _pairwise_distances(points, distance):
    """Distances ``[B, k, k]`` between the flattened counterfactuals of each set."""
    x = points.reshape(points.shape[0], points.shape[1], -1)
    b, k, _ = x.shape
    out = np.zeros((b, k, k))
    for i in range(k):                                   # one row at a time: [B, k, d'] memory
        diff = x[:, i:i + 1, :] - x
        out[:, i] = (np.sqrt(np.sum(diff * diff, axis=-1)) if distance == "l2"
                     else np.sum(np.abs(diff), axis=-1))
    return out


def dpp(points, distance="l2"):
    """Determinantal point process diversity of each set of counterfactuals (Ley, Bhatt and
    Weller, "Diverse, Global and Amortised Counterfactual Explanations for Uncertainty
    Estimates", AAAI 2022, Table 1 and Appendix C):

        D = det K,   K_ij = 1 / (1 + d(x_i, x_j)),

    with d the ℓ2 or ℓ1 distance between the flattened counterfactuals. K has a unit diagonal
    and is positive semi-definite (1 / (1 + t) = ∫ e^{−s} e^{−s t} ds is a mixture of Laplacian
    kernels, positive definite for ℓ1 and ℓ2), so 0 ≤ D ≤ 1 (Hadamard's inequality): D = 0 when
    two counterfactuals coincide and D → 1 as they all move apart. Round-off outside [0, 1] is
    clipped. For k = 1 the determinant is literally det [1] = 1; following the paper ("D = 0 for
    k = 1 where necessary") a single counterfactual has diversity 0.

    Args:
      points: the sets ``[B, k, ...]`` (B inputs, k counterfactuals each, any feature shape);
        a single set ``s [k, ...]`` is ``s[None]``.
      distance: ``"l2"`` (default; the paper's latent-space choice) or ``"l1"``.

    Returns:
      float64 ``[B]``, in [0, 1].

    Raises:
      ValueError naming the argument: ``points`` of rank < 3, empty (k < 1), non-numeric,
      with NaN/inf; an unknown ``distance``.
    """
    points = _check_sets(points)
    distance = _check_distance(distance)
    if points.shape[1] == 1:
        return np.zeros(points.shape[0])
    kernel = 1.0 / (1.0 + _pairwise_distances(points, distance))
    return np.clip(np.linalg.det(kernel), 0.0, 1.0)


def apd(points, distance="l2"):
    """Average pairwise distance of each set of counterfactuals (Ley, Bhatt and Weller, "Diverse,
    Global and Amortised Counterfactual Explanations for Uncertainty Estimates", AAAI 2022,
    Table 1 and Appendix C):

        D = (1 / C(k, 2)) Σ_{i<j} d(x_i, x_j),

    with d the ℓ2 or ℓ1 distance between the flattened counterfactuals; 0 for k = 1 (no pairs).

    Args:
      points: the sets ``[B, k, ...]``; a single set ``s [k, ...]`` is ``s[None]``.
      distance: ``"l2"`` (default) or ``"l1"``.

    Returns:
      float64 ``[B]``, ≥ 0.

    Raises:
      ValueError naming the argument: as :func:`dpp`.
    """
    points = _check_sets(points)
    distance = _check_distance(distance)
    k = points.shape[1]
    if k == 1:
        return np.zeros(points.shape[0])
    d = _pairwise_distances(points, distance)
    i, j = np.triu_indices(k, 1)
    return d[:, i, j].mean(axis=1)


def _check_bounds(bounds, shape):
    """``bounds = (low, high)`` as float64 arrays of one input's ``shape``, low < high."""
    try:
        low, high = bounds
    except (TypeError, ValueError):
        raise ValueError(f"bounds: expected (low, high), scalars or arrays broadcastable to one "
                         f"input's shape {shape}, received {bounds!r}") from None
    low = validation.check_real_array(low, "bounds")
    high = validation.check_real_array(high, "bounds")
    try:
        low, high = np.broadcast_to(low, shape), np.broadcast_to(high, shape)
    except ValueError:
        raise ValueError(f"bounds: expected low and high broadcastable to one input's shape "
                         f"{shape}, received shapes {low.shape} and {high.shape}") from None
    if np.any(high <= low):
        raise ValueError(f"bounds: expected low < high for every feature, received low "
                         f"{float(low[high <= low].flat[0]):g} >= high "
                         f"{float(high[high <= low].flat[0]):g}")
    return low, high


def _check_within(arr, low, high, name):
    """ValueError naming ``name`` if ``arr [..., *shape]`` leaves the box [low, high]."""
    tol = BOUNDS_TOLERANCE * (high - low)
    outside = (arr < low - tol) | (arr > high + tol)
    if np.any(outside):
        idx = np.argwhere(outside)[0]
        feature = tuple(idx[arr.ndim - low.ndim:])
        raise ValueError(f"{name}: expected values inside bounds, received {arr[tuple(idx)]:g} "
                         f"at index {tuple(int(v) for v in idx)}, outside "
                         f"[{low[feature]:g}, {high[feature]:g}]")


def _check_shape(shape):
    if isinstance(shape, numbers.Integral) and not isinstance(shape, bool):
        shape = (shape,)
    try:
        shape = tuple(shape)
    except TypeError:
        raise ValueError(f"shape: expected the shape of one input (a tuple of ints >= 1), "
                         f"received {shape!r}") from None
    return tuple(validation.check_positive_int(s, "shape") for s in shape)


def coverage_max(bounds, shape):
    """The largest coverage of a set of counterfactuals inside the box ``bounds`` (Ley, Bhatt and
    Weller, "Diverse, Global and Amortised Counterfactual Explanations for Uncertainty
    Estimates", AAAI 2022, Appendix C):

        D_max = (S⁺ − S⁻) / d',   S⁺ = Σ_i high_i,   S⁻ = Σ_i low_i,

    i.e. the mean of ``high − low`` over the d' features of one input. It is reached by any set
    containing the all-high and the all-low input: feature i contributes
    (high_i − x0_i) + (x0_i − low_i) = high_i − low_i (the paper's derivation prints a "−"
    between these two one-sided terms where this "+" is meant).

    Args:
      bounds: ``(low, high)``, scalars or arrays broadcastable to ``shape``, low < high.
      shape: the shape of one input (an int for vectors).

    Returns:
      D_max, a float > 0.

    Raises:
      ValueError naming the argument: ``bounds`` not a pair, not broadcastable to ``shape``,
      with NaN/inf or some ``low >= high``; ``shape`` not a tuple of ints >= 1 (TypeError for
      non-integer entries).
    """
    shape = _check_shape(shape)
    low, high = _check_bounds(bounds, shape)
    return float(np.mean(high - low))


def coverage(points, original, clip=False, bounds=None):
    """Coverage of each set of counterfactuals around its input x0 (Ley, Bhatt and Weller,
    "Diverse, Global and Amortised Counterfactual Explanations for Uncertainty Estimates",
    AAAI 2022, Table 1 and Appendix C). With ``clip=False``, Table 1's formula

        D = (1/d') Σ_i [max_j (x_j − x0)_i + max_j (x0 − x_j)_i],

    which is the mean per-feature range max_j x_j,i − min_j x_j,i of the set: it does not depend
    on x0, and is 0 for k = 1. With ``clip=True``, the reading of Appendix C (its Fig. 35), where
    each side only counts moves away from x0:

        D = (1/d') Σ_i [max_j max(0, (x_j − x0)_i) + max_j max(0, (x0 − x_j)_i)],

    the mean per-feature range of the set together with x0 (0 when every counterfactual equals
    x0; never below the unclipped value). Both never decrease when a counterfactual is added.

    With ``bounds = (low, high)``, D is divided by D_max = mean(high − low)
    (:func:`coverage_max`), so that it is at most 1 and equals 1 for a set containing the
    all-high and the all-low input; ``points`` and ``original`` must then lie inside the box
    (up to a relative tolerance of 1e-5 of ``high − low``, which bounds the excess over 1).
    Without bounds the coverage is not normalised.

    Args:
      points: the sets ``[B, k, ...]``; a single set ``s [k, ...]`` is ``s[None]``.
      original: the inputs x0 ``[B, ...]``, one per set (``points.shape`` without its k axis).
      clip: use the clipped (Appendix C) variant.
      bounds: None, or ``(low, high)``, scalars or arrays broadcastable to one input's shape.

    Returns:
      float64 ``[B]``, ≥ 0 (≤ 1 with ``bounds``).

    Raises:
      ValueError naming the argument: ``points`` as in :func:`dpp`; ``original`` of another
      shape than ``points.shape[:1] + points.shape[2:]``, with NaN/inf; bad ``bounds`` (see
      :func:`coverage_max`); ``points`` or ``original`` outside ``bounds``.
      TypeError naming ``clip``: not a bool.
    """
    points = _check_sets(points)
    original = validation.check_real_array(original, "original")
    validation.check_same_shape(original, points.shape[:1] + points.shape[2:], "original",
                                "points without its k axis")
    clip = validation.check_bool(clip, "clip")
    x0 = original[:, None]
    up = np.max(points - x0, axis=1)                      # max_j (x_j − x0)_i   [B, ...]
    down = np.max(x0 - points, axis=1)                    # max_j (x0 − x_j)_i
    if clip:
        up, down = np.maximum(up, 0.0), np.maximum(down, 0.0)
    value = (up + down).reshape(points.shape[0], -1).mean(axis=1)
    if bounds is None:
        return value
    low, high = _check_bounds(bounds, points.shape[2:])
    _check_within(points, low, high, "points")
    _check_within(original, low, high, "original")
    return value / float(np.mean(high - low))


def _check_probabilities(probabilities, name="probabilities"):
    """``[B, k, C]`` probability vectors (≥ 0, summing to 1 within 1e-3) as float64."""
    p = validation.check_real_array(probabilities, name)
    if p.ndim != 3:
        raise ValueError(f"{name}: expected probability vectors [B, k, C], received shape "
                         f"{p.shape}")
    if np.any(p < 0) or not np.allclose(p.sum(axis=-1), 1.0, rtol=0.0, atol=1e-3):
        raise ValueError(f"{name}: expected probability vectors (entries >= 0 summing to 1 over "
                         f"the last axis), received entries in [{p.min():g}, {p.max():g}] with "
                         f"sums in [{p.sum(axis=-1).min():g}, {p.sum(axis=-1).max():g}]")
    return p


def prediction_coverage(probabilities):
    """Prediction coverage of each set of counterfactuals (Ley, Bhatt and Weller, "Diverse,
    Global and Amortised Counterfactual Explanations for Uncertainty Estimates", AAAI 2022,
    Table 1 and Appendix C): with y_j the model's probability vector for counterfactual j,

        D = (1/C) Σ_c max_j (y_j)_c,

    in [1/C, 1]: 1/C when every counterfactual has the same prediction (or k = 1), 1 when each
    class is predicted with certainty by some counterfactual.

    Args:
      probabilities: ``[B, k, C]`` probability vectors (entries ≥ 0 summing to 1 within 1e-3).

    Returns:
      float64 ``[B]``, in [1/C, 1].

    Raises:
      ValueError naming ``probabilities``: not of rank 3, empty, NaN/inf, negative entries or
      vectors that do not sum to 1.
    """
    p = _check_probabilities(probabilities)
    return p.max(axis=1).mean(axis=-1)


def _check_labels(labels, num_classes, name="labels"):
    """``[B, k]`` integer labels in [0, num_classes) as int64, and ``num_classes``."""
    num_classes = validation.check_positive_int(num_classes, "num_classes", minimum=2)
    arr = np.asarray(labels)
    if arr.dtype == bool or not np.issubdtype(arr.dtype, np.integer):
        raise TypeError(f"{name}: expected integer class labels [B, k] (e.g. the argmax of the "
                        f"predictions), received dtype {arr.dtype}")
    if arr.ndim != 2 or arr.size == 0:
        raise ValueError(f"{name}: expected non-empty class labels [B, k] (a single set [k] is "
                         f"labels[None]), received shape {arr.shape}")
    validation.check_class_idx(arr, num_classes, name)
    return arr.astype(np.int64), num_classes


def _class_counts(labels, num_classes):
    """How many counterfactuals of each set are predicted as each class, ``[B, C]``."""
    return np.sum(labels[:, :, None] == np.arange(num_classes), axis=1)


def distinct_labels(labels, num_classes):
    """Fraction of the classes reached by each set of counterfactuals (Ley, Bhatt and Weller,
    "Diverse, Global and Amortised Counterfactual Explanations for Uncertainty Estimates",
    AAAI 2022, Table 1 and Appendix C): with ŷ_i the predicted label of counterfactual i,

        D = (1/C) Σ_c 1[∃ i: ŷ_i = c],

    in [1/C, min(k, C)/C] (1/C for k = 1).

    Args:
      labels: integer predicted labels ``[B, k]`` (the argmax of the predictions); a single set
        ``[k]`` is ``labels[None]``.
      num_classes: C, the number of classes (≥ 2).

    Returns:
      float64 ``[B]``.

    Raises:
      TypeError naming the argument: ``labels`` not integers (floats are refused, not
      truncated); ``num_classes`` not an int.
      ValueError naming the argument: ``labels`` not ``[B, k]`` or empty, a label outside
      [0, C); ``num_classes < 2``.
    """
    labels, num_classes = _check_labels(labels, num_classes)
    return np.count_nonzero(_class_counts(labels, num_classes), axis=1) / num_classes


def label_entropy(labels, num_classes):
    """Normalised entropy of the predicted labels of each set of counterfactuals (Ley, Bhatt and
    Weller, "Diverse, Global and Amortised Counterfactual Explanations for Uncertainty
    Estimates", AAAI 2022, Table 1 and Appendix C):

        D = −(1 / log C) Σ_c p_c log p_c,   p_c = (1/k) Σ_i 1[ŷ_i = c],   0 · log 0 = 0,

    in [0, 1]: 0 when every counterfactual has the same label, 1 when the labels are spread
    evenly over all C classes (possible only if C divides k). Round-off above 1 is clipped.

    Args:
      labels: integer predicted labels ``[B, k]``; a single set ``[k]`` is ``labels[None]``.
      num_classes: C, the number of classes (≥ 2).

    Returns:
      float64 ``[B]``, in [0, 1].

    Raises:
      TypeError / ValueError naming the argument: as :func:`distinct_labels`.
    """
    labels, num_classes = _check_labels(labels, num_classes)
    p = _class_counts(labels, num_classes) / labels.shape[1]
    plogp = np.where(p > 0, p * np.log(np.where(p > 0, p, 1.0)), 0.0)
    return np.clip(-plogp.sum(axis=1) / np.log(num_classes), 0.0, 1.0)


def label_distribution(labels, costs, num_classes):
    """A distribution over the classes reached by each set of counterfactuals, weighted by how
    cheaply each class is reached (Ley, Bhatt and Weller, "Diverse, Global and Amortised
    Counterfactual Explanations for Uncertainty Estimates", AAAI 2022, Appendix B, "Computing a
    Label Distribution"): with c_min(c) the least cost (e.g. distance to x0, or the objective)
    among the counterfactuals predicted as class c,

        p(c) ∝ 1 / c_min(c)²   for the classes found,   p(c) = 0 for the others.

    The paper does not state the normalisation: here p sums to 1 over the classes and the
    classes no counterfactual reaches get probability 0.

    Args:
      labels: integer predicted labels ``[B, k]``; a single set ``[k]`` is ``labels[None]``.
      costs: the cost of each counterfactual ``[B, k]``, > 0.
      num_classes: C, the number of classes (≥ 2).

    Returns:
      float64 ``[B, C]``, each row summing to 1.

    Raises:
      TypeError / ValueError naming the argument: ``labels`` and ``num_classes`` as in
      :func:`distinct_labels`; ``costs`` of another shape than ``labels``, non-numeric, with
      NaN/inf, negative, or 0 (1 / c_min² would divide by zero).
    """
    labels, num_classes = _check_labels(labels, num_classes)
    costs = validation.check_real_array(costs, "costs")
    validation.check_same_shape(costs, labels.shape, "costs", "labels")
    if np.any(costs <= 0):
        bad = float(costs[costs <= 0].flat[0])
        why = " (1 / c_min² would divide by zero)" if bad == 0 else ""
        raise ValueError(f"costs: expected costs > 0, received {bad:g}{why}")
    b = labels.shape[0]
    c_min = np.full((b, num_classes), np.inf)
    np.minimum.at(c_min, (np.repeat(np.arange(b), labels.shape[1]), labels.reshape(-1)),
                  costs.reshape(-1))
    weights = np.where(np.isfinite(c_min), 1.0 / np.where(np.isfinite(c_min), c_min, 1.0) ** 2,
                       0.0)
    return weights / weights.sum(axis=1, keepdims=True)


@dataclass
class DiversityReport:
    """The diversity metrics of B sets of k counterfactuals (Ley, Bhatt and Weller, "Diverse,
    Global and Amortised Counterfactual Explanations for Uncertainty Estimates", AAAI 2022,
    Table 1 and Appendix C), as returned by :func:`diversity`. Every field is float64 ``[B]``
    (one value per input), or None when the arguments did not allow it.

    Attributes:
      dpp_z: :func:`dpp` of the latents, ℓ2.
      apd_z: :func:`apd` of the latents, ℓ2.
      dpp_x: :func:`dpp` of the inputs, ℓ1.
      apd_x: :func:`apd` of the inputs, ℓ1.
      coverage: :func:`coverage` of the inputs around the originals (Table 1, unclipped).
      coverage_clipped: :func:`coverage` with ``clip=True`` (Appendix C).
      prediction_coverage: :func:`prediction_coverage` of the predictions.
      distinct_labels: :func:`distinct_labels` of the predicted labels (argmax).
      label_entropy: :func:`label_entropy` of the predicted labels (argmax).
    """

    dpp_z: Optional[np.ndarray] = None
    apd_z: Optional[np.ndarray] = None
    dpp_x: Optional[np.ndarray] = None
    apd_x: Optional[np.ndarray] = None
    coverage: Optional[np.ndarray] = None
    coverage_clipped: Optional[np.ndarray] = None
    prediction_coverage: Optional[np.ndarray] = None
    distinct_labels: Optional[np.ndarray] = None
    label_entropy: Optional[np.ndarray] = None

    def mean(self):
        """The mean over inputs of every computed metric.

        Returns:
          dict ``{field name: float}`` of the fields that are not None, in field order.
        """
        return {f.name: float(np.mean(getattr(self, f.name))) for f in fields(self)
                if getattr(self, f.name) is not None}


def diversity(z=None, x=None, original=None, probabilities=None, bounds=None):
    """Every diversity metric of Ley, Bhatt and Weller ("Diverse, Global and Amortised
    Counterfactual Explanations for Uncertainty Estimates", AAAI 2022, Table 1 and Appendix C)
    that the given arrays allow, for B inputs with k counterfactuals each:

    * ``z``: :func:`dpp` and :func:`apd` in latent space with the ℓ2 distance (matching the
      latent ℓ2 constraint of δ-CLUE);
    * ``x``: :func:`dpp` and :func:`apd` in input space with the ℓ1 distance (matching the input
      distance of the CLUE objective); with ``original`` also both :func:`coverage` variants,
      normalised by ``bounds`` if given;
    * ``probabilities``: :func:`prediction_coverage`, and :func:`distinct_labels` and
      :func:`label_entropy` of the labels ``argmax(probabilities, axis=-1)``.

    Args:
      z: latents of the counterfactuals ``[B, k, ...]``, or None.
      x: the counterfactuals ``[B, k, ...]``, or None.
      original: the inputs x0 ``[B, ...]`` (for coverage; needs ``x``), or None.
      probabilities: the model's predictions for the counterfactuals ``[B, k, C]``, or None.
      bounds: ``(low, high)`` to normalise the coverage by (see :func:`coverage`), or None.

    Returns:
      :class:`DiversityReport`, the metrics not computed left None.

    Raises:
      ValueError naming the argument: none of ``z``, ``x``, ``probabilities``; ``original``
      without ``x``; ``bounds`` without ``x`` and ``original``; ``x`` or ``probabilities``
      whose ``[B, k]`` differ from those of the first given of ``z``, ``x``;
      ``probabilities`` with fewer than 2 classes; every error of the individual metrics.
    """
    if z is None and x is None and probabilities is None:
        raise ValueError("z, x, probabilities: expected at least one of them, received None for "
                         "all three")
    if original is not None and x is None:
        raise ValueError("original: coverage needs the counterfactuals x too, received x=None")
    if bounds is not None and (x is None or original is None):
        raise ValueError("bounds: only used by the coverage, which needs x and original, "
                         f"received x={'None' if x is None else 'an array'} and "
                         f"original={'None' if original is None else 'an array'}")
    report = DiversityReport()
    reference = None                                      # (name, [B, k]) of the first array
    for name, value in (("z", z), ("x", x), ("probabilities", probabilities)):
        if value is None:
            continue
        arr = (_check_probabilities(value) if name == "probabilities"
               else _check_sets(value, name))
        if reference is None:
            reference = (name, arr.shape[:2])
        elif arr.shape[:2] != reference[1]:
            raise ValueError(f"{name}: expected {reference[1][0]} sets of {reference[1][1]} "
                             f"counterfactuals (the [B, k] of {reference[0]}), received shape "
                             f"{arr.shape}")
        if name == "z":
            report.dpp_z, report.apd_z = dpp(arr, "l2"), apd(arr, "l2")
        elif name == "x":
            report.dpp_x, report.apd_x = dpp(arr, "l1"), apd(arr, "l1")
            if original is not None:
                report.coverage = coverage(arr, original, bounds=bounds)
                report.coverage_clipped = coverage(arr, original, clip=True, bounds=bounds)
        else:
            if arr.shape[-1] < 2:
                raise ValueError(f"probabilities: expected C >= 2 classes, received shape "
                                 f"{arr.shape}")
            labels = np.argmax(arr, axis=-1)
            report.prediction_coverage = prediction_coverage(arr)
            report.distinct_labels = distinct_labels(labels, arr.shape[-1])
            report.label_entropy = label_entropy(labels, arr.shape[-1])
    return report
