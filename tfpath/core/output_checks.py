"""Checks of a model's outputs against what a model function declares (at the boundary).

:func:`check_outputs` runs on the first outputs a :class:`tfpath.ModelFunction` sees, so errors
name the user's argument (``output=``, ``call_model_args['class_idx']``, ``target``) instead of
surfacing inside a compiled loop.
"""
from __future__ import annotations

from typing import Optional

import numpy as np

from tfpath.core import validation


def check_outputs(outputs: np.ndarray, target, output_kind: str, class_idx: Optional[np.ndarray],
                  class_name: str) -> Optional[int]:
    """Checks raw model outputs, the classes asked for and the declared output kind.

    Args:
      outputs: the model's outputs on a few inputs, ``[n]``, ``[n, K]`` or ``[n, S, K]``.
      target: the model function's :class:`tfpath.targets.Target`.
      output_kind: ``"logits"``, ``"probabilities"`` or ``"scores"``.
      class_idx: int array ``[n]`` or None.
      class_name: how the class argument is named in messages.

    Returns:
      The number of classes K (None for outputs without a class axis).

    Raises:
      ValueError: NaN/inf outputs; a missing or out-of-range class; probabilities declared as
        logits or the reverse.
    """
    if not np.all(np.isfinite(outputs)):
        raise ValueError("model: produced NaN or inf outputs on the given input")
    num_classes = outputs.shape[-1] if outputs.ndim >= 2 else None
    needs_class = target.needs_class and num_classes is not None and num_classes > 1
    if needs_class and class_idx is None:
        raise ValueError(
            f"{class_name}: target {target.name!r} on a model with {num_classes} outputs needs "
            "a class index; none was given")
    if class_idx is not None and num_classes is not None:
        validation.check_class_idx(class_idx, num_classes, class_name)
    if output_kind in ("logits", "probabilities") and num_classes is not None and num_classes > 1:
        sums = outputs.sum(axis=-1)
        looks_like_probs = bool(np.all(outputs >= 0) and np.allclose(sums, 1.0, atol=1e-3))
        if output_kind == "logits" and looks_like_probs:
            raise ValueError(
                "output: declared (or inferred) 'logits', but the model's outputs are "
                "non-negative and sum to 1 over the last axis: they look like probabilities. "
                "Pass output='probabilities' (targets 'probability', 'entropy', ...), or "
                "remove the final softmax to explain logits.")
        if output_kind == "probabilities" and not looks_like_probs:
            raise ValueError(
                "output: declared (or inferred) 'probabilities', but the model's outputs do "
                "not sum to 1 over the last axis (or are negative): they look like logits. "
                "Pass output='logits'.")
    return num_classes


def mean_prediction(outputs) -> np.ndarray:
    """Outputs as one prediction per row: the mean over the sample axis of Bayesian outputs
    ``[n, S, K]``, other outputs unchanged."""
    out = np.asarray(outputs)
    return out.mean(axis=1) if out.ndim == 3 else out


def predicted_classes(outputs) -> Optional[np.ndarray]:
    """The class each row's (mean) prediction ranks first, ``[n]``; None for outputs without
    a class axis of at least two classes."""
    out = mean_prediction(outputs)
    if out.ndim == 2 and out.shape[1] > 1:
        return out.argmax(axis=1)
    return None
