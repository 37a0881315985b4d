"""Integrated Gradients (Sundararajan et al. 2017, Eq. 1) on the straight path."""
from tfpath import integrate
from tfpath.core import validation
from tfpath.methods.base import TFPathSaliency
from tfpath.paths import StraightPath


class IntegratedGradients(TFPathSaliency):
    """IG: ``(x - x') ⊙ ∫_0^1 ∇F(x' + α(x - x')) dα``; PAIR's ``IntegratedGradients``.

    ``GetMask(x_value, call_model_function, call_model_args=None, x_baseline=None,
    x_steps=25, batch_size=None, integrator="linspace_mean")``

    Args:
      x_value: one input (``GetMaskBatch``: a batch).
      call_model_function: a :class:`tfpath.ModelFunction` or a PAIR call_model_function.
      call_model_args: dict passed to the model function; ``{"class_idx": c}``.
      x_baseline: x'; None means zeros (PAIR's default). One input's shape, or a batch.
      x_steps: number of gradient evaluations (PAIR's default 25).
      batch_size: most points per model call; None (default) chooses automatically. PAIR's
        default is 1; results do not depend on it.
      integrator: a rule of :mod:`tfpath.integrate` — the default ``"linspace_mean"`` is
        PAIR's (mean of the gradients at ``linspace(0, 1, x_steps)``, both endpoints), so
        default settings give PAIR's numbers — or ``"idgi"``: IDGI (paper 004, Algorithm 1) on
        the nodes ``linspace(0, 1, x_steps)``, gradients at each segment's start (the one at
        α = 1 unused, spec_004 §3.5a).

    Returns:
      The mask, float32, the input's shape.

    Raises:
      ValueError / TypeError: bad input, baseline of another shape, ``x_steps < 1``
      (``< 2`` for trapezoid and IDGI), unknown integrator, class out of range, a model with no
      gradient path.
    """

    def _attribute(self, prep, need_values, x_baseline=None, x_steps=25, batch_size=None,
                   integrator="linspace_mean"):
        integrator = integrate.check_integrator(integrator)
        x_steps = validation.check_positive_int(x_steps, "x_steps",
                                                minimum=2 if integrator == "idgi" else 1)
        batch_size = validation.check_optional_positive_int(batch_size, "batch_size")
        baseline = self._baseline(x_baseline, prep.x)
        return self._run_path(prep, StraightPath(), integrator, x_steps, baseline, batch_size)
