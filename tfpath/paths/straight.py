"""The straight line γ(α) = x' + α (x - x'), α ∈ [0, 1] (Sundararajan, Taly and Yan, "Axiomatic
Attribution for Deep Networks", ICML 2017, Eq. 1)."""
from dataclasses import dataclass

import numpy as np
import tensorflow as tf


def _per_node(params, like):
    """``params [T, G]`` reshaped to broadcast against ``like [G, ...]`` as ``[T, G, 1, ...]``."""
    return tf.cast(params, like.dtype)[(...,) + (None,) * (like.shape.rank - 1)]


@dataclass(frozen=True)
class StraightPath:
    """Straight path from each row's baseline (α = 0) to its input (α = 1); tangent ``x - x'``.

    α may differ per row (``params [T, G]``): Expected Gradients and LPI draw it at random.
    """

    adaptive = False
    reverse = False
    #: the path starts at each row's baseline and ends at its input, whatever the nodes: F at
    #: its ends is F(baseline) and F(x), which the engine evaluates once per distinct point
    ends_at_rows = True

    def grid(self, n):
        return np.linspace(0.0, 1.0, n)

    def init(self, rows):
        return {"baseline": rows.baseline, "diff": rows.x - rows.baseline, "x": rows.x}, {}

    def points(self, constants, state, params, with_tangents):
        diff = constants["diff"]
        points = constants["baseline"][None] + _per_node(params, diff) * diff[None]
        return points, (diff[None] if with_tangents else None)

    def advance(self, constants, state, points, evaluation, params):
        return None, state

    def start(self, rows):
        return rows.baseline

    def end(self, constants, state):
        return constants["x"]
