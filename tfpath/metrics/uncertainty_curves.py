"""Uncertainty curves EIC and URC (Perez et al., "Attribution of Predictive Uncertainties in
Classification Models", UAI 2022, §4.1) over any uncertainty function.

One removal pass serves both: starting from x, pixels are replaced by the Gaussian-blurred
image in **descending signed attribution** (most uncertainty-increasing first), until the image
is fully blurred; the uncertainty H of every state is recorded (all images and states scored in
large batches).

* EIC (Entropy Information Curve, an inclusion metric): the same sequence reversed, i.e.
  revealing the most negative (uncertainty-reducing) pixels of x into the blurred image first;
  ``EIC_i = H(x_i) / H(x_blurred)``; score = area over the curve, AOC = 1 − AUC (↑).
* URC (Uncertainty Reduction Curve): ``URC_i = max_{r ≤ i} [1 − H(x_r)/H(x)]`` along the
  removal pass, reported at pixel fractions (1 %, 5 % ...) (↑).

H is any function: ``fn(images) -> [n]`` (NumPy), or a :class:`tfpath.ModelFunction` whose
target needs no class (e.g. predictive entropy), or a Keras model with ``[n]`` outputs.
"""
from __future__ import annotations

import numpy as np

from tfpath.core import validation
from tfpath.metrics.checks import check_choice, check_fractions, check_images, saliency_maps
from tfpath.metrics.perturb import blur_images, perturbed_scores, unit_ranks
from tfpath.metrics.results import MetricResult, standard_error
from tfpath.metrics.scoring import Scorer

INFORMATION = ("pixels", "compression", "shannon")


def uncertainty_curves(uncertainty, images, attributions, *, steps=None, blur_sigma=1.5,
                       information="pixels", aggregate="mean", urc_at=(0.01, 0.05),
                       reduce="sum", value_range=(0.0, 1.0), batch_size=256, seed=0):
    """EIC and URC of Perez et al. (UAI 2022, §4.1) from one batched removal pass.

    Decisions where the paper and the authors' code (Featurespace/uncertainty-attribution,
    ``metrics.py``) differ:

    * aggregation over images: the paper's formulas average (``aggregate="mean"``, default);
      the code takes the median (``aggregate="median"``);
    * x-axis of the EIC: ``"pixels"`` (fraction of pixels revealed, default), ``"compression"``
      (lossless PNG size of each state, the code's ``fl_sz``) or ``"shannon"`` (Shannon entropy
      of the pixel histogram). Information values are normalised by the original image's,
      aggregated over images, rescaled to 0 at the blurred image and 1 at the original and made
      non-decreasing along the insertion (a running max, the code's monotonisation; the
      orientation does not change the area);
    * σ of the blur is per task (the code: MNIST 1.5, Fashion 2, CelebA 3); the default 1.5 is
      the MNIST value;
    * ``steps=None`` records every one-pixel state as the code does (n + 1 states); an int
      records ``steps + 1`` equal pixel fractions plus the ``urc_at`` points;
    * ties in the attribution are broken at random with ``seed`` (the code adds 1e-100 noise).

    Args:
      uncertainty: ``fn(images) -> [n]``, a class-free :class:`tfpath.ModelFunction`, or a Keras
        model with one output.
      images: ``[n, H, W, C]`` in ``value_range``.
      attributions: attributions of the uncertainty, ``[n, H, W, C]`` or maps ``[n, H, W]``;
        positive = increases uncertainty.
      steps: None (every pixel) or the number of equal fraction steps.
      blur_sigma: Gaussian σ in pixels of the fully blurred image.
      information: ``"pixels"``, ``"compression"`` or ``"shannon"``.
      aggregate: ``"mean"`` or ``"median"`` over images.
      urc_at: pixel fractions at which URC is reported.
      reduce: channel reduction; the default ``"sum"`` keeps the sign, which orders the pixels.
      value_range, batch_size: as for the other metrics.

    Returns:
      dict: ``"eic"`` → :class:`MetricResult` (value = AOC of the aggregate EIC, ``x`` the
      information axis, ``per_image`` each image's own AOC); ``"urc@p"`` (p in percent, e.g.
      ``"urc@1%"``) → URC at that fraction, ``per_image`` the per-image values, ``curve`` the
      aggregate URC over all removal fractions (``x``).

    Raises:
      ValueError / TypeError naming the argument; ``uncertainty`` giving 0 on a fully blurred
      image (the EIC normalises by it).
    """
    check_choice(information, INFORMATION, "information")
    check_choice(aggregate, ("mean", "median"), "aggregate")
    urc_at = check_fractions(urc_at, "urc_at")
    x = check_images(images, value_range)
    sal = saliency_maps(attributions, x.shape, reduce)
    scorer = Scorer(uncertainty, None, batch_size)
    if scorer.needs_class:
        raise ValueError("uncertainty: its target needs a class; use a class-free target "
                         "(e.g. entropy) or a function fn(images) -> [n]")
    n, h, w, _ = x.shape
    pixels = h * w
    if steps is None:
        fractions = np.arange(pixels + 1) / pixels
    else:
        steps = validation.check_positive_int(steps, "steps")
        fractions = np.union1d(np.linspace(0.0, 1.0, steps + 1), urc_at)
    ranks, counts = unit_ranks(sal, None, seed)
    blurred = blur_images(x, blur_sigma)
    measure = None if information == "pixels" else _information_fn(information, value_range)
    out = perturbed_scores(scorer, x, ranks, counts, None, fractions, "delete_top", blurred,
                           measure=measure)
    unc = out[0]                                     # [n, k], removal order: x ... blurred
    h_x, h_blur = unc[:, 0], unc[:, -1]
    if np.any(h_blur <= 0):
        raise ValueError("uncertainty: is 0 (or negative) on a fully blurred image; the EIC "
                         "divides by it. Increase blur_sigma or check the function.")
    reduce_fn = np.median if aggregate == "median" else np.mean

    # EIC: insertion order = reversed removal. State i of the reversed sequence has
    # 1 - fractions[k-1-i] of the pixels revealed, so its axis is the reversed complement
    # (``fractions`` itself only when it is symmetric about 1/2, which urc_at points break).
    eic_curves = (unc / h_blur[:, None])[:, ::-1]
    if information == "pixels":
        axis = 1.0 - fractions[::-1]
        axes = np.broadcast_to(axis, eic_curves.shape)
    else:
        ratio = (out[2] / out[2][:, :1])[:, ::-1]  # info(x_i) / info(x), insertion order
        axes = _information_axis(ratio)
        axis = _information_axis(reduce_fn(ratio, axis=0, keepdims=True))[0]
    eic_curve = reduce_fn(eic_curves, axis=0)
    per_image_eic = 1.0 - np.trapezoid(eic_curves, axes, axis=1)
    results = {"eic": MetricResult(
        "eic", float(1.0 - np.trapezoid(eic_curve, axis)), per_image_eic,
        standard_error(per_image_eic), True, axis, eic_curves, eic_curve,
        {"uncertainty": unc, "fractions": fractions})}

    # URC: best fractional reduction of uncertainty so far, along the removal pass
    with np.errstate(divide="ignore", invalid="ignore"):
        reduction = np.where(h_x[:, None] > 0, 1.0 - unc / h_x[:, None], np.nan)
    urc_curves = np.maximum.accumulate(reduction, axis=1)
    valid = np.isfinite(urc_curves[:, 0])
    urc_curve = reduce_fn(urc_curves[valid], axis=0) if valid.any() else \
        np.full(fractions.size, np.nan)
    for p in urc_at:
        j = int(np.argmin(np.abs(fractions - p)))
        per = urc_curves[:, j]
        value = float(reduce_fn(per[valid])) if valid.any() else float("nan")
        name = f"urc@{100 * p:g}%"
        results[name] = MetricResult(name, value, per, standard_error(per), True,
                                     fractions, urc_curves, urc_curve,
                                     {"fraction": fractions[j]})
    return results


def eic(uncertainty, images, attributions, **kwargs):
    """Area over the Entropy Information Curve (↑): ``uncertainty_curves(...)["eic"]``."""
    return uncertainty_curves(uncertainty, images, attributions, **kwargs)["eic"]


def urc(uncertainty, images, attributions, at=0.05, **kwargs):
    """Uncertainty Reduction Curve at pixel fraction ``at`` (↑):
    ``uncertainty_curves(..., urc_at=(at,))``."""
    results = uncertainty_curves(uncertainty, images, attributions, urc_at=(at,), **kwargs)
    return results[f"urc@{100 * float(at):g}%"]


def _information_fn(information, value_range):
    low, high = validation.check_range(value_range, "value_range")

    def measure(images):
        u8 = np.round((images - low) / (high - low) * 255.0).clip(0, 255).astype(np.uint8)
        if information == "compression":
            from tfpath.metrics.information_curves import compressed_size
            return np.array([compressed_size(im, "png") for im in u8], np.float64)
        from skimage.measure import shannon_entropy
        return np.array([shannon_entropy(im, base=2) for im in u8], np.float64)

    return measure


def _information_axis(ratio):
    """Rows of information ratios (insertion order) -> non-decreasing axes from 0 to 1."""
    axis = np.maximum.accumulate(ratio, axis=1)
    start, end = axis[:, :1], axis[:, -1:]
    span = np.where(end - start > 0, end - start, 1.0)
    return np.clip((axis - start) / span, 0.0, 1.0)
