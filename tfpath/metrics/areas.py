"""Areas under curves, per input and of aggregate curves."""
from __future__ import annotations

import numpy as np

from tfpath.metrics.checks import check_choice
from tfpath.metrics.results import standard_error

AUC_RULES = ("trapezoid", "mean")
AGGREGATES = ("mean", "median")


def area(curves, x, rule="trapezoid"):
    """Area under each curve over ``x``.

    Args:
      curves: ``[..., k]``.
      x: the x-axis ``[k]``.
      rule: ``"trapezoid"`` (the trapezoid rule over ``x``) or ``"mean"`` (the mean of the
        ``k`` points, e.g. for DiffID, whose authors report the points but no area).

    Returns:
      float64 array ``curves.shape[:-1]``.

    Raises:
      ValueError naming ``auc_rule``: unknown ``rule``.
    """
    check_choice(rule, AUC_RULES, "auc_rule")
    if rule == "mean":
        return np.mean(curves, axis=-1)
    return np.trapezoid(curves, x, axis=-1)


def aggregate_curves(curves, x, how="mean", seed=0, bootstrap=200):
    """Aggregate curve of the finite rows of ``curves``, its area, and the area's error.

    The standard error is ``std/sqrt(n)`` of the per-row trapezoid areas for the mean (exact,
    since the area is linear in the curve) and a ``bootstrap`` over rows for the median.

    Args:
      curves: ``[n, k]``; rows with a NaN/inf are left out.
      x: the x-axis ``[k]``.
      how: ``"mean"`` or ``"median"``.
      seed: seed of the bootstrap.
      bootstrap: number of bootstrap resamples (median only).

    Returns:
      ``(curve [k], area, standard_error)``; NaNs if no row is finite.

    Raises:
      ValueError naming ``aggregate``: unknown ``how``.
    """
    check_choice(how, AGGREGATES, "aggregate")
    good = curves[np.all(np.isfinite(curves), axis=1)]
    if good.shape[0] == 0:
        return np.full(curves.shape[1], np.nan), float("nan"), float("nan")
    reduce_fn = np.median if how == "median" else np.mean
    curve = reduce_fn(good, axis=0)
    value = float(np.trapezoid(curve, x))
    if how == "mean":
        return curve, value, standard_error(np.trapezoid(good, x, axis=1))
    rng = np.random.default_rng(seed)
    samples = [np.trapezoid(np.median(good[rng.integers(0, len(good), len(good))], axis=0), x)
               for _ in range(int(bootstrap))]
    return curve, value, (float(np.std(samples, ddof=1)) if len(samples) > 1 else 0.0)
