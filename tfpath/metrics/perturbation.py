"""Insertion and deletion games (Petsiuk et al. 2018, RISE; spec_004 §5.1; spec_003 §4.2).

Insertion starts from a filled image and reveals the input's units (pixels or superpixels) in
descending saliency; deletion starts from the input and fills its units in the same order. The
score of each image along the way is the model's target (any target: a logit, a probability,
or an uncertainty such as predictive entropy), so the same games serve score and uncertainty
attributions.
"""
from __future__ import annotations

import numpy as np

from tfpath.core import validation
from tfpath.metrics import _common as common

MODES = ("insertion", "deletion")


def _prepare(model, images, attributions, class_idx, target, value_range, batch_size, reduce,
             segments, seed, needs_class_name="class_idx"):
    """Checks the shared arguments; returns (scorer, x, class_idx, ranks, counts)."""
    x = common.check_images(images, value_range)
    sal = common.saliency_maps(attributions, x.shape, reduce)
    scorer = common.Scorer(model, target, batch_size)
    c = common.check_class_idx(class_idx, x.shape[0], needs_class_name)
    ranks, counts = common.unit_ranks(sal, segments, seed)
    return scorer, x, c, ranks, counts


def perturbation_curve(model, images, attributions, class_idx=None, *, mode="insertion",
                       steps=20, fractions=None, fill="black", blur_sigma=5.0, segments=None,
                       reduce="abs_sum", normalize=None, auc_rule="trapezoid", target=None,
                       value_range=(0.0, 1.0), batch_size=256, seed=0):
    """Insertion or deletion curve and its area, batched over images and fractions.

    Insertion at fraction f: the ``round(f·U)`` most salient units of the input over ``fill``;
    deletion at f: the input with its ``round(f·U)`` most salient units replaced by ``fill``.
    The curve is the target score against f; the score of one image is the area under its
    curve (trapezoid over f ∈ [0, 1] by default, spec_004 §5.1), and the reported value the mean
    over images (= the area of the mean curve). Insertion: higher is better; deletion: lower.

    Departures and decisions: spec_004 §5.1 fills with black and inserts 5 % chunks of pixels
    (``steps=20``, both endpoints included, as the TMLR reproduction does); spec_002 §5.1 uses
    mean fill at the level of tensor *elements*; here all channels of a pixel move together
    (identical for grey images). Ties are broken at random with ``seed``
    (:func:`tfpath.metrics._common.unit_ranks`).

    Args:
      model: a :class:`tfpath.ModelFunction`, a Keras model or a callable ``fn(images)``
        (see :class:`tfpath.metrics._common.Scorer`).
      images: ``[n, H, W, C]`` float32 inputs in ``value_range``.
      attributions: ``[n, H, W, C]`` (reduced with ``reduce``) or maps ``[n, H, W]``.
      class_idx: one int or one per image (the explained class); None for class-free targets.
      mode: ``"insertion"`` or ``"deletion"``.
      steps: number of equal fraction steps (``steps + 1`` points from 0 to 1), ignored if
        ``fractions`` is given.
      fractions: explicit fractions in [0, 1].
      fill: ``"black"``, ``"white"``, ``"blur"``, ``"mean"`` (mean of the kept pixels), a
        number or baseline images.
      blur_sigma: Gaussian σ (pixels) of ``fill="blur"``.
      segments: None (pixels), an int patch size, or superpixel labels ``[H, W]``/``[n, H, W]``.
      reduce: channel reduction of the attributions (``"abs_sum"``, ``"sum"``, ``"max_abs"``).
      normalize: None, or ``"ratio"``: divide each curve by the score of the unperturbed input
        (spec_004 Table 1b, "probability ratio"; spec_002's fractional output).
      auc_rule: ``"trapezoid"`` or ``"mean"`` of the points.
      target: override the ModelFunction's target (e.g. ``"probability"``).
      value_range: the inputs' valid range; black/white fills are its ends.
      batch_size: perturbed images per model call.
      seed: tie-breaking seed.

    Returns:
      :class:`tfpath.metrics.MetricResult` with ``x`` (fractions), ``curves [n, k]``, ``curve``
      (mean), ``per_image`` areas, ``value``; ``extra["scores"]`` (raw, unnormalised),
      ``extra["full_scores"]`` F(x), ``extra["accuracy"]`` ``[n, k]`` (argmax == class) when the
      model gives class outputs.

    Raises:
      ValueError / TypeError naming the argument: images outside ``value_range``, attributions
      of another shape or with NaN, empty batches, unknown mode/fill/reduce, fractions outside
      [0, 1], zero full scores with ``normalize="ratio"``.
    """
    common.check_choice(mode, MODES, "mode")
    common.check_choice(normalize, (None, "ratio"), "normalize")
    if fractions is None:
        steps = validation.check_positive_int(steps, "steps")
        fractions = np.linspace(0.0, 1.0, steps + 1)
    fractions = common.check_fractions(fractions)
    scorer, x, c, ranks, counts = _prepare(model, images, attributions, class_idx, target,
                                           value_range, batch_size, reduce, segments, seed)
    base = common.fill_images(x, fill, value_range, blur_sigma)
    scores, predicted = common.perturbed_scores(scorer, x, ranks, counts, c, fractions,
                                                keep_top=(mode == "insertion"), fill=base)
    full, _ = scorer(x, c)
    curves = _normalize(scores, full, normalize)
    extra = {"scores": scores, "full_scores": full}
    if predicted is not None and c is not None:
        extra["accuracy"] = (predicted == c[:, None]).astype(np.float64)
    return common.mean_result(mode, common.area(curves, fractions, auc_rule),
                              higher_is_better=(mode == "insertion"), x=fractions,
                              curves=curves, curve=curves.mean(axis=0), extra=extra)


def _normalize(scores, full, normalize):
    if normalize is None:
        return scores
    if np.any(full == 0):
        raise ValueError("normalize: 'ratio' divides by the score of the unperturbed input, "
                         "which is 0 for some inputs; use normalize=None")
    return scores / full[:, None]


def insertion(model, images, attributions, class_idx=None, **kwargs):
    """Insertion game: :func:`perturbation_curve` with ``mode="insertion"`` (higher is better).

    Defaults follow spec_004 §5.1 (black start, 5 % pixel steps, trapezoid area); pass
    ``target="probability"`` and ``normalize="ratio"`` for the IDGI paper's two variants.
    """
    return perturbation_curve(model, images, attributions, class_idx, mode="insertion",
                              **kwargs)


def deletion(model, images, attributions, class_idx=None, **kwargs):
    """Deletion game: :func:`perturbation_curve` with ``mode="deletion"`` (lower is better)."""
    return perturbation_curve(model, images, attributions, class_idx, mode="deletion",
                              **kwargs)
