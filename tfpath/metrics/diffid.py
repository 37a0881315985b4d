"""DiffID (Yang et al., "Local Path Integration for Attribution", AAAI 2023, Eq. 7): insertion
minus deletion at the same removed fraction."""
from __future__ import annotations

import numpy as np

from tfpath.metrics.areas import area
from tfpath.metrics.checks import check_choice, check_class_idx, check_fractions
from tfpath.metrics.perturb import COUNT_RULES, fill_images, perturbed_scores
from tfpath.metrics.perturbation import NORMALIZATIONS, normalize_curves, prepare_inputs
from tfpath.metrics.results import mean_result

DEFAULT_DELTAS = tuple(np.round(np.arange(1, 10) * 0.1, 10))
MEASURES = ("output", "accuracy")


def diffid(model, images, attributions, class_idx, *, deltas=DEFAULT_DELTAS, measure="output",
           fill="mean", blur_sigma=5.0, segments=None, reduce="abs_sum", normalize="ratio",
           auc_rule="mean", target=None, value_range=(0.0, 1.0), batch_size=256, seed=0,
           count_rule="floor"):
    """DiffID ψ(x, δ) = F(Ins(x, 1 − δ)) − F(Del(x, δ)) and its area over δ (higher is better).

    Ins(x, 1 − δ) keeps the most salient pixels and removes the ``k`` least salient; Del(x, δ)
    removes the ``k`` **most** salient; both remove the same number ``k`` of the ``U`` pixels
    (units). The paper's text says Del removes the "least" salient: read literally, Ins and Del
    would be the same image and ψ ≡ 0, and the authors' code (ypeiyu/LPI, ``evaluator.py``,
    ``Evaluator.DiffID``) removes the most salient, which is what is implemented. Removed pixels
    take the mean of the preserved pixels (pooled over channels, as in that code); the grid is
    δ ∈ {0.1, …, 0.9}.

    Removed count: ``count_rule="floor"`` (the default) removes ``k = ⌊δ·U⌋`` units, which is
    the authors' ``num_delete = int(num_elements * del_ratio)``, so tfpath perturbs exactly the
    images that code perturbs (for pixel units of grey images). ``"round"`` removes
    ``rint(δ·U)`` (the rule of :func:`tfpath.metrics.perturbation_curve`). The two differ when
    δ·U is not an integer (e.g. U = 16, δ = 0.1: 1 vs 2 pixels).

    * ``measure="output"``: ψ_out(δ) = F_y(Ins)/F_y(x) − F_y(Del)/F_y(x) (``normalize="ratio"``,
      the paper's fractional output of raw logits, no filtering of non-positive logits);
      ``normalize=None`` uses the raw difference F_y(Ins) − F_y(Del).
    * ``measure="accuracy"``: ψ_acc(δ) = 1[argmax F(Ins) = y] − 1[argmax F(Del) = y].

    The area over δ uses ``auc_rule`` (the authors' code reports the points and computes no
    area; ``"mean"`` of the 9 points is the default, ``"trapezoid"`` the alternative).
    Departure: pixels (all channels together) are ranked, not the C·H·W tensor elements of the
    authors' code; identical for grey images. ``class_idx`` plays the role of the label y.

    Args:
      model: a :class:`tfpath.ModelFunction`, Keras model or callable (see ``Scorer``).
      images: ``[n, H, W, C]`` inputs in ``value_range``.
      attributions: ``[n, H, W, C]`` or maps ``[n, H, W]``, both reduced with ``reduce`` (maps
        as one channel: the default ``"abs_sum"`` ranks them by ``|a|``, ``"sum"`` by ``a``).
      class_idx: the class y per image (int or ``[n]``); required.
      deltas: the removed fractions δ.
      measure: ``"output"`` or ``"accuracy"``.
      fill, blur_sigma, segments, reduce, target, value_range, batch_size, seed: as in
        :func:`tfpath.metrics.perturbation_curve`.
      normalize: ``"ratio"`` (default) or None, for ``measure="output"``.
      auc_rule: ``"mean"`` (default) or ``"trapezoid"``.
      count_rule: ``"floor"`` (default, the authors' code) or ``"round"``.

    Returns:
      :class:`tfpath.metrics.MetricResult`: ``x`` = deltas, ``curves`` ψ per image ``[n, 9]``,
      ``curve`` their mean, ``per_image`` areas, ``value`` their mean; ``extra`` holds the
      insertion and deletion curves (``"insertion"``, ``"deletion"``).

    Raises:
      ValueError / TypeError naming the argument (see ``perturbation_curve``); ``measure=
      "accuracy"`` on a model without class outputs.
    """
    check_choice(measure, MEASURES, "measure")
    check_choice(normalize, NORMALIZATIONS, "normalize")
    check_choice(count_rule, COUNT_RULES, "count_rule")
    deltas = check_fractions(deltas, "deltas")
    scorer, x, c, ranks, counts = prepare_inputs(model, images, attributions, class_idx, target,
                                                 value_range, batch_size, reduce, segments,
                                                 seed)
    c = check_class_idx(c, x.shape[0], required=True)
    base = fill_images(x, fill, value_range, blur_sigma)
    ins, ins_pred = perturbed_scores(scorer, x, ranks, counts, c, deltas, "delete_bottom", base,
                                     count_rule=count_rule)
    dele, del_pred = perturbed_scores(scorer, x, ranks, counts, c, deltas, "delete_top", base,
                                      count_rule=count_rule)
    if measure == "accuracy":
        if ins_pred is None:
            raise ValueError("measure: 'accuracy' needs a model with one output per class")
        ins = (ins_pred == c[:, None]).astype(np.float64)
        dele = (del_pred == c[:, None]).astype(np.float64)
    else:
        full, _ = scorer(x, c)
        ins, dele = normalize_curves(ins, full, normalize), normalize_curves(dele, full,
                                                                             normalize)
    psi = ins - dele
    return mean_result("diffid", area(psi, deltas, auc_rule), x=deltas, curves=psi,
                       curve=psi.mean(axis=0), extra={"insertion": ins, "deletion": dele})
