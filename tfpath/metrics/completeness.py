"""Completeness (Sundararajan et al. 2017, axiom; kept by IDGI, Yang, Wang and Bilgic, CVPR 2023,
§3.3): Σ attribution = F(x) − F(x').

Summarises the convergence deltas of a batch, e.g. to pick a step count.
"""
from __future__ import annotations

import numpy as np

from tfpath.core import validation
from tfpath.metrics.results import mean_result


def completeness(details=None, *, attributions=None, end_values=None, start_values=None):
    """Convergence-delta summary over a batch: δ_i = Σ a_i − (F(x_i) − F(x'_i)).

    Give either ``details`` (a :class:`tfpath.PathDetails` of a batch, from
    ``GetMaskBatchWithDetails``, or a list of single-input PathDetails), or ``attributions``
    with ``end_values`` F(x) and ``start_values`` F(x').

    Returns:
      :class:`MetricResult` ``"completeness"`` (lower is better): ``per_image`` the relative
      error |δ| / |F(x) − F(x')| (|δ| where the difference is 0), ``value`` its mean;
      ``extra``: ``"delta"`` (signed δ), ``"abs_delta_mean"``, ``"abs_delta_max"``,
      ``"relative_max"``, ``"relative_median"``.

    Raises:
      ValueError: neither or both forms given; details without a convergence delta (plain
      gradients); shapes that do not match; NaN; empty.
    """
    if details is not None:
        if attributions is not None:
            raise ValueError("details: give either details or attributions/end_values/"
                             "start_values, not both")
        items = details if isinstance(details, (list, tuple)) else [details]
        if not items:
            raise ValueError("details: is empty")
        if any(getattr(d, "convergence_delta", None) is None for d in items):
            raise ValueError("details: has no convergence_delta (a method without a path, "
                             "e.g. GradientSaliency)")
        delta = np.concatenate([np.atleast_1d(np.asarray(d.convergence_delta, np.float64))
                                for d in items])
        diff = np.concatenate([np.atleast_1d(np.asarray(d.end_value, np.float64)
                                             - np.asarray(d.start_value, np.float64))
                               for d in items])
    else:
        if attributions is None or end_values is None or start_values is None:
            raise ValueError("attributions: give details, or attributions with end_values "
                             "and start_values")
        a = validation.check_array(attributions, "attributions", min_rank=1)
        n = a.shape[0]
        f1 = validation.check_array(end_values, "end_values", min_rank=1).reshape(-1)
        f0 = validation.check_array(start_values, "start_values", min_rank=1).reshape(-1)
        validation.check_same_shape(f1, (n,), "end_values", "one value per attribution")
        validation.check_same_shape(f0, (n,), "start_values", "one value per attribution")
        diff = f1.astype(np.float64) - f0
        delta = a.reshape(n, -1).astype(np.float64).sum(axis=1) - diff
    if not np.all(np.isfinite(delta)):
        raise ValueError("details: convergence deltas contain NaN or inf")
    abs_delta = np.abs(delta)
    rel = np.where(np.abs(diff) > 0, abs_delta / np.where(diff == 0, 1.0, np.abs(diff)),
                   abs_delta)
    return mean_result("completeness", rel, higher_is_better=False, extra={
        "delta": delta, "abs_delta_mean": float(abs_delta.mean()),
        "abs_delta_max": float(abs_delta.max()), "relative_max": float(rel.max()),
        "relative_median": float(np.median(rel))})
