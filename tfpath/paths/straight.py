"""The straight line γ(α) = x' + α (x - x'), α ∈ [0, 1] (IG, Sundararajan et al. 2017, Eq. 1)."""
import numpy as np
import tensorflow as tf


class StraightPath:
    """Straight path from the baseline (α = 0) to the input (α = 1); tangent ``x - x'``."""

    key = ("straight",)
    adaptive = False

    def grid(self, n):
        return np.linspace(0.0, 1.0, n)

    def init(self, x, baseline):
        return {"x": x, "baseline": baseline}

    def points(self, state, params):
        a = tf.reshape(tf.cast(params, tf.float32), [-1, 1] + [1] * (state["x"].shape.rank - 1))
        return state["baseline"][None] + a * (state["x"] - state["baseline"])[None]

    def advance(self, state, points, grads, params, weights):
        w = tf.reshape(tf.cast(weights, tf.float32), [-1, 1] + [1] * (state["x"].shape.rank - 1))
        return w * (state["x"] - state["baseline"])[None], state

    def endpoints(self, x, baseline):
        return baseline, x
