"""Vanilla gradient saliency (Simonyan, Vedaldi and Zisserman, "Deep Inside Convolutional
Networks", ICLR workshop 2014): the gradient of the target at the input."""
from tfpath import engine
from tfpath.methods.base import PathDetails, TFPathSaliency, check_finite


class GradientSaliency(TFPathSaliency):
    """``∂F/∂x`` at the input, PAIR's ``GradientSaliency`` on tfpath's engine.

    It has no path, hence no method arguments: ``GetMaskWithDetails`` reports no convergence
    delta. ``GetSmoothedMask`` is SmoothGrad, its samples batched.
    """

    def GetMask(self, x_value, call_model_function, call_model_args=None):
        """The gradient of the target at one input (PAIR's ``GradientSaliency.GetMask``).

        Args:
          x_value: one input.
          call_model_function: a :class:`tfpath.ModelFunction` or a PAIR call_model_function.
          call_model_args: ``{"class_idx": c}`` for a :class:`tfpath.ModelFunction`; for a PAIR
            call_model_function any object, passed to every call untouched.

        Returns:
          The gradient, float32, the input's shape.

        Raises:
          ValueError / TypeError: bad input, class out of range, a model with no gradient
          path from the input to the target (naming ``call_model_function``), a gradient that
          is not finite.
        """
        return self._run(locals(), batch=False, details=False)

    def GetMaskBatch(self, x_batch, call_model_function, call_model_args=None):
        """The gradients at a batch of inputs, computed together.

        Args:
          x_batch: the inputs ``[B, ...]``.
          call_model_function, call_model_args: as :meth:`GetMask`;
            ``call_model_args["class_idx"]`` may hold one class per input.

        Returns:
          float32 gradients, ``x_batch``'s shape.

        Raises:
          ValueError / TypeError: as :meth:`GetMask`; ``x_batch`` of one input's rank (use
          :meth:`GetMask`).
        """
        return self._run(locals(), batch=True, details=False)

    def GetMaskWithDetails(self, x_value, call_model_function, call_model_args=None):
        """The gradient of one input and the target's value there.

        Args:
          x_value, call_model_function, call_model_args: as :meth:`GetMask`.

        Returns:
          :class:`~tfpath.PathDetails` with ``mask`` and ``end_value`` (F(x)); no path, so no
          convergence delta.

        Raises:
          As :meth:`GetMask`.
        """
        return self._run(locals(), batch=False, details=True)

    def GetMaskBatchWithDetails(self, x_batch, call_model_function, call_model_args=None):
        """:meth:`GetMaskWithDetails` for a batch ``[B, ...]``; arrays gain a leading batch axis.

        Args:
          x_batch, call_model_function, call_model_args: as :meth:`GetMaskBatch`.

        Returns:
          :class:`~tfpath.PathDetails` with a leading batch axis.

        Raises:
          As :meth:`GetMaskBatch`.
        """
        return self._run(locals(), batch=True, details=True)

    def _plan(self, prep):  # pragma: no cover - never called: no path, see _compute
        """GradientSaliency has no path, hence no method arguments."""
        raise AssertionError("GradientSaliency computes its mask in _compute")

    def _compute(self, prep, details, **kwargs):
        values, grads = engine.evaluate_points(prep.evaluator, prep.x, prep.class_idx)
        return PathDetails(check_finite(grads), None, None, None,
                           values if details else None, None)
