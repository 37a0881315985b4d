"""The channel reduction of tfpath: one saliency value per pixel from a ``[..., C]`` attribution.

Shared by the metrics (:func:`tfpath.metrics.saliency_maps`) and the visualisations
(:func:`tfpath.viz.reduce_channels`), so both read the same names and formulas.
"""
from __future__ import annotations

import numpy as np

#: the channel reductions: Σ_c |a| (PAIR's ``VisualizeImageGrayscale``), Σ_c a (signed, PAIR's
#: ``VisualizeImageDiverging``) and max_c |a|
REDUCTIONS = ("abs_sum", "sum", "max_abs")


def check_reduction(reduce, name="reduce"):
    """Returns ``reduce`` if it names a channel reduction.

    Args:
      reduce: the reduction's name.
      name: the argument name used in the error message.

    Returns:
      ``reduce`` unchanged.

    Raises:
      ValueError naming ``name``: ``reduce`` is not one of :data:`REDUCTIONS`.
    """
    if reduce not in REDUCTIONS:
        raise ValueError(f"{name}: expected one of {REDUCTIONS}, received {reduce!r}")
    return reduce


def reduce_channels(a, reduce="abs_sum", name="reduce"):
    """Reduces the last axis of ``a``, in float64.

    Args:
      a: a numeric array ``[..., C]`` (a map without a channel axis is reduced as ``a[..., None]``
        by the callers that accept one).
      reduce: ``"abs_sum"`` (Σ_c |a|), ``"sum"`` (Σ_c a, signed) or ``"max_abs"`` (max_c |a|);
        see :data:`REDUCTIONS`.
      name: the argument name used in the error message.

    Returns:
      float64 array of shape ``a.shape[:-1]``.

    Raises:
      ValueError naming ``name``: unknown ``reduce``; ``a`` of rank 0.
    """
    check_reduction(reduce, name)
    a = np.asarray(a, np.float64)
    if a.ndim == 0:
        raise ValueError(f"{name}: needs an array with a channel axis, received a scalar")
    if reduce == "abs_sum":
        return np.abs(a).sum(axis=-1)
    if reduce == "sum":
        return a.sum(axis=-1)
    return np.abs(a).max(axis=-1)
