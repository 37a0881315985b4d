"""Integrated Gradients (Sundararajan, Taly and Yan, "Axiomatic Attribution for Deep Networks",
ICML 2017, Eq. 1) on the straight path, from one baseline or a weighted baseline set."""
from tfpath.core import validation
from tfpath.methods.base import Plan, TFPathSaliency
from tfpath.paths import StraightPath


class IntegratedGradients(TFPathSaliency):
    """IG: ``(x - x') ⊙ ∫_0^1 ∇F(x' + α(x - x')) dα``; PAIR's ``IntegratedGradients``.

    ``GetMask(x_value, call_model_function, call_model_args=None, x_baseline=None,
    x_steps=25, batch_size=None, integrator="linspace_mean", baselines=None,
    baseline_weights=None)``

    With a baseline set (``baselines=``), the mask is ``Σ_b w_b IG(x, b)``: e.g. the black and
    white fiducials averaged, k counterfactuals weighted by cost, or LPI's local references
    with their densities on a deterministic grid (``baselines=tfpath.baselines.
    LocalReferences(distribution)``).

    Args:
      x_value: one input (``GetMaskBatch``: a batch).
      call_model_function: a :class:`tfpath.ModelFunction` or a PAIR call_model_function.
      call_model_args: dict passed to the model function; ``{"class_idx": c}``.
      x_baseline: x'; None means zeros (PAIR's default). One input's shape, or a batch.
      x_steps: number of gradient evaluations per path (PAIR's default 25).
      batch_size: most points per model call; None (default) chooses automatically. PAIR's
        default is 1; results do not depend on it.
      integrator: a rule of :mod:`tfpath.integrate`: the default ``"linspace_mean"`` is
        PAIR's (mean of the gradients at ``linspace(0, 1, x_steps)``, both endpoints), so
        default settings give PAIR's numbers; or ``"idgi"``: IDGI (Yang, Wang and Bilgic, CVPR
        2023, Algorithm 1) on the nodes ``linspace(0, 1, x_steps)``, gradients at each
        segment's start (the one at α = 1 unused); or an integrator object.
      baselines: a baseline set: an array ``[M, ...]`` (shared), ``[B, M, ...]``, or a
        :mod:`tfpath.baselines` object. Exclusive with ``x_baseline``.
      baseline_weights: relative weights ``[M]`` or ``[B, M]`` (default uniform).

    Returns:
      The mask, float32, the input's shape.

    Raises:
      ValueError / TypeError: bad input, baselines of another shape, bad weights,
      ``x_steps < 1`` (``< 2`` for trapezoid and IDGI), unknown integrator, class out of range,
      a model with no gradient path.
    """

    def _plan(self, prep, x_baseline=None, x_steps=25, batch_size=None,
              integrator="linspace_mean", baselines=None, baseline_weights=None):
        integ = self._integrator(integrator, "linspace_mean")
        x_steps = validation.check_positive_int(x_steps, "x_steps",
                                                minimum=2 if integ.needs_values else 1)
        batch_size = validation.check_optional_positive_int(batch_size, "batch_size")
        path = StraightPath()
        return Plan(path, integ, integ.schedule(path, x_steps, "linspace_mean"),
                    self._baseline_set(prep, x_baseline, baselines, baseline_weights),
                    batch_size=batch_size)
