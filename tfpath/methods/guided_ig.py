"""Guided IG (Kapishnikov et al., "Guided Integrated Gradients: an Adaptive Path Method for
Removing Noise", CVPR 2021): IG along an adaptive path, all rows stepped together."""
from tfpath.core import validation
from tfpath.methods.base import Plan, TFPathSaliency
from tfpath.paths import GuidedPath


class GuidedIG(TFPathSaliency):
    """Guided IG; PAIR's ``GuidedIG`` algorithm in TensorFlow, one compiled loop per batch.

    The method arguments are :meth:`GetMask`'s (PAIR's positional order after
    ``call_model_args``).
    """

    pair_batch_size = 1     # PAIR's calls for a PAIR call_model_function (batch_size=None)

    def GetMask(self, x_value, call_model_function, call_model_args=None, x_baseline=None,
                x_steps=200, fraction=0.25, max_dist=0.02, batch_size=None, integrator="left",
                baselines=None, baseline_weights=None):
        """The attribution mask of one input.

        Args:
          x_value: one input (``GetMaskBatch``: a batch ``[B, ...]``).
          call_model_function: a :class:`tfpath.ModelFunction` or a PAIR call_model_function.
          call_model_args: ``{"class_idx": c}`` for a :class:`tfpath.ModelFunction`; for a PAIR
            call_model_function any object, passed to every call untouched.
          x_baseline: start of the path; None means zeros (PAIR's default).
          x_steps, fraction, max_dist: PAIR's arguments and defaults (see
            :class:`tfpath.paths.GuidedPath`).
          batch_size: most rows stepped together (each step is one model call on them). None
            (default): one row per call for a PAIR call_model_function (PAIR's ``x_steps``
            calls of one point per input), automatic for a :class:`tfpath.ModelFunction`;
            ``"auto"``: automatic for any function; an int.
          integrator: ``"left"`` (PAIR's sum of ``g(x_j) ⊙ (x_{j+1} - x_j)``) or ``"idgi"``:
            IDGI on the nodes x_0 = baseline … x_steps = end point (Yang, Wang and Bilgic, CVPR
            2023), which evaluates the end point once more.
          baselines: a baseline set (an array ``[M, ...]`` / ``[B, M, ...]`` or a
            :mod:`tfpath.baselines` object); one guided path per (input, baseline), all stepped
            together. Exclusive with ``x_baseline``.
          baseline_weights: relative weights ``[M]`` or ``[B, M]``.

        Returns:
          The mask, float32, the input's shape.

        Raises:
          ValueError / TypeError: ``x_steps < 1``, ``fraction`` outside (0, 1], ``max_dist``
          outside [0, 1], an integrator other than left/idgi, and the common input errors.
        """
        return self._run(locals(), batch=False, details=False)

    def GetMaskBatch(self, x_batch, call_model_function, call_model_args=None, x_baseline=None,
                     x_steps=200, fraction=0.25, max_dist=0.02, batch_size=None,
                     integrator="left", baselines=None, baseline_weights=None):
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
                           x_baseline=None, x_steps=200, fraction=0.25, max_dist=0.02,
                           batch_size=None, integrator="left", baselines=None,
                           baseline_weights=None):
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
                                x_baseline=None, x_steps=200, fraction=0.25, max_dist=0.02,
                                batch_size=None, integrator="left", baselines=None,
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

    def _plan(self, prep, *, x_baseline, x_steps, fraction, max_dist, batch_size, integrator,
              baselines, baseline_weights):
        integ = self._integrator(integrator, "left", adaptive=True)
        x_steps = validation.check_positive_int(x_steps, "x_steps")
        fraction = validation.check_fraction(fraction, "fraction", low_open=True)
        max_dist = validation.check_fraction(max_dist, "max_dist")
        batch_size = validation.check_batch_size(batch_size)
        path = GuidedPath(x_steps, fraction, max_dist)
        return Plan(path, integ, integ.schedule(path, x_steps, "left"),
                    self._baseline_set(prep, x_baseline, baselines, baseline_weights),
                    batch_size=batch_size)
