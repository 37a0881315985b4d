"""Insertion and deletion games (Petsiuk, Das and Saenko, "RISE: Randomized Input Sampling for
Explanation of Black-box Models", BMVC 2018, §4.1).

Insertion starts from a filled image and reveals the input's units (pixels or superpixels) in
descending saliency; deletion starts from the input and fills its units in the same order. The
score of each image along the way is the model's target (any target: a logit, a probability,
or an uncertainty such as predictive entropy), so the same games serve score and uncertainty
attributions.
"""
from __future__ import annotations

import numpy as np

from tfpath.core import validation
from tfpath.metrics.areas import area
from tfpath.metrics.checks import (check_choice, check_class_idx, check_fractions, check_images,
                                   saliency_maps)
from tfpath.metrics.perturb import COUNT_RULES, fill_images, perturbed_scores, unit_ranks
from tfpath.metrics.results import mean_result
from tfpath.metrics.scoring import Scorer

MODES = ("insertion", "deletion")
NORMALIZATIONS = (None, "ratio")


def prepare_inputs(model, images, attributions, class_idx, target, value_range, batch_size,
                   reduce, segments, seed):
    """Checks the arguments shared by the perturbation metrics and ranks the units.

    Args:
      model, target, batch_size: as in :class:`tfpath.metrics.scoring.Scorer`.
      images: ``[n, H, W, C]`` in ``value_range``.
      attributions: ``[n, H, W, C]`` or maps ``[n, H, W]``.
      class_idx: None, an int or ``[n]`` ints.
      value_range: the inputs' range.
      reduce: the channel reduction (:func:`tfpath.metrics.checks.saliency_maps`).
      segments, seed: units and tie-breaking seed (:func:`tfpath.metrics.perturb.unit_ranks`).

    Returns:
      ``(scorer, images [n, H, W, C] float32, class_idx [n] or None, ranks, counts)``.

    Raises:
      ValueError / TypeError naming the argument (see the checks used).
    """
    x = check_images(images, value_range)
    sal = saliency_maps(attributions, x.shape, reduce)
    scorer = Scorer(model, target, batch_size)
    c = check_class_idx(class_idx, x.shape[0])
    ranks, counts = unit_ranks(sal, segments, seed)
    return scorer, x, c, ranks, counts


def normalize_curves(scores, full, normalize):
    """Divides each row of ``scores`` by the score of its unperturbed input, or not.

    Args:
      scores: ``[n, k]``.
      full: the unperturbed scores F(x) ``[n]``.
      normalize: None (returns ``scores``) or ``"ratio"``.

    Returns:
      ``[n, k]``.

    Raises:
      ValueError naming ``normalize``: ``"ratio"`` with a zero full score.
    """
    if normalize is None:
        return scores
    if np.any(full == 0):
        raise ValueError("normalize: 'ratio' divides by the score of the unperturbed input, "
                         "which is 0 for some inputs; use normalize=None")
    return scores / full[:, None]


def perturbation_curve(model, images, attributions, class_idx=None, *, mode="insertion",
                       steps=20, fractions=None, fill="black", blur_sigma=5.0, segments=None,
                       reduce="abs_sum", normalize=None, auc_rule="trapezoid", target=None,
                       value_range=(0.0, 1.0), batch_size=256, seed=0, count_rule="round"):
    """Insertion or deletion curve and its area, batched over images and fractions.

    Insertion at fraction f: the ``k`` most salient units of the input over ``fill``;
    deletion at f: the input with its ``k`` most salient units replaced by ``fill``, where
    ``k = rint(f·U)`` of the ``U`` units (``count_rule="round"``, the default: the count
    nearest to f·U, ties to even) or ``⌊f·U⌋`` (``"floor"``, Python's ``int(U * f)``). The
    curve is the target score against f; the score of one image is the area under its curve
    (trapezoid over f ∈ [0, 1] by default), and the reported value the mean over images (= the
    area of the mean curve). Insertion: higher is better; deletion: lower.

    Decisions: the default fills with black and moves 5 % chunks of pixels (``steps=20``, both
    endpoints included); all channels of a pixel move together (identical to moving tensor
    elements for grey images). Ties are broken at random with ``seed``
    (:func:`tfpath.metrics.perturb.unit_ranks`).

    Args:
      model: a :class:`tfpath.ModelFunction`, a Keras model or a callable ``fn(images)``
        (see :class:`tfpath.metrics.Scorer`).
      images: ``[n, H, W, C]`` float32 inputs in ``value_range``.
      attributions: ``[n, H, W, C]`` or maps ``[n, H, W]``, both reduced with ``reduce``
        (maps as one channel: ``"abs_sum"``/``"max_abs"`` rank by ``|a|``, ``"sum"`` by ``a``).
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
        (the "probability ratio" / fractional output variant).
      auc_rule: ``"trapezoid"`` or ``"mean"`` of the points.
      target: override the ModelFunction's target (e.g. ``"probability"``).
      value_range: the inputs' valid range; black/white fills are its ends.
      batch_size: perturbed images per model call.
      seed: tie-breaking seed.
      count_rule: ``"round"`` (default) or ``"floor"``: how ``f·U`` becomes a unit count.

    Returns:
      :class:`tfpath.metrics.MetricResult` with ``x`` (fractions), ``curves [n, k]``, ``curve``
      (mean), ``per_image`` areas, ``value``; ``extra["scores"]`` (raw, unnormalised),
      ``extra["full_scores"]`` F(x), ``extra["accuracy"]`` ``[n, k]`` (argmax == class) when the
      model gives class outputs.

    Raises:
      ValueError / TypeError naming the argument: images outside ``value_range``, attributions
      of another shape or with NaN, empty batches, unknown mode/fill/reduce/count_rule,
      fractions outside [0, 1], zero full scores with ``normalize="ratio"``.
    """
    check_choice(mode, MODES, "mode")
    check_choice(normalize, NORMALIZATIONS, "normalize")
    check_choice(count_rule, COUNT_RULES, "count_rule")
    if fractions is None:
        steps = validation.check_positive_int(steps, "steps")
        fractions = np.linspace(0.0, 1.0, steps + 1)
    fractions = check_fractions(fractions)
    scorer, x, c, ranks, counts = prepare_inputs(model, images, attributions, class_idx, target,
                                                 value_range, batch_size, reduce, segments,
                                                 seed)
    base = fill_images(x, fill, value_range, blur_sigma)
    scores, predicted = perturbed_scores(
        scorer, x, ranks, counts, c, fractions,
        "insert_top" if mode == "insertion" else "delete_top", base, count_rule=count_rule)
    full, _ = scorer(x, c)
    curves = normalize_curves(scores, full, normalize)
    extra = {"scores": scores, "full_scores": full}
    if predicted is not None and c is not None:
        extra["accuracy"] = (predicted == c[:, None]).astype(np.float64)
    return mean_result(mode, area(curves, fractions, auc_rule),
                       higher_is_better=(mode == "insertion"), x=fractions, curves=curves,
                       curve=curves.mean(axis=0), extra=extra)


def insertion(model, images, attributions, class_idx=None, **kwargs):
    """Insertion game: :func:`perturbation_curve` with ``mode="insertion"`` (higher is better).

    Defaults: black start, 5 % pixel steps, trapezoid area, ``count_rule="round"``; pass
    ``target="probability"`` and ``normalize="ratio"`` for the probability and probability-ratio
    variants of Yang, Wang and Bilgic ("IDGI: A Framework to Eliminate Explanation Noise from
    Integrated Gradients", CVPR 2023).

    Args:
      model, images, attributions, class_idx: as in :func:`perturbation_curve`.
      **kwargs: the keyword arguments of :func:`perturbation_curve` (``count_rule`` ...),
        except ``mode``.

    Returns:
      :class:`tfpath.metrics.MetricResult` named ``"insertion"``.

    Raises:
      ValueError / TypeError: as :func:`perturbation_curve`.
    """
    return perturbation_curve(model, images, attributions, class_idx, mode="insertion",
                              **kwargs)


def deletion(model, images, attributions, class_idx=None, **kwargs):
    """Deletion game: :func:`perturbation_curve` with ``mode="deletion"`` (lower is better).

    Args:
      model, images, attributions, class_idx: as in :func:`perturbation_curve`.
      **kwargs: the keyword arguments of :func:`perturbation_curve` (``count_rule`` ...),
        except ``mode``.

    Returns:
      :class:`tfpath.metrics.MetricResult` named ``"deletion"``.

    Raises:
      ValueError / TypeError: as :func:`perturbation_curve`.
    """
    return perturbation_curve(model, images, attributions, class_idx, mode="deletion",
                              **kwargs)
