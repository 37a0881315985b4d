"""The generative path of Perez et al. ("Attribution of Predictive Uncertainties in
Classification Models", UAI 2022, §3.1, Eq. 3, Fig. 2): the decoded latent line
``δψ(α) = ψ(z0 + α (z - z0))`` from the counterfactual fiducial ψ(z0) to the reconstruction
ψ(z), chained with the straight tail ``ψ(z) + β (x - ψ(z))`` to the input.

The path has two pieces (``pieces``): the latent line on parameters [0, 1] and the tail on
[2, 3] (the gap keeps the junction ψ(z) two distinct nodes, one per piece). Integration rules
are applied to each piece separately (:mod:`tfpath.integrate`), with the same number of nodes
on each, as the authors' code does. The latent piece's tangent is the decoder's directional
derivative ``J_ψ(z_α) (z - z0)`` by forward mode (``tf.autodiff.ForwardAccumulator``): one JVP
per node, batched over all nodes of a chunk, never a Jacobian. Eq. (3)'s
``Σ_j (z_j - z0_j) ∂H/∂δψ,i · ∂δψ,i/∂z_j`` is then the pixel-wise product of ∇H at ψ(z_α) and
that tangent.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import tensorflow as tf

from tfpath.core import keras_utils

Z_BASELINE_KEY = "generative.z_baseline"      # row context: z0 [G, m]
Z_INPUT_KEY = "generative.z_input"            # input context: z [G, m]
LATENT, TAIL = (0.0, 1.0), (2.0, 3.0)         # the pieces' parameter intervals


def _on(interval):
    a, b = interval
    return lambda n: np.linspace(a, b, n)


@dataclass(frozen=True, eq=False)
class Decoder:
    """A decoder ψ (a Keras model or a TF callable ``z [n, m] -> [n, ...]``), equal and hashed
    by the identity of the wrapped decoder: it is part of the compiled loop's key, so calls with
    the same decoder reuse one compiled loop."""

    fn: Any

    def __eq__(self, other):
        return isinstance(other, Decoder) and other.fn is self.fn

    def __hash__(self):
        return id(self.fn)

    def __call__(self, z):
        return tf.convert_to_tensor(keras_utils.call_inference(self.fn, z))


@dataclass(frozen=True)
class GenerativePath:
    """ψ(z0) → ψ(z) along the decoded latent line, then (``tail``) straight to x.

    Each row's z0 is in its context under :data:`Z_BASELINE_KEY` (so k counterfactual latents
    per input are k rows), each input's z under :data:`Z_INPUT_KEY`; the row's baseline is
    ψ(z0). Without the tail the path ends at ψ(z) (the paper's Eq. 3 alone; attributions then
    sum to F(ψ(z)) - F(ψ(z0))).

    Args:
      decoder: a :class:`Decoder`.
      tail: include the straight piece ψ(z) → x (the paper's domain and the code: default).
    """

    decoder: Decoder
    tail: bool = True
    adaptive = False
    reverse = False

    @property
    def piece_grids(self):
        """The node grids of the pieces, in loop order (rules apply to each piece)."""
        return (_on(LATENT), _on(TAIL)) if self.tail else (_on(LATENT),)

    def grid(self, n):
        """The whole parameter range (its ends only are meaningful: integrators take the
        nodes of :attr:`piece_grids`; parameters in the gap (1, 2) are not on the path)."""
        return np.linspace(0.0, TAIL[1] if self.tail else LATENT[1], n)

    def init(self, rows):
        z0 = tf.cast(rows.context[Z_BASELINE_KEY], tf.float32)
        z = tf.cast(rows.context[Z_INPUT_KEY], tf.float32)
        reconstruction = tf.reshape(self.decoder(z), tf.shape(rows.x))
        constants = {"z0": z0, "dz": z - z0, "reconstruction": reconstruction, "x": rows.x,
                     "tail": rows.x - reconstruction}
        return constants, {}

    def _latent(self, constants, params, with_tangents):
        t, g = params.shape
        alpha = tf.cast(tf.clip_by_value(params, LATENT[0], LATENT[1]), tf.float32)
        dz = constants["dz"]
        z = tf.reshape(constants["z0"][None] + alpha[..., None] * dz[None], [t * g, -1])
        shape = [t, g] + constants["x"].shape[1:].as_list()
        if not with_tangents:
            return tf.reshape(self.decoder(z), shape), None
        direction = tf.reshape(tf.tile(dz[None], [t, 1, 1]), [t * g, -1])
        with tf.autodiff.ForwardAccumulator(primals=z, tangents=direction) as acc:
            decoded = self.decoder(z)
        return tf.reshape(decoded, shape), tf.reshape(acc.jvp(decoded), shape)

    def _tail(self, constants, params, with_tangents):
        tail = constants["tail"]
        beta = tf.cast(tf.clip_by_value(params - TAIL[0], 0.0, 1.0), tail.dtype)
        beta = beta[(...,) + (None,) * (tail.shape.rank - 1)]
        points = constants["reconstruction"][None] + beta * tail[None]
        return points, (tf.broadcast_to(tail[None], tf.shape(points)) if with_tangents
                        else None)

    def points(self, constants, state, params, with_tangents):
        if not self.tail:
            return self._latent(constants, params, with_tangents)
        on_latent = params <= LATENT[1]

        def run(*branches):
            # tensors only (tf.cond takes no None): (points,) or (points, tangents)
            outs = [b(constants, params, with_tangents) for b in branches]
            if len(outs) == 2:
                mask = tf.reshape(on_latent, on_latent.shape + (1,) * (outs[0][0].shape.rank - 2))
                outs = [tuple(tf.where(mask, a, b) for a, b in zip(*[o[:1 + with_tangents]
                                                                       for o in outs]))]
            return tuple(outs[0][:1 + with_tangents])

        # a chunk usually lies on one piece: decode only where the nodes are
        out = tf.cond(tf.reduce_all(on_latent), lambda: run(self._latent),
                      lambda: tf.cond(tf.reduce_any(on_latent),
                                      lambda: run(self._latent, self._tail),
                                      lambda: run(self._tail)))
        return (out[0], out[1]) if with_tangents else (out[0], None)

    def advance(self, constants, state, points, evaluation, params):
        return None, state

    def start(self, rows):
        return rows.baseline

    def end(self, constants, state):
        return constants["x"] if self.tail else constants["reconstruction"]
