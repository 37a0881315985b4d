"""GradPath, the path of IG² (Zhuo and Ge, "IG²: Integrated Gradient on Iterative Gradient Path
for Feature Attribution", IEEE TPAMI 2024, Algorithm 1 and Eq. 5).

From the input x, each row descends the distance between the model's representation of the
current point and that of a counterfactual reference x^r, by normalised gradient steps::

    p_0 = x,   p_{j+1} = clip(p_j - η_j · g(p_j) / W(g(p_j)), low, high),
    g(p) = ∇_p D(f̃(p), f̃(x^r))

(D the representation distance, W the step normalisation). The end point p_k is the GradCF,
IG²'s baseline; IG² integrates the explained target's gradient back along the path,
``φ = Σ_{j<k} ∇F(p_j) ⊙ (p_j - p_{j+1})`` (the authors' code's index convention; the printed
Eq. 8 runs one index off, from GradCF to just before x), which sums to ``F(x) - F(GradCF)`` up
to the Riemann error. In tfpath's terms the path is adaptive and *reversed* (it starts at the
input and its final state is the baseline it found), like AGI's.

f̃(x^r) is computed once per reference and travels with each row as the context
``"reference_features"``; the step size η of each row is the context ``"step_size"``. The
representation, the distance and the target all come from the same forward pass per step
(:class:`RepresentationDistance` is an auxiliary quantity of the evaluator).

Normalisations (Appendix A.2):

* ``"l2"``: ``g / max(‖g‖₂, ε)`` over all of a row's features, so every unclipped step has
  length η exactly and the path length is kη. The authors' code divides by ‖g‖₂ with no ε
  (a zero gradient gives NaN); here a zero gradient gives a zero step;
* ``"l1_sparse"`` (Eq. 21, after sparse adversarial attacks): the set S of the top
  ``(100 - percentile)`` % of features by ``|g|`` (ties at the threshold included, zero
  gradients excluded) move by ``η · sign(g) / |S|`` (ℓ1 length η), the others stay. The
  printed Eq. 21 is garbled; this is tfpath's reading. Not in the authors' code.

Distances (§7.3): ``"sqeuclidean"`` ``‖f̃(p) - f̃(x^r)‖²`` (the paper's Eq. 4; the code's
``MSELoss`` differs by a constant factor that normalisation removes), ``"cosine"``
``1 - cos(f̃(p), f̃(x^r))`` and ``"l1"`` ``‖f̃(p) - f̃(x^r)‖₁`` (the paper does not print the
latter two; these are tfpath's forms).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np
import tensorflow as tf

from tfpath.core.representation import Representation
from tfpath.paths import ranges

REFERENCE_KEY = "reference_features"
STEP_KEY = "step_size"
DISTANCES = ("sqeuclidean", "cosine", "l1")
NORMS = ("l2", "l1_sparse")


def distance(features, reference, kind: str):
    """Per-row distance between ``features`` and ``reference`` (``[n, ...]`` each): ``[n]``."""
    f = tf.reshape(tf.cast(features, tf.float32), [tf.shape(features)[0], -1])
    r = tf.reshape(tf.cast(reference, tf.float32), tf.shape(f))
    if kind == "sqeuclidean":
        return tf.reduce_sum(tf.square(f - r), axis=1)
    if kind == "l1":
        return tf.reduce_sum(tf.abs(f - r), axis=1)
    cos = tf.reduce_sum(tf.math.l2_normalize(f, axis=1, epsilon=1e-12)
                        * tf.math.l2_normalize(r, axis=1, epsilon=1e-12), axis=1)
    return 1.0 - cos


@dataclass(frozen=True)
class RepresentationDistance:
    """The distance between a row's representation and its reference's (with its gradient)."""

    representation: Representation
    kind: str = "sqeuclidean"
    name = "representation_distance"
    gradient = True

    def __call__(self, outputs, context, model_function, features):
        return distance(features, context[REFERENCE_KEY], self.kind)


@dataclass(frozen=True)
class GradPath:
    """IG²'s GradPath (see the module docstring).

    Args:
      representation: where the features are read
        (:class:`~tfpath.core.representation.Representation`).
      distance: ``"sqeuclidean"``, ``"cosine"`` or ``"l1"``.
      norm: ``"l2"`` or ``"l1_sparse"``.
      percentile: ``"l1_sparse"``'s sparsity: the top ``100 - percentile`` % of features move
        (the paper tries 90 – 98.5).
      low, high: the clip range (None: no clipping on that side). The code clips after every
        step; Algorithm 1 does not clip.
      epsilon: the ℓ2 norm's floor.
    """

    representation: Representation = Representation()
    distance: str = "sqeuclidean"
    norm: str = "l2"
    percentile: float = 95.0
    low: Optional[float] = None
    high: Optional[float] = None
    epsilon: float = 1e-12
    adaptive = True
    reverse = True
    summaries = ("path_length",)

    @property
    def auxiliary(self):
        return (RepresentationDistance(self.representation, self.distance),)

    def grid(self, n):
        return np.arange(n, dtype=np.float64)

    def init(self, rows):
        n = tf.shape(rows.x)[0]
        return ({"step_size": tf.cast(rows.context[STEP_KEY], tf.float32)},
                {"x": rows.x, "length": tf.zeros([n], tf.float32)})

    def points(self, constants, state, params, with_tangents):
        return state["x"][None], None

    def _direction(self, g):
        """The normalised step direction of gradients ``g [G, ...]``."""
        flat = tf.reshape(g, [tf.shape(g)[0], -1])
        if self.norm == "l2":
            norm = tf.norm(flat, axis=1, keepdims=True)
            return tf.reshape(flat / tf.maximum(norm, self.epsilon), tf.shape(g))
        features = int(np.prod(g.shape[1:]))
        keep = max(1, int(np.ceil(features * (100.0 - self.percentile) / 100.0)))
        magnitude = tf.abs(flat)
        kth = tf.reduce_min(tf.math.top_k(magnitude, k=keep, sorted=False).values, axis=1,
                            keepdims=True)
        chosen = tf.cast((magnitude >= kth) & (magnitude > 0), flat.dtype)   # S (ties kept)
        count = tf.maximum(tf.reduce_sum(chosen, axis=1, keepdims=True), 1.0)
        return tf.reshape(tf.sign(flat) * chosen / count, tf.shape(g))

    def advance(self, constants, state, points, evaluation, params):
        g = evaluation.aux[RepresentationDistance.name][1][0]              # [G, ...]
        x = state["x"]
        eta = constants["step_size"][(...,) + (None,) * (x.shape.rank - 1)]
        x_new = ranges.clip(x - eta * self._direction(g), self.low, self.high)
        displacement = x_new - x
        step = tf.norm(tf.reshape(displacement, [tf.shape(x)[0], -1]), axis=1)
        return displacement[None], {"x": x_new, "length": state["length"] + step}

    def start(self, rows):
        return rows.x

    def end(self, constants, state):
        return state["x"]

    def summarize(self, constants, state):
        return {"path_length": state["length"]}
