"""Integrated Gradients (Sundararajan, Taly and Yan, "Axiomatic Attribution for Deep Networks",
ICML 2017, Eq. 1) on the straight path, from one baseline or a weighted baseline set."""
from tfpath.core import validation
from tfpath.methods.base import Plan, TFPathSaliency
from tfpath.paths import StraightPath


class IntegratedGradients(TFPathSaliency):
    """IG: ``(x - x') ⊙ ∫_0^1 ∇F(x' + α(x - x')) dα``; PAIR's ``IntegratedGradients``.

    With a baseline set (``baselines=``), the mask is ``Σ_b w_b IG(x, b)``: e.g. the black and
    white fiducials averaged, k counterfactuals weighted by cost, or LPI's local references
    with their densities on a deterministic grid (``baselines=tfpath.baselines.
    LocalReferences(distribution)``).

    The method arguments are :meth:`GetMask`'s (PAIR's positional order after
    ``call_model_args``).
    """

    pair_batch_size = 1     # PAIR's calls for a PAIR call_model_function (batch_size=None)

    def GetMask(self, x_value, call_model_function, call_model_args=None, x_baseline=None,
                x_steps=25, batch_size=None, integrator="linspace_mean", baselines=None,
                baseline_weights=None):
        """The attribution mask of one input.

        Args:
          x_value: one input (``GetMaskBatch``: a batch).
          call_model_function: a :class:`tfpath.ModelFunction` or a PAIR call_model_function.
          call_model_args: ``{"class_idx": c}`` for a :class:`tfpath.ModelFunction`; for a PAIR
            call_model_function any object, passed to every call untouched.
          x_baseline: x'; None means zeros (PAIR's default). One input's shape, or a batch.
          x_steps: number of gradient evaluations per path (PAIR's default 25).
          batch_size: most points per model call. None (default): PAIR's 1 for a PAIR
            call_model_function (PAIR's calls: ``x_steps`` calls of one point), automatic for a
            :class:`tfpath.ModelFunction`; ``"auto"``: automatic for any function (the fast
            path for a plain function that handles batches); an int. Results do not depend on
            it.
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
        return self._run(locals(), batch=False, details=False)

    def GetMaskBatch(self, x_batch, call_model_function, call_model_args=None, x_baseline=None,
                     x_steps=25, batch_size=None, integrator="linspace_mean", baselines=None,
                     baseline_weights=None):
        """The masks of a batch of inputs, computed together.

        Args:
          x_batch: the inputs ``[B, ...]``.
          call_model_function, call_model_args: as :meth:`GetMask`;
            ``call_model_args["class_idx"]`` may hold one class per input.
          Other arguments: as :meth:`GetMask` (one value, or one per input where it says so).

        Returns:
          float32 masks, ``x_batch``'s shape.

        Raises:
          ValueError / TypeError: as :meth:`GetMask`; ``x_batch`` of one input's rank (use
          :meth:`GetMask`).
        """
        return self._run(locals(), batch=True, details=False)

    def GetMaskWithDetails(self, x_value, call_model_function, call_model_args=None,
                           x_baseline=None, x_steps=25, batch_size=None,
                           integrator="linspace_mean", baselines=None, baseline_weights=None):
        """The mask of one input with its convergence delta and target values.

        Args:
          x_value: one input.
          Other arguments: as :meth:`GetMask`.

        Returns:
          :class:`~tfpath.PathDetails` (see its attributes) of the input.

        Raises:
          ValueError / TypeError: as :meth:`GetMask`. Warns (UserWarning) when
          ``F(x) ≈ F(x')`` (a degenerate, ~zero attribution).
        """
        return self._run(locals(), batch=False, details=True)

    def GetMaskBatchWithDetails(self, x_batch, call_model_function, call_model_args=None,
                                x_baseline=None, x_steps=25, batch_size=None,
                                integrator="linspace_mean", baselines=None,
                                baseline_weights=None):
        """:meth:`GetMaskWithDetails` for a batch ``[B, ...]``; arrays gain a leading batch axis.

        Args:
          x_batch: the inputs ``[B, ...]``.
          Other arguments: as :meth:`GetMaskBatch`.

        Returns:
          :class:`~tfpath.PathDetails` with a leading batch axis.

        Raises:
          As :meth:`GetMaskBatch`. Warns (UserWarning) naming the inputs whose ``F(x) ≈ F(x')``.
        """
        return self._run(locals(), batch=True, details=True)

    def _plan(self, prep, *, x_baseline, x_steps, batch_size, integrator, baselines,
              baseline_weights):
        integ = self._integrator(integrator, "linspace_mean")
        x_steps = validation.check_positive_int(x_steps, "x_steps",
                                                minimum=2 if integ.needs_values else 1)
        batch_size = validation.check_batch_size(batch_size)
        path = StraightPath()
        return Plan(path, integ, integ.schedule(path, x_steps, "linspace_mean"),
                    self._baseline_set(prep, x_baseline, baselines, baseline_weights),
                    batch_size=batch_size)
