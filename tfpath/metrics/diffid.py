"""DiffID (paper 002, Eq. 7; spec_002 §5.2): insertion minus deletion at the same fraction."""
from __future__ import annotations

import numpy as np

from tfpath.metrics import _common as common
from tfpath.metrics.perturbation import _normalize, _prepare

DEFAULT_DELTAS = tuple(np.round(np.arange(1, 10) * 0.1, 10))
MEASURES = ("output", "accuracy")


def diffid(model, images, attributions, class_idx, *, deltas=DEFAULT_DELTAS, measure="output",
           fill="mean", blur_sigma=5.0, segments=None, reduce="abs_sum", normalize="ratio",
           auc_rule="mean", target=None, value_range=(0.0, 1.0), batch_size=256, seed=0):
    """DiffID ψ(x, δ) = F(Ins(x, 1 − δ)) − F(Del(x, δ)) and its area over δ (higher is better).

    Ins(x, 1 − δ) keeps the (1 − δ) fraction of most salient pixels (i.e. removes the δ least
    salient); Del(x, δ) removes the δ **most** salient. The paper's text says Del removes the
    "least" salient: spec_002 §5.2 shows that is a typo (it would make ψ ≡ 0), and the authors'
    code removes the most salient, which is what is implemented. Removed pixels take the mean of
    the preserved pixels (spec_002 §5.1, pooled over channels), the grid is δ ∈ {0.1, …, 0.9}.

    * ``measure="output"``: ψ_out(δ) = F_y(Ins)/F_y(x) − F_y(Del)/F_y(x) (``normalize="ratio"``,
      the paper's fractional output of raw logits, no filtering of non-positive logits);
      ``normalize=None`` uses the raw difference F_y(Ins) − F_y(Del).
    * ``measure="accuracy"``: ψ_acc(δ) = 1[argmax F(Ins) = y] − 1[argmax F(Del) = y].

    The area over δ uses ``auc_rule`` (spec_002 §5.3: the code computes none; ``"mean"`` of the 9
    points is the default, ``"trapezoid"`` the alternative). Departure: pixels (all channels
    together) are ranked, not the C·H·W tensor elements of the authors' code; identical for grey
    images. ``class_idx`` plays the role of the label y.

    Args:
      model: a :class:`tfpath.ModelFunction`, Keras model or callable (see ``Scorer``).
      images: ``[n, H, W, C]`` inputs in ``value_range``.
      attributions: ``[n, H, W, C]`` or maps ``[n, H, W]``.
      class_idx: the class y per image (int or ``[n]``); required.
      deltas: the removed fractions δ.
      measure: ``"output"`` or ``"accuracy"``.
      fill, blur_sigma, segments, reduce, target, value_range, batch_size, seed: as in
        :func:`tfpath.metrics.perturbation_curve`.
      normalize: ``"ratio"`` (default) or None, for ``measure="output"``.
      auc_rule: ``"mean"`` (default) or ``"trapezoid"``.

    Returns:
      :class:`tfpath.metrics.MetricResult`: ``x`` = deltas, ``curves`` ψ per image ``[n, 9]``,
      ``curve`` their mean, ``per_image`` areas, ``value`` their mean; ``extra`` holds the
      insertion and deletion curves (``"insertion"``, ``"deletion"``).

    Raises:
      ValueError / TypeError naming the argument (see ``perturbation_curve``); ``measure=
      "accuracy"`` on a model without class outputs.
    """
    common.check_choice(measure, MEASURES, "measure")
    common.check_choice(normalize, (None, "ratio"), "normalize")
    deltas = common.check_fractions(deltas, "deltas")
    scorer, x, c, ranks, counts = _prepare(model, images, attributions, class_idx, target,
                                           value_range, batch_size, reduce, segments, seed)
    c = common.check_class_idx(c, x.shape[0], required=True)
    base = common.fill_images(x, fill, value_range, blur_sigma)
    ins, ins_pred = common.perturbed_scores(scorer, x, ranks, counts, c, 1.0 - deltas,
                                            keep_top=True, fill=base)
    dele, del_pred = common.perturbed_scores(scorer, x, ranks, counts, c, deltas,
                                             keep_top=False, fill=base)
    if measure == "accuracy":
        if ins_pred is None:
            raise ValueError("measure: 'accuracy' needs a model with one output per class")
        ins = (ins_pred == c[:, None]).astype(np.float64)
        dele = (del_pred == c[:, None]).astype(np.float64)
    else:
        full, _ = scorer(x, c)
        ins, dele = _normalize(ins, full, normalize), _normalize(dele, full, normalize)
    psi = ins - dele
    return common.mean_result("diffid", common.area(psi, deltas, auc_rule), x=deltas,
                              curves=psi, curve=psi.mean(axis=0),
                              extra={"insertion": ins, "deletion": dele})
