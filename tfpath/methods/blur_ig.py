"""Blur IG (Xu, Venugopalan and Sundararajan, "Attribution in Scale and Space", CVPR 2020) on
the blur path; IDGI with the two node conventions of Yang, Wang and Bilgic (CVPR 2023)."""
import dataclasses

from tfpath import integrate
from tfpath.core import validation
from tfpath.methods.base import Plan, TFPathSaliency
from tfpath.paths import BlurPath

BLUR_CONVENTIONS = ("pair", "canonical")


class BlurIG(TFPathSaliency):
    """Integrated gradients along a blur path from a fully blurred image to the input.

    The method arguments are :meth:`GetMask`'s (PAIR's positional order after
    ``call_model_args``).
    """

    input_rank = 3      # one NHWC image [H, W, C]
    pair_batch_size = 1     # PAIR's calls for a PAIR call_model_function (batch_size=None)

    def GetMask(self, x_value, call_model_function, call_model_args=None, max_sigma=50,
                steps=100, grad_step=0.01, sqrt=False, batch_size=None, integrator="right",
                blur_convention=None, baselines=None, baseline_weights=None):
        """The attribution mask of one input.

        Args:
          call_model_function: a :class:`tfpath.ModelFunction` or a PAIR call_model_function.
          call_model_args: ``{"class_idx": c}`` for a :class:`tfpath.ModelFunction`; for a PAIR
            call_model_function any object, passed to every call untouched.
          x_value: one NHWC image ``[H, W, C]`` (``GetMaskBatch``: ``[B, H, W, C]``).
          max_sigma, steps, grad_step, sqrt: PAIR's ``BlurIG`` arguments and defaults (σ schedule
            ``i·max_sigma/steps``, or its square root; finite-difference step of ∂γ/∂σ).
          batch_size: most points per model call. None (default): PAIR's 1 for a PAIR
            call_model_function (PAIR's ``steps`` calls of one point), automatic for a
            :class:`tfpath.ModelFunction`; ``"auto"``: automatic for any function; an int.
          integrator: default ``"right"`` reproduces PAIR: gradients at σ_0 … σ_{steps-1}, each
            multiplying its segment toward the more blurred image (the end nearer the input). Any
            rule of :mod:`tfpath.integrate` works on the σ grid. ``"idgi"``: IDGI on the
            ``steps + 1`` nodes σ_0 … σ_steps (one more evaluation, at max_sigma).
          blur_convention: IDGI only: ``"pair"`` (the default with IDGI) uses PAIR's gradients
            (at the end of each segment nearer the input); ``"canonical"`` uses Algorithm 1's
            order (gradient at the more blurred end). Giving it with another integrator is an
            error (it would be ignored).
          baselines: tfpath's extension: blur toward baselines, γ(σ) = x' + G_σ * (x - x') (see
            :class:`tfpath.paths.BlurPath`); None is PAIR's Blur IG (x' = 0). An array
            ``[M, ...]`` / ``[B, M, ...]`` or a :mod:`tfpath.baselines` object.
          baseline_weights: relative weights ``[M]`` or ``[B, M]``.

        Returns:
          The mask, float32. Completeness holds against the path's start:
          ``Σ mask ≈ F(x) - F(x' + blur(x - x', max_sigma))`` (``F(x) - F(blur(x))`` by default).

        Raises:
          ValueError / TypeError: non-image input, ``steps < 1``, ``max_sigma <= 0``,
          ``grad_step <= 0``, unknown integrator or convention, and the common input errors.
        """
        return self._run(locals(), batch=False, details=False)

    def GetMaskBatch(self, x_batch, call_model_function, call_model_args=None, max_sigma=50,
                     steps=100, grad_step=0.01, sqrt=False, batch_size=None,
                     integrator="right", blur_convention=None, baselines=None,
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
                           max_sigma=50, steps=100, grad_step=0.01, sqrt=False,
                           batch_size=None, integrator="right", blur_convention=None,
                           baselines=None, baseline_weights=None):
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
                                max_sigma=50, steps=100, grad_step=0.01, sqrt=False,
                                batch_size=None, integrator="right", blur_convention=None,
                                baselines=None, baseline_weights=None):
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

    def _plan(self, prep, *, max_sigma, steps, grad_step, sqrt, batch_size, integrator,
              blur_convention, baselines, baseline_weights):
        integ = self._integrator(integrator, "right")
        steps = validation.check_positive_int(steps, "steps")
        if prep.x.ndim != 4:
            raise ValueError("x_value: Blur IG needs images of shape [H, W, C]; received "
                             f"{prep.x.shape[1:]}")
        max_sigma = validation.check_nonnegative(max_sigma, "max_sigma")
        grad_step = validation.check_nonnegative(grad_step, "grad_step")
        if max_sigma == 0 or grad_step == 0:
            raise ValueError("max_sigma and grad_step: expected values > 0, received "
                             f"max_sigma={max_sigma}, grad_step={grad_step}")
        sqrt = validation.check_bool(sqrt, "sqrt")
        if blur_convention is not None:
            if not isinstance(integ, integrate.IDGI):
                raise ValueError(f"blur_convention: applies to integrator='idgi' only; received "
                                 f"blur_convention={blur_convention!r} with "
                                 f"integrator={integrator!r}")
            if blur_convention not in BLUR_CONVENTIONS:
                raise ValueError(f"blur_convention: expected one of {BLUR_CONVENTIONS}, "
                                 f"received {blur_convention!r}")
            integ = dataclasses.replace(integ, side="right" if blur_convention == "pair"
                                        else "left")
        batch_size = validation.check_batch_size(batch_size)
        path = BlurPath(max_sigma=max_sigma, grad_step=grad_step, sqrt=sqrt)
        return Plan(path, integ, integ.schedule(path, steps, "right"),
                    self._baseline_set(prep, None, baselines, baseline_weights),
                    batch_size=batch_size)
