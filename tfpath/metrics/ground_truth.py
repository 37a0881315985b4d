"""Metrics against known ground truth: masks of the relevant object (pointing game, mask ROC
AUC, attribution mass inside the mask) and known attribution vectors (tabular benchmarks)."""
from __future__ import annotations

import numpy as np
from scipy.stats import rankdata

from tfpath.core import validation
from tfpath.metrics.checks import check_choice, check_masks, saliency_maps
from tfpath.metrics.results import mean_result


def _maps_and_masks(attributions, masks, reduce):
    a = validation.check_array(attributions, "attributions", min_rank=3)
    shape = a.shape if a.ndim == 4 else a.shape + (1,)
    return saliency_maps(a, shape, reduce), check_masks(masks, shape)


def pointing_game(attributions, masks, *, reduce="abs_sum", tolerance=0):
    """Pointing game (Zhang et al. 2018): 1 if the most salient pixel lies in the mask.

    Args:
      attributions: ``[n, H, W, C]`` or maps ``[n, H, W]`` (reduced as one channel).
      masks: ground-truth masks ``[n, H, W]`` (bool or 0/1; ``[n, H, W, 1]`` accepted).
      reduce: channel reduction (``"abs_sum"``, ``"sum"``, ``"max_abs"``).
      tolerance: pixels by which the mask is dilated first (Zhang et al. use 15 px at 224 px).

    Returns:
      :class:`MetricResult` ``"pointing_game"``: per-image hits (0/1), their mean (↑). Ties of
      the maximum count as a hit if the first maximum in raster order is in the mask.

    Raises:
      ValueError / TypeError naming ``attributions`` / ``masks``: shapes, NaN, empty.
    """
    sal, m = _maps_and_masks(attributions, masks, reduce)
    tolerance = validation.check_positive_int(tolerance, "tolerance", minimum=0)
    if tolerance:
        from scipy.ndimage import binary_dilation
        m = np.stack([binary_dilation(mi, iterations=tolerance) for mi in m])
    n = sal.shape[0]
    top = sal.reshape(n, -1).argmax(axis=1)
    hits = m.reshape(n, -1)[np.arange(n), top].astype(np.float64)
    return mean_result("pointing_game", hits)


def mask_auc(attributions, masks, *, reduce="abs_sum"):
    """ROC AUC of the saliency as a score for mask membership, per image (the "ground
    truth-AUC" of Zhuo and Ge, "IG²: Integrated Gradient on Iterative Gradient Path for Feature
    Attribution", IEEE TPAMI 2024, §6.2; the localisation ROC-AUC of Yang, Wang and Bilgic,
    "IDGI", CVPR 2023, §4.6 and Table 4), by the Mann–Whitney statistic with average ranks for
    ties. NaN for images whose mask is all in or all out.

    Returns:
      :class:`MetricResult` ``"mask_auc"`` (↑; 0.5 = chance).
    """
    sal, m = _maps_and_masks(attributions, masks, reduce)
    n = sal.shape[0]
    s, y = sal.reshape(n, -1), m.reshape(n, -1)
    ranks = rankdata(s, axis=1)
    pos = y.sum(axis=1)
    neg = y.shape[1] - pos
    with np.errstate(divide="ignore", invalid="ignore"):
        auc = ((ranks * y).sum(axis=1) - pos * (pos + 1) / 2.0) / (pos * neg)
    auc = np.where((pos > 0) & (neg > 0), auc, np.nan)
    return mean_result("mask_auc", auc)


def mask_mass(attributions, masks, *, reduce="abs_sum"):
    """Fraction of the saliency mass inside the mask (the "ground truth-SUM" of Zhuo and Ge,
    IG², IEEE TPAMI 2024, §6.2, which leaves the normalisation unstated; here Σ_c |φ|
    normalised to sum to 1, then summed over the mask). NaN for all-zero maps.

    The check for negative values is made on the saliency map that is summed, i.e. after the
    channel reduction, which applies to maps ``[n, H, W]`` as to one-channel attributions:
    ``"abs_sum"``/``"max_abs"`` always pass (they sum ``|a|``), ``"sum"`` fails if any pixel's
    (channel) sum is negative, so that the fraction stays in [0, 1].

    Args:
      attributions: ``[n, H, W, C]`` or saliency maps ``[n, H, W]`` (reduced as one channel).
      masks: ground-truth masks ``[n, H, W]`` (bool or 0/1; ``[n, H, W, 1]`` accepted).
      reduce: channel reduction (``"abs_sum"``, ``"sum"``, ``"max_abs"``).

    Returns:
      :class:`MetricResult` ``"mask_mass"`` (↑; chance = the mask's area fraction).

    Raises:
      ValueError: a negative value in the (reduced) saliency map; shapes, NaN, empty.
    """
    sal, m = _maps_and_masks(attributions, masks, reduce)
    if np.any(sal < 0):
        raise ValueError(f"reduce: {reduce!r} gives negative saliency (signed attributions); "
                         "mask_mass needs a non-negative map ('abs_sum' or 'max_abs')")
    n = sal.shape[0]
    total = sal.reshape(n, -1).sum(axis=1)
    inside = (sal * m).reshape(n, -1).sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        frac = np.where(total > 0, inside / total, np.nan)
    return mean_result("mask_mass", frac)


def rank_correlation(a, b, axis=None):
    """Spearman rank correlation of ``a`` and ``b`` along ``axis`` (average ranks for ties;
    NaN where one side is constant).

    Args:
      a, b: arrays of the same shape.
      axis: the axis, or tuple of axes, along which the values are ranked and correlated (they
        are flattened together); the result has the remaining axes. None (default): every axis
        but the first, i.e. one correlation per example of a batch ``[n, ...]`` (for a 1-D
        input, the whole vector). ``axis=-1`` on ``[n, H, W]`` maps gives ``[n, H]`` row-wise
        correlations.

    Returns:
      float64 array of the shape of ``a`` without the ``axis`` axes (0-d if none remain).

    Raises:
      ValueError: ``a`` and ``b`` of different shapes; an ``axis`` out of range or repeated.
    """
    a = np.asarray(a, np.float64)
    b = np.asarray(b, np.float64)
    if a.shape != b.shape:
        raise ValueError(f"b: expected the shape of a {a.shape}, received {b.shape}")
    axes = _check_axes(axis, a.ndim)
    dest = tuple(range(a.ndim - len(axes), a.ndim))
    rest = tuple(size for i, size in enumerate(a.shape) if i not in axes)
    a = np.moveaxis(a, axes, dest).reshape(rest + (-1,))
    b = np.moveaxis(b, axes, dest).reshape(rest + (-1,))
    return _pearson(rankdata(a, axis=-1), rankdata(b, axis=-1))


def _check_axes(axis, ndim):
    """``axis`` (None, an int or a tuple of ints) as sorted non-negative axes of an array of
    rank ``ndim``; None means every axis but the first (all of a 1-D array)."""
    if axis is None:
        return tuple(range(1, ndim)) if ndim > 1 else tuple(range(ndim))
    items = axis if isinstance(axis, (tuple, list)) else (axis,)
    out = []
    for ax in items:
        if isinstance(ax, bool) or not isinstance(ax, (int, np.integer)):
            raise ValueError(f"axis: expected None, an int or a tuple of ints, received {axis!r}")
        if not -ndim <= int(ax) < ndim:
            raise ValueError(f"axis: {axis!r} is out of range for an array of rank {ndim}")
        out.append(int(ax) % ndim)
    if not out or len(set(out)) != len(out):
        raise ValueError(f"axis: expected distinct axes, received {axis!r}")
    return tuple(sorted(out))


def _pearson(a, b):
    """Pearson correlation along the last axis."""
    a = a - a.mean(axis=-1, keepdims=True)
    b = b - b.mean(axis=-1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        r = (a * b).sum(axis=-1) / np.sqrt((a * a).sum(axis=-1) * (b * b).sum(axis=-1))
    return r


def ground_truth_correlation(attributions, truth, *, method="pearson"):
    """Per-example correlation of attributions with known ground-truth attributions (the
    GT-Shapley metric of XAI-Bench, Liu et al. 2021, as used by Zhuo and Ge, IG², IEEE TPAMI
    2024, §6.1.2 and Table 2: Pearson between φ and the true Shapley values, averaged over
    examples).

    Args:
      attributions: ``[n, d]`` (or any ``[n, ...]``).
      truth: the same shape.
      method: ``"pearson"`` or ``"spearman"``.

    Returns:
      :class:`MetricResult` ``"gt_correlation"`` (↑); NaN for constant rows.

    Raises:
      ValueError naming the argument: shape mismatch, NaN, empty.
    """
    check_choice(method, ("pearson", "spearman"), "method")
    a = validation.check_array(attributions, "attributions", min_rank=2)
    t = validation.check_array(truth, "truth", min_rank=2)
    validation.check_same_shape(t, a.shape, "truth", "attributions")
    if method == "spearman":
        return mean_result("gt_correlation", rank_correlation(a, t))
    n = a.shape[0]
    return mean_result("gt_correlation", _pearson(a.reshape(n, -1).astype(np.float64),
                                                  t.reshape(n, -1).astype(np.float64)))
