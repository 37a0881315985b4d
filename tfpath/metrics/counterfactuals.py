"""Per-explanation quantities of counterfactual explanations of uncertainty (Ley, Bhatt and
Weller, "Diverse, Global and Amortised Counterfactual Explanations for Uncertainty Estimates",
AAAI 2022, §Experiments and Figs 4, 9): the uncertainty at each counterfactual (CE), its input
and latent distances to the original, the cost ``H + λx d`` (λx = 0.03, the paper's), whether
it keeps the class, and the time per CE — the same numbers for any method that makes CEs
(CLUE, GLAM-CLUE, the difference-of-means and nearest-neighbour baselines).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np

from tfpath.core import validation


@dataclass
class CounterfactualQuantities:
    """One row per CE (NumPy; ``[B]``, or ``[B, k]`` for k CEs per input).

    Attributes:
      uncertainty: total predictive entropy H at the CE (nats).
      original_uncertainty: H at the original ``[B]``.
      input_distance: ``‖x_CE − x0‖₁`` (the paper's d).
      latent_distance: ``‖z_CE − z0‖₂`` (None without latents).
      cost: ``H + distance_weight · d``.
      label: the CE's predicted class; class_kept: it equals ``class_idx``.
      seconds_per_explanation: the given time over the number of CEs (None without a time).
    """

    uncertainty: np.ndarray
    original_uncertainty: np.ndarray
    input_distance: np.ndarray
    latent_distance: Optional[np.ndarray]
    cost: np.ndarray
    label: np.ndarray
    class_kept: np.ndarray
    seconds_per_explanation: Optional[float]

    @property
    def uncertainty_reduction(self) -> np.ndarray:
        """``H(x0) − H(CE)`` per CE."""
        shape = (-1,) + (1,) * (self.uncertainty.ndim - 1)
        return self.original_uncertainty.reshape(shape) - self.uncertainty

    def summary(self) -> dict:
        """Means over CEs: uncertainty, input / latent distance, cost, class kept (a share), the
        share of CEs below their original's uncertainty, and the time per CE."""
        out = {"uncertainty": float(self.uncertainty.mean()),
               "original_uncertainty": float(self.original_uncertainty.mean()),
               "input_distance": float(self.input_distance.mean()),
               "cost": float(self.cost.mean()),
               "class_kept": float(self.class_kept.mean()),
               "reduced": float(np.mean(self.uncertainty_reduction > 0))}
        if self.latent_distance is not None:
            out["latent_distance"] = float(self.latent_distance.mean())
        if self.seconds_per_explanation is not None:
            out["seconds_per_explanation"] = self.seconds_per_explanation
        return out


def counterfactual_quantities(model, x_original, x_counterfactual, class_idx=None,
                              z_original=None, z_counterfactual=None,
                              distance_weight: float = 0.03, seconds: Optional[float] = None,
                              batch_size: int = 256) -> CounterfactualQuantities:
    """The paper's per-CE quantities for CEs of any method.

    Args:
      model: the classifier (a Bayesian wrapper, a Keras classifier or a callable), as
        :func:`tfpath.uncertainty.predictive_uncertainty` takes it.
      x_original: the inputs x0 ``[B, ...]``.
      x_counterfactual: their CEs ``[B, ...]`` or ``[B, k, ...]``.
      class_idx: the class a CE should keep, an int or ``[B]``; None: x0's predicted class.
      z_original, z_counterfactual: latents ``[B, m]`` and ``[B, (k,) m]``, for the latent
        distance (both or neither).
      distance_weight: λx of the cost (>= 0).
      seconds: the time the method took for all CEs (reported per CE).
      batch_size: rows per classifier call.

    Returns:
      :class:`CounterfactualQuantities`.

    Raises:
      ValueError / TypeError naming the argument: non-finite or mismatched arrays, a class out
      of range, one latent without the other.
    """
    x0 = validation.check_array(x_original, "x_original", min_rank=2)
    ce = validation.check_array(x_counterfactual, "x_counterfactual", min_rank=2)
    b = x0.shape[0]
    single = ce.shape == x0.shape                   # one CE per input, no k axis
    if single:
        ce = ce[:, None]
    if ce.shape[:1] != (b,) or ce.shape[2:] != x0.shape[1:]:
        raise ValueError(f"x_counterfactual: expected shape {x0.shape} or [B, k] + "
                         f"{x0.shape[1:]}, received {ce.shape}")
    k = ce.shape[1]
    distance_weight = validation.check_nonnegative(distance_weight, "distance_weight")
    flat = ce.reshape((b * k,) + x0.shape[1:])
    h0, p0, num_classes = _entropy_and_class(model, x0, batch_size)
    h, label, _ = _entropy_and_class(model, flat, batch_size)
    h, label = h.reshape(b, k), label.reshape(b, k)
    if class_idx is None:
        target = p0
    else:
        target = validation.check_class_indices(class_idx, b, "class_idx")
        validation.check_class_idx(target, num_classes, "class_idx")
    d = np.abs((ce - x0[:, None]).reshape(b, k, -1)).sum(axis=2)
    latent = None
    if (z_original is None) != (z_counterfactual is None):
        raise ValueError("z_counterfactual: give both z_original and z_counterfactual, or "
                         "neither")
    if z_original is not None:
        z0 = validation.check_array(z_original, "z_original", min_rank=2)
        zc = validation.check_array(z_counterfactual, "z_counterfactual", min_rank=2)
        if zc.shape == z0.shape:
            zc = zc[:, None]
        if zc.shape != (b, k, z0.shape[1]):
            raise ValueError(f"z_counterfactual: expected shape {(b, z0.shape[1])} or "
                             f"{(b, k, z0.shape[1])}, received {zc.shape}")
        latent = np.linalg.norm(zc - z0[:, None], axis=2)
    squeeze = (lambda a: a[:, 0]) if single else (lambda a: a)   # noqa: E731
    per = None if seconds is None else float(seconds) / (b * k)
    return CounterfactualQuantities(
        uncertainty=squeeze(h), original_uncertainty=h0, input_distance=squeeze(d),
        latent_distance=None if latent is None else squeeze(latent),
        cost=squeeze(h + distance_weight * d), label=squeeze(label),
        class_kept=squeeze(label == target[:, None]), seconds_per_explanation=per)


def _entropy_and_class(model, x, batch_size):
    """Total entropy, predicted class (argmax of p̄) and the number of classes of a batch."""
    from tfpath.core.model_function import ModelFunction
    from tfpath.core import memo
    from tfpath.uncertainty import measures
    from tfpath.uncertainty.targets import Entropy
    mf = model if isinstance(model, ModelFunction) else memo.memoized(
        model, "counterfactual_quantities", "auto",
        lambda: ModelFunction(model, target=Entropy()))
    parts, p = measures.batched_predictive(mf, x, batch_size)
    return parts.total, p.argmax(axis=1), p.shape[1]
