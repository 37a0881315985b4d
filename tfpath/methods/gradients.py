"""Vanilla gradient saliency (Simonyan, Vedaldi and Zisserman, "Deep Inside Convolutional
Networks", ICLR workshop 2014): the gradient of the target at the input."""
from tfpath import engine
from tfpath.methods.base import PathDetails, TFPathSaliency, check_finite


class GradientSaliency(TFPathSaliency):
    """``∂F/∂x`` at the input, PAIR's ``GradientSaliency`` on tfpath's engine.

    ``GetMask(x_value, call_model_function, call_model_args=None)`` returns the gradient, the
    input's shape. It has no path: ``GetMaskWithDetails`` reports no convergence delta.
    ``GetSmoothedMask`` is SmoothGrad, its samples batched.
    """

    def _plan(self, prep):  # pragma: no cover - never called: no path, see _compute
        """GradientSaliency has no path, hence no method arguments (its signature says so)."""
        raise AssertionError("GradientSaliency computes its mask in _compute")

    def _compute(self, prep, details, **kwargs):
        values, grads = engine.evaluate_points(prep.evaluator, prep.x, prep.class_idx)
        return PathDetails(check_finite(grads), None, None, None,
                           values if details else None, None)
