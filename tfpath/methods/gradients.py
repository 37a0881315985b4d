"""Vanilla gradient saliency (Simonyan et al. 2014): the gradient of the target at the input."""
from tfpath import engine
from tfpath.methods.base import TFPathSaliency


class GradientSaliency(TFPathSaliency):
    """``∂F/∂x`` at the input, PAIR's ``GradientSaliency`` on tfpath's engine.

    ``GetMask(x_value, call_model_function, call_model_args=None)`` returns the gradient, the
    input's shape. It has no path: ``GetMaskWithDetails`` reports no convergence delta.
    ``GetSmoothedMask`` is SmoothGrad, its samples batched.
    """

    def _attribute(self, prep, need_values):
        _, grads = engine.evaluate_points(prep.evaluator, prep.x, prep.class_idx)
        return grads, None, None, None
