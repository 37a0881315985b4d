"""Faithfulness, uncertainty, sanity and ground-truth metrics, batched, on NumPy 2.

All perturbation metrics take ``(model, images, attributions, class_idx, ...)`` where ``model``
is a :class:`tfpath.ModelFunction` (its target is the score: logit, probability, entropy...),
a Keras model, or a callable ``fn(images) -> scores``; perturbed images are scored in large
batches. Each returns a :class:`MetricResult` (value, per-image scores, standard error, curves).

* :func:`insertion`, :func:`deletion`, :func:`perturbation_curve` — the insertion / deletion
  games (Petsiuk et al., RISE, BMVC 2018)
* :func:`diffid` — DiffID (Yang et al., "Local Path Integration for Attribution", AAAI 2023,
  Eq. 7)
* :func:`pic`, :func:`aic`, :func:`sic` — performance information curves (Kapishnikov et al.,
  XRAI, ICCV 2019), compression or MS-SSIM information
* :func:`uncertainty_curves`, :func:`eic`, :func:`urc` — entropy information and uncertainty
  reduction curves of uncertainty attributions; :func:`select_blur_sigma` — their blur σ by
  the paper's rule (Perez et al., UAI 2022, §4.1)
* :func:`dpp`, :func:`apd`, :func:`coverage`, :func:`prediction_coverage`,
  :func:`distinct_labels`, :func:`label_entropy` (all at once: :func:`diversity.diversity`) —
  the diversity of sets of counterfactuals, and :func:`label_distribution` of a δ-CLUE set;
  :func:`counterfactual_quantities` — uncertainty, distances, cost, class kept and time of each
  counterfactual (Ley, Bhatt and Weller, AAAI 2022, Table 1)
* :func:`completeness` — convergence-delta summary
* :func:`model_randomization` — cascading randomisation sanity check (Adebayo et al. 2018)
* :func:`pointing_game`, :func:`mask_auc`, :func:`mask_mass`, :func:`ground_truth_correlation`
* :func:`faithfulness`, :func:`monotonicity`, :func:`infidelity` — the XAI-Bench tabular
  metrics (Liu et al., "Synthetic Benchmarks for Scientific Research in Explainable Machine
  Learning", NeurIPS Datasets and Benchmarks 2021), taking ``(model, x [n, d], attributions)``

Module layout: :mod:`~tfpath.metrics.results` (:class:`MetricResult`), :mod:`~tfpath.metrics.checks`
(argument checks, :func:`saliency_maps`), :mod:`~tfpath.metrics.scoring` (:class:`Scorer`),
:mod:`~tfpath.metrics.perturb` (unit ranking, fills, perturbed images),
:mod:`~tfpath.metrics.areas` (areas under curves); the channel reduction is
:mod:`tfpath.core.reductions`.
"""
from tfpath.metrics.checks import saliency_maps
from tfpath.metrics.results import MetricResult
from tfpath.metrics.scoring import Scorer
from tfpath.metrics.completeness import completeness
from tfpath.metrics.counterfactuals import CounterfactualQuantities, counterfactual_quantities
from tfpath.metrics.diffid import diffid
# (the report of all of them is tfpath.metrics.diversity.diversity: the module keeps its name)
from tfpath.metrics.diversity import (DiversityReport, apd, coverage, coverage_max,
                                      distinct_labels, dpp, label_distribution, label_entropy,
                                      prediction_coverage)
from tfpath.metrics.ground_truth import (ground_truth_correlation, mask_auc, mask_mass,
                                         pointing_game, rank_correlation)
from tfpath.metrics.perturbation import deletion, insertion, perturbation_curve
from tfpath.metrics.information_curves import PAIR_THRESHOLDS, aic, msssim, pic, sic
from tfpath.metrics.sanity import RandomizationResult, model_randomization
from tfpath.metrics.tabular import faithfulness, infidelity, monotonicity
from tfpath.metrics.uncertainty_curves import (BlurSigmaSelection, eic, select_blur_sigma,
                                               uncertainty_curves, urc)

__all__ = ["MetricResult", "Scorer", "saliency_maps", "completeness", "diffid",
           "ground_truth_correlation", "mask_auc", "mask_mass", "pointing_game",
           "rank_correlation", "deletion", "insertion", "perturbation_curve", "PAIR_THRESHOLDS",
           "aic", "msssim", "pic", "sic", "RandomizationResult", "model_randomization", "eic",
           "uncertainty_curves", "urc", "select_blur_sigma", "BlurSigmaSelection",
           "faithfulness", "monotonicity", "infidelity", "CounterfactualQuantities",
           "counterfactual_quantities", "DiversityReport", "apd", "coverage",
           "coverage_max", "distinct_labels", "dpp", "label_distribution",
           "label_entropy", "prediction_coverage"]
