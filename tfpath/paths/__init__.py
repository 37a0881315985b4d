"""Paths from a baseline to the input.

A path object is static configuration plus TensorFlow-traceable methods the engine calls
inside its compiled loop, for a batch of ``B`` inputs ``x`` and baselines::

    grid(n)                         -> n node parameters, baseline first (parametric paths)
    init(x, baseline)               -> state (nested tensors, fixed shapes)
    points(state, params [T])       -> [T, B, ...] float32 points
    advance(state, points, grads, params, weights) -> (deltas [T, B, ...], new state)
    endpoints(x, baseline)          -> (start [B, ...], end [B, ...])

``deltas`` are what a Riemann rule multiplies the gradients by: ``w_k γ'(t_k)`` on parametric
paths, the actual displacement on adaptive ones. ``key`` identifies the compiled program.
"""
from tfpath.paths.straight import StraightPath
from tfpath.paths.blur import BlurPath, gaussian_blur
from tfpath.paths.guided import GuidedPath

__all__ = ["StraightPath", "BlurPath", "GuidedPath", "gaussian_blur"]
