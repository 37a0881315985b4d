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

The EIC's x-axis is the fraction of pixels revealed, or (``information="shannon"`` /
``"compression"``) the authors' information axis: the information ratio ``info(x_r)/info(x)``
minus 1, made non-decreasing along the *removal* pass (a running max from x towards the
blurred image), normalised by its value at the blurred image and mirrored so that it runs from
0 at the blurred image to 1 at x (the area is the authors'). When that axis is degenerate (the
ratio never exceeds 1) the pixel axis is used, with a warning.

:func:`select_blur_sigma` implements the paper's σ rule (§4.1): the smallest σ at which the
uncertainty of the fully blurred images is maximal (within a tolerance).

H is any function: ``fn(images) -> [n]`` (NumPy), or a :class:`tfpath.ModelFunction` whose
target needs no class (e.g. predictive entropy), or a Keras model with ``[n]`` outputs.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from tfpath.core import validation
from tfpath.metrics.checks import check_choice, check_fractions, check_images, saliency_maps
from tfpath.metrics.perturb import blur_images, perturbed_scores, unit_ranks
from tfpath.metrics.results import MetricResult, standard_error
from tfpath.metrics.scoring import Scorer

INFORMATION = ("pixels", "compression", "shannon")

#: σ grid of :func:`select_blur_sigma`: 0.25, 0.5, ..., 3.0 pixels (covers the authors' MNIST
#: 1.5, Fashion-MNIST 2 and CelebA 3)
DEFAULT_SIGMAS = tuple(0.25 * k for k in range(1, 13))

#: an information axis whose span (max over the removal pass of ``ratio - 1``) is at most this
#: is degenerate (ten times the authors' 1e-10 tie-breaker, below which their axis is mostly
#: the tie-breaker; real PNG sizes or histogram entropies differ by far more)
DEGENERATE_SPAN = 1e-9


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
      of the 8-bit pixel histogram, the code's ``ent``; the code takes it of the float image).
      The information axis is the authors' (``summarize_performance`` of their evaluation
      scripts): with ``ratio_r = info(x_r) / info(x)`` on the removal pass (aggregated over
      images for the aggregate curve, per image for ``per_image``),
      ``d_r = max_{j ≤ r} (ratio_j − 1)`` — a running max along the *removal*, so ``d`` is 0
      at x and non-decreasing towards the blurred image — and the axis is ``1 − d / d_blurred``
      in insertion order: 0 at the blurred image, 1 at x. The authors plot ``d / d_blurred``
      (1 at the blurred image, 0 at x); the mirror has the same area. Their code adds a
      ``linspace(1e-10, 0)`` tie-breaker for ``sklearn.metrics.auc``; tfpath does not (the
      trapezoid needs no strictly monotonic axis), which changes the area by about
      ``1e-10 / d_blurred``. (Earlier tfpath made the ratio non-decreasing along the
      *insertion*, which collapses the axis to zeros, and every AOC to 1.0, when information
      falls as pixels are revealed, e.g. the Shannon entropy of a blurred binary image);
    * degenerate information axis: when ``d_blurred ≤`` :data:`DEGENERATE_SPAN`, i.e. no state
      of the removal pass carries more information than x (the ratio never exceeds 1, as for
      PNG sizes, which usually fall under blurring, or an information that never changes), the
      authors' axis is undefined (their tie-breaker alone then makes it the state index, which
      is the pixel axis when ``steps=None``). tfpath uses the pixel axis for that curve (the
      aggregate, or each such image's ``per_image``) and emits a :class:`RuntimeWarning`
      naming ``information``, rather than an axis of zeros (AOC 1.0 for every method);
      ``extra`` records which curves fell back;
    * σ of the blur is per task (the code: MNIST 1.5, Fashion 2, CelebA 3); the default 1.5 is
      the MNIST value; :func:`select_blur_sigma` applies the paper's rule;
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
      axis of the aggregate curve, ``per_image`` each image's own AOC on its own axis; with an
      information axis ``extra`` also holds ``"information_ratio"`` ``[n, k]`` (insertion
      order), ``"axes"`` (the per-image axes), ``"fallback"`` (bool ``[n]``, images on the pixel
      axis) and ``"aggregate_fallback"`` (bool)); ``"urc@p"`` (p in percent, e.g.
      ``"urc@1%"``) → URC at that fraction, ``per_image`` the per-image values, ``curve`` the
      aggregate URC over all removal fractions (``x``).

    Raises:
      ValueError / TypeError naming the argument; ``uncertainty`` giving 0 on a fully blurred
      image (the EIC normalises by it); ``information`` 0 for an original image (e.g. the
      Shannon entropy of a constant image: the information ratio is undefined).

    Warns:
      RuntimeWarning naming ``information``: a degenerate information axis (see above), with
      the pixel axis used instead.
    """
    check_choice(information, INFORMATION, "information")
    check_choice(aggregate, ("mean", "median"), "aggregate")
    urc_at = check_fractions(urc_at, "urc_at")
    x = check_images(images, value_range)
    sal = saliency_maps(attributions, x.shape, reduce)
    scorer = _uncertainty_scorer(uncertainty, batch_size)
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
    pixel_axis = 1.0 - fractions[::-1]
    extra = {"uncertainty": unc, "fractions": fractions}
    if information == "pixels":
        axis = pixel_axis
        axes = np.broadcast_to(axis, eic_curves.shape)
    else:
        info = out[2]                                # [n, k], removal order
        empty = np.flatnonzero(~(info[:, 0] > 0))
        if empty.size:
            raise ValueError(
                f"information: {information!r} is 0 for image(s) {empty.tolist()} (e.g. a "
                "constant image); the information ratio info(state) / info(image) is "
                "undefined. Use information='pixels' or drop those images.")
        ratio = (info / info[:, :1])[:, ::-1]        # info(x_i) / info(x), insertion order
        axes, fallback = _information_axis(ratio, pixel_axis)
        agg_axes, agg_fallback = _information_axis(reduce_fn(ratio, axis=0, keepdims=True),
                                                   pixel_axis)
        axis, agg_fallback = agg_axes[0], bool(agg_fallback[0])
        if agg_fallback or fallback.any():
            where = (["the aggregate curve"] if agg_fallback else []) + (
                [f"{int(fallback.sum())} of {n} image(s)"] if fallback.any() else [])
            warnings.warn(
                f"information={information!r}: no state of the removal pass has more "
                f"information than the original image for {' and '.join(where)} (the ratio "
                "info(state) / info(image) never exceeds 1), so the authors' information axis "
                "is degenerate; using the fraction of pixels revealed for those curves",
                RuntimeWarning, stacklevel=2)
        extra.update(information_ratio=ratio, axes=axes, fallback=fallback,
                     aggregate_fallback=agg_fallback)
    eic_curve = reduce_fn(eic_curves, axis=0)
    per_image_eic = 1.0 - np.trapezoid(eic_curves, axes, axis=1)
    results = {"eic": MetricResult(
        "eic", float(1.0 - np.trapezoid(eic_curve, axis)), per_image_eic,
        standard_error(per_image_eic), True, axis, eic_curves, eic_curve, extra)}

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


def _information_axis(ratio, pixel_axis):
    """The authors' information axes, mirrored to run from 0 (blurred) to 1 (original).

    Args:
      ratio: ``[m, k]`` information ratios ``info(state) / info(x)`` in insertion order
        (column 0 the blurred image, column ``k − 1`` the original, ratio 1).
      pixel_axis: ``[k]`` the fraction of pixels revealed, for degenerate rows.

    Returns:
      ``(axes [m, k], fallback [m] bool)``: per row ``1 − d / d[0]`` with
      ``d_i = max_{j ≥ i} (ratio_j − 1)`` (the running max along the removal pass, i.e. the
      authors' reversed cumulative max); rows with ``d[0] ≤`` :data:`DEGENERATE_SPAN` are
      ``pixel_axis`` and flagged in ``fallback``.
    """
    excess = np.asarray(ratio, np.float64) - 1.0
    d = np.maximum.accumulate(excess[:, ::-1], axis=1)[:, ::-1]     # 0 at x, max at blurred
    span = d[:, :1]
    fallback = span[:, 0] <= DEGENERATE_SPAN
    axes = np.where(fallback[:, None], np.asarray(pixel_axis, np.float64)[None],
                    1.0 - d / np.where(fallback[:, None], 1.0, span))
    return axes, fallback


def _uncertainty_scorer(uncertainty, batch_size):
    scorer = Scorer(uncertainty, None, batch_size)
    if scorer.needs_class:
        raise ValueError("uncertainty: its target needs a class; use a class-free target "
                         "(e.g. entropy) or a function fn(images) -> [n]")
    return scorer


@dataclass(frozen=True, eq=False)
class BlurSigmaSelection:
    """What :func:`select_blur_sigma` returns.

    Attributes:
      sigma: the selected σ (pixels), an element of ``sigmas``.
      sigmas: float64 ``[k]``, the grid tried (increasing).
      uncertainty: float64 ``[k]``, the aggregate uncertainty of the fully blurred images at
        each σ.
      per_image: float64 ``[n, k]``, each blurred image's uncertainty.
      threshold: the aggregate uncertainty ``sigma`` had to reach,
        ``max(uncertainty) − tolerance · |max(uncertainty)|``.
      aggregate: ``"median"`` or ``"mean"``.
      tolerance: the relative tolerance used.

    The arrays are read-only.
    """

    sigma: float
    sigmas: np.ndarray
    uncertainty: np.ndarray
    per_image: np.ndarray
    threshold: float
    aggregate: str
    tolerance: float

    def __repr__(self):
        return (f"BlurSigmaSelection(sigma={self.sigma:g}, {self.aggregate} uncertainty "
                f"{float(self.uncertainty[list(self.sigmas).index(self.sigma)]):.6g}, "
                f"max {float(self.uncertainty.max()):.6g} over {self.sigmas.size} σ)")


def select_blur_sigma(uncertainty, images, sigmas=DEFAULT_SIGMAS, *, aggregate="median",
                      tolerance=1e-3, value_range=(0.0, 1.0), batch_size=256):
    """The blur σ of the EIC / URC by the paper's rule (Perez et al., UAI 2022, §4.1).

    §4.1: σ is "the minimum standard deviation s.t. a model's predictive uncertainty for the
    fully blurred images is maximised". Each σ of ``sigmas`` blurs all ``images``
    (:func:`tfpath.metrics.perturb.blur_images`, the blur of :func:`uncertainty_curves`), the
    uncertainty of the blurred images is aggregated over images, and the smallest σ whose
    aggregate is within ``tolerance`` (relative) of the maximum over the grid is returned.

    Decisions:

    * a tolerance, not the exact argmax: the uncertainty of blurred images saturates (e.g. the
      predictive entropy of a featureless image), so beyond some σ the aggregate is a plateau
      of maxima that differ only by floating-point rounding (float32 model outputs: ~1e-7
      relative) or by negligible drifts; the exact argmax would pick an arbitrary σ on the
      plateau, usually a large one, while the rule asks for its start. The default 1e-3 (0.1 %)
      is far above float32 rounding and below any change that matters for the metric;
      ``tolerance=0`` gives the first exact argmax;
    * the paper does not say how images are combined; ``aggregate="median"`` (default) follows
      the authors' code, which reports medians throughout (``"mean"`` is offered);
    * the grid: the paper gives no grid; the default 0.25, 0.5, ..., 3.0 contains the authors'
      per-task values (MNIST 1.5, Fashion-MNIST 2, CelebA 3). The answer is only as fine as
      the grid, and a σ at its upper end may mean the maximum lies beyond it.

    Args:
      uncertainty: ``fn(images) -> [n]``, a class-free :class:`tfpath.ModelFunction`, or a Keras
        model with one output (as for :func:`uncertainty_curves`).
      images: ``[n, H, W, C]`` in ``value_range``.
      sigmas: the candidate σ in pixels: non-empty, finite, > 0, strictly increasing.
      aggregate: ``"median"`` or ``"mean"`` over images.
      tolerance: relative tolerance in [0, 1): σ qualifies if its aggregate is at least
        ``max − tolerance · |max|``.
      value_range, batch_size: as for the other metrics.

    Returns:
      :class:`BlurSigmaSelection` (``sigma``, the grid, the aggregate and per-image
      uncertainty per σ, the threshold).

    Raises:
      ValueError / TypeError naming the argument (``sigmas``, ``tolerance``, ``aggregate``,
      ``images``, ``batch_size``); ``uncertainty`` whose target needs a class.
    """
    check_choice(aggregate, ("mean", "median"), "aggregate")
    grid = _check_sigmas(sigmas)
    tolerance = validation.check_nonnegative(tolerance, "tolerance")
    if tolerance >= 1:
        raise ValueError(f"tolerance: expected a relative tolerance in [0, 1), received "
                         f"{tolerance}")
    x = check_images(images, value_range)
    scorer = _uncertainty_scorer(uncertainty, batch_size)
    per_image = np.stack([scorer(blur_images(x, s))[0] for s in grid], axis=1)    # [n, k]
    reduce_fn = np.median if aggregate == "median" else np.mean
    agg = reduce_fn(per_image, axis=0)
    best = float(agg.max())
    threshold = best - tolerance * abs(best)
    j = int(np.flatnonzero(agg >= threshold)[0])
    for a in (grid, agg, per_image):
        a.setflags(write=False)
    return BlurSigmaSelection(float(grid[j]), grid, agg, per_image, float(threshold),
                              aggregate, float(tolerance))


def _check_sigmas(sigmas):
    if isinstance(sigmas, (str, bytes)) or np.asarray(sigmas).dtype.kind not in "iuf":
        raise TypeError(f"sigmas: expected a sequence of numbers, received {sigmas!r}")
    grid = np.array(sigmas, np.float64).reshape(-1)
    if grid.size == 0:
        raise ValueError("sigmas: is empty; expected at least one σ > 0")
    if not np.all(np.isfinite(grid)) or grid.min() <= 0:
        raise ValueError(f"sigmas: expected finite values > 0, received {grid.tolist()}")
    if np.any(np.diff(grid) <= 0):
        raise ValueError(f"sigmas: expected strictly increasing values, received "
                         f"{grid.tolist()}")
    return grid
