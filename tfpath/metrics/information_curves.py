"""Performance Information Curves: AIC and SIC (Kapishnikov et al., "XRAI: Better Attributions
Through Regions", ICCV 2019, §4; as used by Yang, Wang and Bilgic, "IDGI: A Framework to
Eliminate Explanation Noise from Integrated Gradients", CVPR 2023, §4.4-4.5), a NumPy-2
re-implementation of PAIR's ``saliency.metrics.pic``.

For each image, "bokeh" images reveal the top-t fraction of pixels (by saliency) over a fully
blurred version, for increasing t. Each bokeh image has an information level (its compressed
size, or its MS-SSIM to the original) and a model performance (softmax probability: SIC;
correctness: AIC). Both are normalised per image between the blurred and the original image,
giving one curve per image of performance against information; the curves are aggregated
(median for SIC, mean for AIC) and the area under the aggregate curve is the score.

With the defaults (``base="interpolate"``, ``information="webp"``, PAIR's thresholds and
filters) this reproduces ``saliency.metrics.pic.compute_pic_metric`` +
``aggregate_individual_pic_results`` to floating-point precision (tests/test_metrics_pic.py).
"""
from __future__ import annotations

import io

import numpy as np

from tfpath.core import validation
from tfpath.metrics.areas import aggregate_curves
from tfpath.metrics.checks import (check_choice, check_class_idx, check_fractions, check_images,
                                   saliency_maps)
from tfpath.metrics.perturb import blur_images
from tfpath.metrics.results import MetricResult
from tfpath.metrics.scoring import Scorer

PAIR_THRESHOLDS = (0.005, 0.01, 0.02, 0.03, 0.04, 0.05, 0.07, 0.10, 0.13, 0.21, 0.34, 0.5, 0.75)
KINDS = ("sic", "aic")
INFORMATION = ("webp", "png", "msssim")
BASES = ("interpolate", "blur")
NORMALIZATIONS = ("pair", "ratio")
# skip reasons (PAIR's ComputePicMetricError cases), per image
SKIP_LOW_PREDICTION = "prediction on the original image below min_pred_value"
SKIP_BLUR_PREDICTION = "prediction on the blurred image not lower than on the original"
SKIP_BLUR_INFORMATION = "information of the blurred image not lower than of the original"


# ------------------------------------------------------------------------------ bokeh images
def generate_random_mask(height, width, fraction=0.01, rng=None):
    """A random boolean ``[H, W]`` mask with ``int(H·W·fraction)`` True pixels (PAIR's
    ``generate_random_mask``, with an explicit NumPy generator)."""
    rng = np.random.default_rng(rng)
    mask = np.zeros(height * width, bool)
    mask[rng.choice(height * width, size=int(height * width * fraction), replace=False)] = True
    return mask.reshape(height, width)


def interpolate_image(image, pixel_mask):
    """PAIR's ``create_blurred_image`` (linear): pixels outside ``pixel_mask`` are linearly
    interpolated from those inside (Delaunay triangulation, one for all channels); outside the
    convex hull they take the image's mean colour. Corners are always kept.

    Args:
      image: ``[H, W, C]`` uint8. pixel_mask: bool ``[H, W]``.

    Returns:
      uint8 ``[H, W, C]`` (rounded as PAIR does).
    """
    from scipy.interpolate import LinearNDInterpolator
    h, w = pixel_mask.shape
    mask = pixel_mask.copy()
    mask[[0, 0, h - 1, h - 1], [0, w - 1, 0, w - 1]] = True
    if mask.all():
        return image.copy()
    img = image.astype(np.float64)
    known = np.argwhere(mask)
    unknown = np.argwhere(~mask)
    interp = LinearNDInterpolator(known, img[mask], fill_value=np.nan)
    values = interp(unknown)
    mean_colour = img.mean(axis=(0, 1))
    values = np.where(np.isnan(values), mean_colour[None, :], values)
    # float32 buffer and rounding, as PAIR (uint8 image × float32 mask), so results match exactly
    out = image.astype(np.float32) * mask[..., None]
    out[~mask] = values
    return np.round(out).astype(np.uint8)


def compressed_size(image, codec="webp"):
    """Bytes of the lossless ``codec`` ("webp": PAIR's ``estimate_image_entropy``; "png")
    encoding of a uint8 ``[H, W, C]`` image (one channel is encoded as grey)."""
    from PIL import Image
    arr = image[..., 0] if image.shape[-1] == 1 else image
    buffer = io.BytesIO()
    if codec == "webp":
        Image.fromarray(arr).save(buffer, format="webp", lossless=True, quality=100)
    else:
        Image.fromarray(arr).save(buffer, format="png", optimize=False)
    return buffer.tell()


def msssim_parameters(height, width):
    """``(filter_size, power_factors)`` for ``tf.image.ssim_multiscale`` on small images.

    TF needs ``(filter_size - 1)·2^(scales - 1) < min(H, W)`` (5 scales and filter 11 need
    > 160 px). The defaults are kept when they fit; otherwise the largest of filter 11, 7, 5,
    3 with at least 3 scales (then 2, then 1) is used, and the leading ``scales`` of TF's
    default power factors are renormalised to sum to 1.
    """
    default = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)
    side = min(height, width)
    for min_scales in (3, 2, 1):
        for size in (11, 7, 5, 3):
            for scales in (5, 4, 3, 2, 1):
                if scales >= min_scales and (size - 1) * 2 ** (scales - 1) < side:
                    factors = np.asarray(default[:scales])
                    return size, tuple((factors / factors.sum()).tolist())
    return 1, (1.0,)


def msssim(images, reference, max_val=1.0, batch_size=256):
    """MS-SSIM of each image ``[m, H, W, C]`` to ``reference`` (broadcast), small-image safe
    (:func:`msssim_parameters`)."""
    import tensorflow as tf
    size, factors = msssim_parameters(*images.shape[1:3])
    ref = np.broadcast_to(reference, images.shape).astype(np.float32)
    out = []
    for s in range(0, images.shape[0], batch_size):
        out.append(tf.image.ssim_multiscale(
            tf.constant(images[s:s + batch_size], tf.float32), tf.constant(ref[s:s + batch_size]),
            max_val=max_val, power_factors=factors, filter_size=size).numpy())
    return np.concatenate(out).astype(np.float64)


# ------------------------------------------------------------------------------ the metric
def pic(model, images, attributions, class_idx, *, kind="sic", information="webp",
        base="interpolate", thresholds=PAIR_THRESHOLDS, random_masks=None,
        random_fraction=0.01, blur_sigma=5.0, min_pred_value=None, keep_monotonous=True,
        num_data_points=1000, aggregate=None, normalization="pair", reduce="abs_sum",
        target=None, value_range=(0.0, 1.0), batch_size=256, seed=0,
        bootstrap=200):
    """AIC or SIC (XRAI paper; IDGI paper, §4.4 and §4.5), batched over images and thresholds.

    Per image (PAIR's ``compute_pic_metric``): the fully blurred image is interpolated from a
    random 1 % pixel mask (``base="interpolate"``) or Gaussian blurred (``base="blur"``: the IDGI
    paper's PIL blur; σ = ``blur_sigma`` here); for each threshold t the pixels with saliency ≥
    the (1 − t) quantile (∪ the random mask) are revealed. Information levels and predictions
    are normalised to [0, 1] between the blurred and the original image (``normalization=
    "pair"``; ``"ratio"``: information / original information, the paper's wording), the
    predictions made monotone (running max) if ``keep_monotonous``, points (0, 0) and (1, 1)
    added, and the curve linearly interpolated at ``num_data_points`` points + 1.0.
    An image is skipped (NaN, reason in ``extra["skipped"]``) when PAIR's function raises
    ``ComputePicMetricError``: prediction on the original below ``min_pred_value``, blurred
    prediction not lower than the original, or blurred information not lower.
    Aggregation: median of the curves (SIC) or mean (AIC), AUC by the trapezoid rule.

    Images are quantised to uint8 (``value_range`` ↦ 0..255) as PAIR requires; the model sees
    the quantised bokeh images mapped back to ``value_range``. ``information="msssim"`` is the
    IDGI paper's MS-SSIM variant (§4.5), with filter size and scales adapted to small images
    (:func:`msssim_parameters`; the paper leaves them unstated). Not implemented: the paper's
    pooled aggregation of bokeh images into 100 information-level bins (§4.4), whose bin
    handling is unstated.

    Args:
      model: a :class:`tfpath.ModelFunction`, Keras model or callable (see ``Scorer``).
      images: ``[n, H, W, C]`` in ``value_range``.
      attributions: ``[n, H, W, C]`` or maps ``[n, H, W]``; higher = more important. Both are
        reduced with ``reduce`` (maps as one channel: the default ``"abs_sum"`` ranks them by
        ``|a|``; PAIR ranks a map by its values, i.e. ``reduce="sum"`` for signed maps).
      class_idx: the class per image (int or ``[n]``).
      kind: ``"sic"`` (normalised softmax) or ``"aic"`` (accuracy: argmax == class).
      information: ``"webp"`` (PAIR), ``"png"`` (the TMLR reproduction) or ``"msssim"``.
      base: ``"interpolate"`` (PAIR) or ``"blur"``.
      thresholds: ascending fractions of most salient pixels.
      random_masks: bool ``[n, H, W]`` (or one ``[H, W]``) seeds of the interpolation; None
        draws them with ``seed`` (``random_fraction`` of the pixels). Unused with
        ``base="blur"``.
      min_pred_value: skip images whose prediction is below it; None uses PAIR's 0.8 for both
        kinds (AIC predictions are 0/1).
      aggregate: ``"median"``, ``"mean"`` or None (median for SIC, mean for AIC, as PAIR).
      target: the SIC score; None: ``"probability"`` (softmax of the class) for ModelFunctions
        and Keras models, the outputs' class column for plain callables ``fn(images)``.
      bootstrap: resamples for the standard error of a median aggregate.

    Returns:
      :class:`tfpath.metrics.MetricResult` named ``"sic"``/``"aic"``: ``value`` the AUC of the
      aggregate curve, ``per_image`` each image's AUC (NaN if skipped), ``x``/``curves``/
      ``curve`` the interpolated curves; ``extra``: ``"skipped"`` (reason or ""),
      ``"information"``/``"predictions"`` ``[n, T + 2]`` (blurred, thresholds..., original),
      ``"valid"``.

    Raises:
      ValueError / TypeError naming the argument; ``kind="aic"`` on a model without class
      outputs.
    """
    check_choice(kind, KINDS, "kind")
    check_choice(information, INFORMATION, "information")
    check_choice(base, BASES, "base")
    check_choice(normalization, NORMALIZATIONS, "normalization")
    aggregate = aggregate or ("median" if kind == "sic" else "mean")
    check_choice(aggregate, ("median", "mean"), "aggregate")
    num_data_points = validation.check_positive_int(num_data_points, "num_data_points")
    thresholds = check_fractions(thresholds, "thresholds")
    if np.any(np.diff(thresholds) < 0):
        raise ValueError(f"thresholds: expected ascending fractions, received "
                         f"{thresholds.tolist()}")
    min_pred_value = 0.8 if min_pred_value is None else float(min_pred_value)
    x = check_images(images, value_range)
    sal = saliency_maps(attributions, x.shape, reduce)
    n, h, w, _ = x.shape
    c = check_class_idx(class_idx, n, required=True)
    masks = _random_masks(random_masks, n, h, w, random_fraction, seed, base)
    scorer = Scorer(model, target if kind == "sic" else None, batch_size,
                    default_target="probability" if kind == "sic" else None)
    low, high = validation.check_range(value_range, "value_range")
    u8 = np.round((x - low) / (high - low) * 255.0).clip(0, 255).astype(np.uint8)

    # bokeh images: [n, T + 2] = (fully blurred, thresholds..., original)
    t = thresholds.size
    stacks = np.empty((n, t + 2, h, w, x.shape[-1]), np.uint8)
    for i in range(n):
        stacks[i] = _bokeh_stack(u8[i], sal[i], masks[i], thresholds, base, blur_sigma)
    flat = stacks.reshape(n * (t + 2), h, w, -1)
    as_input = (flat.astype(np.float32) / 255.0) * (high - low) + low
    values, predicted = scorer(as_input, np.repeat(c, t + 2))
    if kind == "aic":
        if predicted is None:
            raise ValueError("kind: 'aic' needs a model with one output per class")
        values = (predicted == np.repeat(c, t + 2)).astype(np.float64)
    preds = values.reshape(n, t + 2)
    if information == "msssim":
        info = msssim(as_input, np.repeat(
            ((u8.astype(np.float32) / 255.0) * (high - low) + low), t + 2, axis=0),
            max_val=high - low).reshape(n, t + 2)
    else:
        info = np.array([compressed_size(im, information) for im in flat],
                        np.float64).reshape(n, t + 2)

    curve_x = np.append(np.linspace(0.0, 1.0, num_data_points, endpoint=False), 1.0)
    curves = np.full((n, curve_x.size), np.nan)
    skipped = np.full(n, "", dtype=object)
    for i in range(n):
        skipped[i], curve = _image_curve(info[i], preds[i], min_pred_value, normalization,
                                         keep_monotonous, curve_x)
        if curve is not None:
            curves[i] = curve
    valid = np.isfinite(curves[:, 0])
    per_image = np.trapezoid(curves, curve_x, axis=1)
    extra = {"skipped": skipped, "valid": valid, "information": info, "predictions": preds,
             "thresholds": thresholds}
    curve, value, se = aggregate_curves(curves, curve_x, aggregate, seed, bootstrap)
    return MetricResult(kind, value, per_image, se, True, curve_x, curves, curve, extra)


def aic(model, images, attributions, class_idx, **kwargs):
    """Accuracy Information Curve: :func:`pic` with ``kind="aic"``."""
    return pic(model, images, attributions, class_idx, kind="aic", **kwargs)


def sic(model, images, attributions, class_idx, **kwargs):
    """Softmax Information Curve: :func:`pic` with ``kind="sic"``."""
    return pic(model, images, attributions, class_idx, kind="sic", **kwargs)


def _random_masks(random_masks, n, h, w, fraction, seed, base):
    if random_masks is None:
        if base == "blur":
            return np.zeros((n, h, w), bool)
        fraction = validation.check_fraction(fraction, "random_fraction")
        rng = np.random.default_rng(seed)
        return np.stack([generate_random_mask(h, w, fraction, rng) for _ in range(n)])
    m = np.asarray(random_masks)
    if m.dtype != bool:
        raise TypeError(f"random_masks: expected a boolean array, received dtype {m.dtype}")
    if m.shape == (h, w):
        m = np.broadcast_to(m, (n, h, w))
    if m.shape != (n, h, w):
        raise ValueError(f"random_masks: expected shape {(n, h, w)} or {(h, w)}, received "
                         f"{m.shape}")
    return m


def _bokeh_stack(image, saliency, random_mask, thresholds, base, blur_sigma):
    """uint8 ``[T + 2, H, W, C]``: blurred, one bokeh image per threshold, original."""
    if base == "interpolate":
        make = lambda mask: interpolate_image(image, mask)  # noqa: E731
    else:
        blurred = np.round(blur_images(image[None].astype(np.float32), blur_sigma)[0])
        blurred = blurred.clip(0, 255).astype(np.uint8)
        make = lambda mask: np.where(mask[..., None], image, blurred)  # noqa: E731
    out = [make(random_mask)]
    for t in thresholds:
        mask = (saliency >= np.quantile(saliency, 1.0 - t)) | random_mask
        out.append(make(mask))
    out.append(image)
    return np.stack(out)


def _image_curve(info, preds, min_pred_value, normalization, keep_monotonous, curve_x):
    """One image's PIC curve at ``curve_x`` (or a skip reason), as PAIR's compute_pic_metric."""
    info_blur, info_orig = info[0], info[-1]
    pred_blur, pred_orig = preds[0], preds[-1]
    if pred_orig < min_pred_value:
        return SKIP_LOW_PREDICTION, None
    if info_blur >= info_orig:
        return SKIP_BLUR_INFORMATION, None
    if pred_blur >= pred_orig:
        return SKIP_BLUR_PREDICTION, None
    if normalization == "pair":
        level = np.clip((info[1:-1] - info_blur) / (info_orig - info_blur), 0.0, 1.0)
    else:
        level = np.clip(info[1:-1] / info_orig, 0.0, 1.0)
    perf = np.clip((preds[1:-1] - pred_blur) / (pred_orig - pred_blur), 0.0, 1.0)
    if keep_monotonous:
        perf = np.maximum.accumulate(perf)
    xs = np.concatenate([level, [0.0, 1.0]])
    ys = np.concatenate([perf, [0.0, 1.0]])
    # scipy's interp1d, as PAIR: it sorts the (unsorted, possibly repeated) x itself
    from scipy.interpolate import interp1d
    curve = interp1d(x=xs, y=ys)(curve_x[:-1])
    return "", np.append(curve, 1.0)
