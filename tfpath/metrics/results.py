"""What every metric returns: :class:`MetricResult`, and its standard error."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import numpy as np


@dataclass
class MetricResult:
    """A metric over a batch of inputs.

    Attributes:
      name: the metric's name (``"insertion"``, ``"sic"`` ...).
      value: the aggregate score (usually the mean of ``per_image``; see each metric).
      per_image: one score per input, float64 ``[n]`` (NaN for inputs a metric skips, e.g. PIC's
        filtered images).
      standard_error: standard error of ``value`` (``std / sqrt(n)`` over the valid inputs for
        means; bootstrap for medians).
      higher_is_better: the metric's direction.
      x: the curve's x-axis ``[k]`` (curve metrics), else None.
      curves: per-input curves ``[n, k]``, else None.
      curve: the aggregate curve ``[k]``, else None.
      extra: metric-specific arrays (e.g. raw scores, accuracies).
    """

    name: str
    value: float
    per_image: np.ndarray
    standard_error: float
    higher_is_better: bool = True
    x: Optional[np.ndarray] = None
    curves: Optional[np.ndarray] = None
    curve: Optional[np.ndarray] = None
    extra: dict = field(default_factory=dict)

    def __repr__(self):
        return (f"MetricResult({self.name}: {self.value:.4f} ± {self.standard_error:.4f}, "
                f"n={int(np.sum(np.isfinite(self.per_image)))})")


def standard_error(values) -> float:
    """Standard error of the mean of the finite entries of ``values``.

    Args:
      values: numbers (any shape; flattened); NaN/inf entries are ignored.

    Returns:
      ``std(ddof=1) / sqrt(m)`` over the ``m`` finite entries, 0.0 if ``m < 2``.

    Raises:
      ValueError / TypeError: ``values`` is not convertible to a float array.
    """
    v = np.asarray(values, np.float64).reshape(-1)
    v = v[np.isfinite(v)]
    if v.size < 2:
        return 0.0
    return float(np.std(v, ddof=1) / np.sqrt(v.size))


def mean_result(name, per_image, higher_is_better=True, **kwargs) -> MetricResult:
    """A :class:`MetricResult` whose value is the mean of the finite per-image scores.

    Args:
      name: the metric's name.
      per_image: one score per input ``[n]`` (NaN for skipped inputs).
      higher_is_better: the metric's direction.
      **kwargs: the other fields of :class:`MetricResult` (``x``, ``curves``, ``curve``,
        ``extra``).

    Returns:
      :class:`MetricResult` with ``value`` the mean of the finite scores (NaN if none) and its
      :func:`standard_error`.

    Raises:
      TypeError: an unknown keyword in ``kwargs``.
    """
    per_image = np.asarray(per_image, np.float64)
    finite = per_image[np.isfinite(per_image)]
    value = float(np.mean(finite)) if finite.size else float("nan")
    return MetricResult(name, value, per_image, standard_error(per_image), higher_is_better,
                        **kwargs)
