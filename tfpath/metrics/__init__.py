"""Faithfulness, uncertainty, sanity and ground-truth metrics, batched, on NumPy 2.

All perturbation metrics take ``(model, images, attributions, class_idx, ...)`` where ``model``
is a :class:`tfpath.ModelFunction` (its target is the score: logit, probability, entropy...),
a Keras model, or a callable ``fn(images) -> scores``; perturbed images are scored in large
batches. Each returns a :class:`MetricResult` (value, per-image scores, standard error, curves).

* :func:`insertion`, :func:`deletion`, :func:`perturbation_curve` — RISE games (spec_004 §5.1)
* :func:`diffid` — DiffID (paper 002 Eq. 7, spec_002 §5.2)
* :func:`pic`, :func:`aic`, :func:`sic` — PIC curves (XRAI; spec_004 §5.2-5.3), compression
  or MS-SSIM information
* :func:`uncertainty_curves`, :func:`eic`, :func:`urc` — EIC / URC (paper 000, spec_000 §6)
* :func:`completeness` — convergence-delta summary
* :func:`model_randomization` — cascading randomisation sanity check (Adebayo et al. 2018)
* :func:`pointing_game`, :func:`mask_auc`, :func:`mask_mass`, :func:`ground_truth_correlation`
"""
from tfpath.metrics._common import MetricResult, Scorer, saliency_maps
from tfpath.metrics.completeness import completeness
from tfpath.metrics.diffid import diffid
from tfpath.metrics.ground_truth import (ground_truth_correlation, mask_auc, mask_mass,
                                         pointing_game, rank_correlation)
from tfpath.metrics.perturbation import deletion, insertion, perturbation_curve
from tfpath.metrics.information_curves import PAIR_THRESHOLDS, aic, msssim, pic, sic
from tfpath.metrics.sanity import RandomizationResult, model_randomization
from tfpath.metrics.uncertainty_curves import eic, uncertainty_curves, urc

__all__ = ["MetricResult", "Scorer", "saliency_maps", "completeness", "diffid",
           "ground_truth_correlation", "mask_auc", "mask_mass", "pointing_game",
           "rank_correlation", "deletion", "insertion", "perturbation_curve", "PAIR_THRESHOLDS",
           "aic", "msssim", "pic", "sic", "RandomizationResult", "model_randomization", "eic",
           "uncertainty_curves", "urc"]
