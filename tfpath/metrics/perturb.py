"""Perturbed images of the metrics: unit ranking, fills, and their batched scores.

Every perturbation metric of :mod:`tfpath.metrics` is the same three steps:

1. reduce the attribution ``[n, H, W, C]`` to a saliency map ``[n, H, W]``
   (:func:`tfpath.metrics.checks.saliency_maps`);
2. rank pixels (or superpixels) by saliency (:func:`unit_ranks`) and build, for each fraction,
   an image that keeps some units of the input and fills the rest (:func:`perturbed_scores`);
3. score all those images in large batches (:class:`tfpath.metrics.scoring.Scorer`).
"""
from __future__ import annotations

import numpy as np

from tfpath.core import validation
from tfpath.metrics.checks import check_choice

FILLS = ("black", "white", "blur", "mean")
#: how a fraction ``f`` of ``U`` units becomes a count: ``"round"`` = rint(f·U) (half to even),
#: ``"floor"`` = ⌊f·U⌋ (Python's ``int(U * f)``, as in Yang et al.'s DiffID code)
COUNT_RULES = ("round", "floor")
#: which units of the input a perturbed image fills, see :func:`perturbed_scores`
ORDERS = ("insert_top", "delete_top", "delete_bottom")


# ------------------------------------------------------------------------------------ ranking
def segment_labels(segments, n, h, w):
    """Unit labels per pixel and unit counts per image.

    Args:
      segments: None (every pixel is a unit); an int ``s`` (``s × s`` square patches); or an
        int array of labels ``[H, W]`` or ``[n, H, W]`` (e.g. SLIC superpixels), relabelled to
        0..U-1 per image.
      n, h, w: the batch size and image size.

    Returns:
      ``(labels [n, H·W] int in 0..U_i-1, counts [n] int U_i)``.

    Raises:
      TypeError: non-integer labels or patch size. ValueError: labels of another shape, a
      patch size < 1.
    """
    if segments is None:
        labels = np.broadcast_to(np.arange(h * w), (n, h * w))
        return labels, np.full([n], h * w)
    if isinstance(segments, (int, np.integer)) and not isinstance(segments, bool):
        s = validation.check_positive_int(int(segments), "segments")
        rows, cols = np.meshgrid(np.arange(h) // s, np.arange(w) // s, indexing="ij")
        lab = (rows * (-(-w // s)) + cols).reshape(-1)
        _, lab = np.unique(lab, return_inverse=True)
        return np.broadcast_to(lab, (n, h * w)), np.full([n], lab.max() + 1)
    seg = np.asarray(segments)
    if not np.issubdtype(seg.dtype, np.integer):
        raise TypeError(f"segments: expected None, an int patch size or integer labels, "
                        f"received dtype {seg.dtype}")
    if seg.shape == (h, w):
        seg = np.broadcast_to(seg, (n, h, w))
    if seg.shape != (n, h, w):
        raise ValueError(f"segments: expected labels of shape {(h, w)} or {(n, h, w)}, received "
                         f"{seg.shape}")
    labels = np.empty((n, h * w), np.int64)
    counts = np.empty([n], np.int64)
    for i in range(n):
        _, labels[i] = np.unique(seg[i].reshape(-1), return_inverse=True)
        counts[i] = labels[i].max() + 1
    return labels, counts


def unit_ranks(saliency, segments=None, seed=0):
    """Rank of every pixel's unit by descending saliency (0 = most salient), and unit counts.

    A unit's saliency is the mean over its pixels. Ties (e.g. the exactly-zero attributions of
    black pixels under a black baseline) are broken uniformly at random with ``seed``: a fixed
    order (raster scan) would add a spatial bias that differs between methods.

    Args:
      saliency: float ``[n, H, W]`` maps.
      segments: units, as in :func:`segment_labels`.
      seed: seed of the tie-breaking.

    Returns:
      ``(ranks [n, H·W] int, counts [n] int)``.

    Raises:
      TypeError / ValueError: bad ``segments`` (see :func:`segment_labels`).
    """
    n, h, w = saliency.shape
    labels, counts = segment_labels(segments, n, h, w)
    rng = np.random.default_rng(seed)
    flat = saliency.reshape(n, -1)
    ranks = np.empty((n, h * w), np.int64)
    for i in range(n):
        u = counts[i]
        score = np.bincount(labels[i], weights=flat[i], minlength=u) / np.maximum(
            np.bincount(labels[i], minlength=u), 1)
        order = np.lexsort((rng.random(u), -score))
        unit_rank = np.empty(u, np.int64)
        unit_rank[order] = np.arange(u)
        ranks[i] = unit_rank[labels[i]]
    return ranks, counts


def unit_counts(fractions, counts, count_rule="round"):
    """How many units each fraction moves, per image.

    Args:
      fractions: float64 ``[k]`` in [0, 1].
      counts: the units per image ``U`` ``[n]``.
      count_rule: ``"round"`` (rint(f·U), half to even) or ``"floor"`` (⌊f·U⌋, i.e.
        ``int(U * f)`` in float64, bit for bit as Python computes it).

    Returns:
      int64 ``[n, k]`` in 0..U.

    Raises:
      ValueError naming ``count_rule``: unknown rule.
    """
    check_choice(count_rule, COUNT_RULES, "count_rule")
    product = np.asarray(fractions, np.float64)[None, :] * np.asarray(counts)[:, None]
    k = np.rint(product) if count_rule == "round" else np.floor(product)
    return k.astype(np.int64)


# ------------------------------------------------------------------------------------ fills
def blur_images(images, sigma):
    """Gaussian blur over H and W (per channel), edges extended (``mode="nearest"``).

    tfpath's one blur, :func:`tfpath.paths.blur.gaussian_blur` (equal to
    ``scipy.ndimage.gaussian_filter(x, (0, σ, σ, 0), mode="nearest")``, truncate 4, to float64
    rounding).

    Args:
      images: ``[n, H, W, C]``.
      sigma: σ in pixels, >= 0 (0 returns the images).

    Returns:
      float32 ``[n, H, W, C]``.

    Raises:
      ValueError / TypeError naming ``blur_sigma``: a negative or non-numeric σ.
    """
    from tfpath.paths.blur import gaussian_blur
    sigma = validation.check_nonnegative(sigma, "blur_sigma")
    blurred = gaussian_blur(np.asarray(images), np.array([sigma]), mode="nearest")[0]
    return np.asarray(blurred, np.float64).astype(np.float32)


def fill_images(images, fill, value_range=(0.0, 1.0), blur_sigma=5.0):
    """The replacement images for ``fill``.

    Args:
      images: ``[n, H, W, C]`` float32.
      fill: ``"black"`` (value_range low), ``"white"`` (high), ``"blur"`` (Gaussian,
        ``blur_sigma``), ``"mean"`` (the mean of the kept pixels of each perturbed image,
        computed later by :func:`perturbed_scores`), a number, or an array of the images'
        shape (or one image's shape).
      value_range: the inputs' range ``(low, high)``.
      blur_sigma: σ of ``fill="blur"``.

    Returns:
      float ``[n, H, W, C]``, or the string ``"mean"``.

    Raises:
      ValueError naming ``fill`` / ``value_range`` / ``blur_sigma``: unknown fill name, an array
      of another shape or with NaN, a bad range or σ.
    """
    if isinstance(fill, str):
        check_choice(fill, FILLS, "fill")
        low, high = validation.check_range(value_range, "value_range")
        if fill == "black":
            return np.full_like(images, low)
        if fill == "white":
            return np.full_like(images, high)
        if fill == "blur":
            return blur_images(images, blur_sigma)
        return "mean"
    if np.ndim(fill) == 0:
        return np.full_like(images, float(fill))
    f = validation.check_array(fill, "fill")
    if f.shape == images.shape[1:]:
        f = np.broadcast_to(f, images.shape)
    validation.check_same_shape(f, images.shape, "fill", "images")
    return f


# ------------------------------------------------------------------------------------ scores
def perturbed_scores(scorer, images, ranks, counts, class_idx, fractions, order, fill,
                     measure=None, count_rule="round"):
    """Scores of images that keep some units of the input and fill the others.

    For fraction ``f`` and an input with ``U`` units, ``k`` units are moved, ``k = rint(f·U)``
    (``count_rule="round"``) or ``⌊f·U⌋`` (``"floor"``), and ``order`` says which:

    * ``"insert_top"``: the ``k`` most salient units of the input are kept, the rest filled
      (the insertion game at fraction ``f``);
    * ``"delete_top"``: the ``k`` most salient units are filled (the deletion game; DiffID's
      Del(x, δ) with ``f = δ``);
    * ``"delete_bottom"``: the ``k`` least salient units are filled (DiffID's Ins(x, 1 − δ)
      with ``f = δ``, so that Ins and Del remove the same number of units).

    All ``n × len(fractions)`` images go to ``scorer`` in its batches; at most about
    ``scorer.batch_size`` perturbed images exist at a time.

    Args:
      scorer: a :class:`tfpath.metrics.scoring.Scorer`.
      images: float32 ``[n, H, W, C]``.
      ranks, counts: from :func:`unit_ranks`.
      class_idx: int ``[n]`` or None.
      fractions: float64 ``[k]`` in [0, 1].
      order: one of :data:`ORDERS`.
      fill: replacement images ``[n, H, W, C]`` or ``"mean"``: the scalar mean of the kept
        pixels over all channels (as Yang et al.'s DiffID code fills); the image's mean if
        nothing is kept.
      measure: optional ``fn(perturbed [m, H, W, C]) -> [m]`` also applied to the perturbed
        images (e.g. their compressed size, for information axes).
      count_rule: one of :data:`COUNT_RULES`.

    Returns:
      ``(values [n, k] float64, predicted [n, k] int or None)``, and the measured ``[n, k]``
      as a third element if ``measure`` is given.

    Raises:
      ValueError: unknown ``order`` or ``count_rule``; the scorer's errors.
    """
    check_choice(order, ORDERS, "order")
    moved = unit_counts(fractions, counts, count_rule)                               # [n, k]
    if order == "delete_bottom":
        top = np.asarray(counts)[:, None] - moved        # the kept units are the most salient
    else:
        top = moved
    keep_top = order != "delete_top"
    n = images.shape[0]
    k = fractions.size
    group = max(1, scorer.batch_size // k)
    values = np.empty((n, k))
    predicted = np.empty((n, k), np.int64)
    measured = np.empty((n, k)) if measure is not None else None
    have_pred = True
    for s in range(0, n, group):
        x = images[s:s + group]
        m = x.shape[0]
        t = top[s:s + group][..., None]                                                # [m,k,1]
        r = ranks[s:s + group][:, None, :]                                             # [m,1,P]
        keep = (r < t) if keep_top else (r >= t)                                       # [m,k,P]
        keep = keep.reshape(m, k, *x.shape[1:3], 1)
        xs = x[:, None]
        if isinstance(fill, str):
            total = (xs * keep).sum(axis=(2, 3, 4), keepdims=True)
            count = keep.sum(axis=(2, 3, 4), keepdims=True) * x.shape[-1]
            base = np.where(count > 0, total / np.maximum(count, 1),
                            x.mean(axis=(1, 2, 3), keepdims=True)[:, None])
        else:
            base = fill[s:s + group][:, None]
        composite = np.where(keep, xs, base).astype(np.float32).reshape(m * k, *x.shape[1:])
        c = None if class_idx is None else np.repeat(class_idx[s:s + group], k)
        v, p = scorer(composite, c)
        values[s:s + m] = v.reshape(m, k)
        if measure is not None:
            measured[s:s + m] = np.asarray(measure(composite), np.float64).reshape(m, k)
        if p is None:
            have_pred = False
        else:
            predicted[s:s + m] = p.reshape(m, k)
    out = values, (predicted if have_pred else None)
    return out if measure is None else out + (measured,)
