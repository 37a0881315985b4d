"""Integrators: integration rules as data, and streaming accumulators (Riemann rules and IDGI).

A path method approximates ``∫_γ ∇F(γ) · dγ`` from gradients at finitely many path points.
tfpath splits this into two independent parts (the Captum ``approximation_methods`` idea):

1. **Rules as data.** A rule turns ``steps`` and a path's node grid ``s_0 < ... `` (the path's
   own parameter, ordered from the baseline to the input) into evaluation parameters ``t_k``
   and weights ``w_k``; the integral is ``Σ_k w_k ∇F(γ(t_k)) · γ'(t_k)``. Every rule below uses
   exactly ``steps`` gradient evaluations, so rules compare at equal cost.

   ============== ======================================================= ==================
   rule           evaluation points                                        weights
   ============== ======================================================= ==================
   linspace_mean  ``steps`` nodes ``linspace`` (both endpoints): PAIR IG  ``(s_N - s_0)/steps``
   left           first ``steps`` of ``steps + 1`` nodes                  segment lengths
   right          last ``steps`` of ``steps + 1`` nodes (PAIR Blur IG)    segment lengths
   midpoint       midpoints of ``steps`` segments                          segment lengths
   trapezoid      ``steps`` nodes (``steps - 1`` segments)                 trapezoid weights
   gauss_legendre ``steps`` Gauss–Legendre nodes on ``[s_0, s_N]``         GL weights
   ============== ======================================================= ==================

2. **Accumulators**, updated chunk by chunk with tensors of shape ``[T, B, ...]`` (``T`` path
   nodes of ``B`` inputs, in path order), so no ``steps × batch × input`` array ever exists:

   * :class:`RuleAccumulator` adds ``Σ_T g ⊙ Δ`` where ``Δ_k = w_k γ'(t_k)`` comes from the path;
   * :class:`IDGIAccumulator` implements IDGI (paper 004, Algorithm 1; spec_004 §3.4):
     ``Σ_j g_j² · d_j / ‖g_j‖²`` with ``d_j = F(x_{j+1}) - F(x_j)``, per-sample norms in float64,
     zero-norm steps skipped and reported as ``residual`` (the official code returns NaN there).

All sums accumulate in float64.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np
import tensorflow as tf

RULES = ("linspace_mean", "left", "right", "midpoint", "trapezoid", "gauss_legendre")
INTEGRATORS = RULES + ("idgi",)


# ---------------------------------------------------------------------------------- rules
def _grid_size(rule: str, steps: int) -> int:
    """Number of path nodes a rule evaluates on for ``steps`` gradient evaluations."""
    if rule in ("left", "right", "midpoint"):
        return steps + 1
    return steps


def rule_points(rule: str, grid, steps: int):
    """Evaluation parameters and weights of ``rule`` on a path's node grid.

    Args:
      rule: one of :data:`RULES`.
      grid: the path's grid function: ``grid(n)`` returns ``n`` node parameters, float64,
        from the baseline (first) to the input (last); ``grid(2)`` is the parameter interval.
      steps: number of gradient evaluations (>= 1; >= 2 for trapezoid).

    Returns:
      ``(params [steps], weights [steps])`` as float64 arrays.

    Raises:
      ValueError: unknown rule, or ``trapezoid`` with fewer than 2 steps.
    """
    if rule not in RULES:
        raise ValueError(f"integrator: unknown rule {rule!r}; expected one of {INTEGRATORS}")
    if rule == "trapezoid" and steps < 2:
        raise ValueError(f"steps: the trapezoid rule needs at least 2 steps, received {steps}")
    a, b = np.asarray(grid(2), np.float64)
    if rule == "gauss_legendre":
        nodes, weights = np.polynomial.legendre.leggauss(steps)
        return a + (b - a) * (nodes + 1.0) / 2.0, weights * (b - a) / 2.0
    nodes = np.asarray(grid(_grid_size(rule, steps)), np.float64)
    if rule == "linspace_mean":
        return nodes, np.full(steps, (b - a) / steps)
    seg = np.diff(nodes)
    if rule == "left":
        return nodes[:-1], seg
    if rule == "right":
        return nodes[1:], seg
    if rule == "midpoint":
        return 0.5 * (nodes[:-1] + nodes[1:]), seg
    w = np.zeros(steps)                                  # trapezoid
    w[:-1] += 0.5 * seg
    w[1:] += 0.5 * seg
    return nodes, w


def check_integrator(name: str, allowed=INTEGRATORS) -> str:
    """Returns ``name`` if it is one of ``allowed``; raises ValueError naming ``integrator``."""
    if name not in allowed:
        raise ValueError(f"integrator: expected one of {tuple(allowed)}, received {name!r}")
    return name


# ---------------------------------------------------------------------------------- accumulators
def _sum_features(t, start_axis):
    return tf.reduce_sum(t, axis=tf.range(start_axis, tf.rank(t)))


def _expand_to(v, like):
    """Reshapes ``v`` of shape [..] (leading dims of ``like``) to broadcast against ``like``."""
    extra = tf.rank(like) - tf.rank(v)
    return tf.reshape(v, tf.concat([tf.shape(v), tf.ones([extra], tf.int32)], 0))


class RuleAccumulator:
    """Accumulates ``Σ_k g_k ⊙ Δ_k`` in float64 (any rule; ``Δ`` carries the weights)."""

    uses_values = False
    key = ("rule",)

    def init(self, x):
        return {"attr": tf.zeros(tf.shape(x), tf.float64)}

    def update(self, state, grads, values, deltas):
        del values
        g = tf.cast(grads, tf.float64)
        return {"attr": state["attr"] + tf.reduce_sum(g * tf.cast(deltas, tf.float64), axis=0)}

    def result(self, state):
        return state["attr"], tf.zeros(tf.shape(state["attr"])[:1], tf.float64)


@dataclass(frozen=True)
class IDGIAccumulator:
    """Streaming IDGI (paper 004, Algorithm 1, line 5), with the gradient of each segment taken
    at its start (``side="left"``, Algorithm 1 and IG) or at its end (``side="right"``, the
    'pair' Blur IG convention of spec_004 §3.5c1, where PAIR's gradients sit at the end of
    each segment nearer the input).

    For nodes ``x_0 .. x_N`` in path order (baseline first), with ``u_j = g_j² / Σ g_j²``
    (per sample, float64)::

        left:  attr = Σ_{j<N} u_j · (F_{j+1} - F_j)        (gradient at x_N unused)
        right: attr = Σ_{j>0} u_j · (F_j - F_{j-1})        (gradient at x_0 unused)

    A step with ``Σ g_j² = 0`` contributes nothing; its ``d_j`` is added to ``residual`` so that
    ``Σ attr + residual = F_N - F_0`` exactly (completeness, spec_004 §3.8). The official code
    divides 0 by 0 there (NaN).
    """

    side: str = "left"
    uses_values = True

    @property
    def key(self):
        return ("idgi", self.side)

    def init(self, x):
        b = tf.shape(x)[0]
        return {"attr": tf.zeros(tf.shape(x), tf.float64),
                "u_prev": tf.zeros(tf.shape(x), tf.float64),
                "zero_prev": tf.zeros([b], tf.bool),
                "f_prev": tf.zeros([b], tf.float64),
                "started": tf.constant(False),
                "residual": tf.zeros([b], tf.float64)}

    def update(self, state, grads, values, deltas):
        del deltas
        g2 = tf.square(tf.cast(grads, tf.float64))                       # [T, B, ...]
        norm2 = _sum_features(g2, 2)                                      # [T, B]
        zero = norm2 <= 0.0
        u = g2 / _expand_to(tf.where(zero, tf.ones_like(norm2), norm2), g2)
        f = tf.cast(values, tf.float64)                                   # [T, B]
        f_all = tf.concat([state["f_prev"][None], f], axis=0)            # [T+1, B]
        d = f_all[1:] - f_all[:-1]                                        # d for segment ending at node t
        if self.side == "left":
            u_seg = tf.concat([state["u_prev"][None], u[:-1]], axis=0)   # gradient at segment start
            zero_seg = tf.concat([state["zero_prev"][None], zero[:-1]], axis=0)
        else:
            u_seg, zero_seg = u, zero
        # the first node of the whole path closes no segment
        t = tf.shape(f)[0]
        first = tf.logical_and(tf.range(t) == 0, tf.logical_not(state["started"]))
        valid = tf.logical_not(first)[:, None] & tf.ones_like(zero_seg)
        d = tf.where(valid, d, tf.zeros_like(d))
        used = tf.logical_and(valid, tf.logical_not(zero_seg))
        attr = state["attr"] + tf.reduce_sum(
            u_seg * _expand_to(tf.where(used, d, tf.zeros_like(d)), u_seg), axis=0)
        residual = state["residual"] + tf.reduce_sum(
            tf.where(tf.logical_and(valid, zero_seg), d, tf.zeros_like(d)), axis=0)
        return {"attr": attr, "u_prev": u[-1], "zero_prev": zero[-1], "f_prev": f[-1],
                "started": tf.constant(True), "residual": residual}

    def result(self, state):
        return state["attr"], state["residual"]


def make_accumulator(integrator: str, idgi_side: str = "left"):
    """The accumulator for an integrator name: IDGI for ``"idgi"``, the rule sum otherwise."""
    return IDGIAccumulator(idgi_side) if integrator == "idgi" else RuleAccumulator()


def idgi_from_path(gradients, values, side: str = "left"):
    """IDGI of one recorded path (NumPy reference form, spec_004 §3.4).

    Args:
      gradients: array ``[N+1, ...]`` of gradients at the path nodes, baseline first.
      values: array ``[N+1]`` of target values at the same nodes.
      side: ``"left"`` (Algorithm 1) or ``"right"`` (see :class:`IDGIAccumulator`).

    Returns:
      ``(attribution [...] float64, residual float)`` with ``attribution.sum() + residual ==
      values[-1] - values[0]``.

    Raises:
      ValueError: mismatched lengths, fewer than 2 nodes, or an unknown side.
    """
    g = np.asarray(gradients, np.float64)
    f = np.asarray(values, np.float64).reshape(-1)
    if g.shape[0] != f.shape[0]:
        raise ValueError(f"values: expected {g.shape[0]} values (one per gradient), received "
                         f"{f.shape[0]}")
    if f.shape[0] < 2:
        raise ValueError("gradients: a path needs at least 2 nodes")
    if side not in ("left", "right"):
        raise ValueError(f"side: expected 'left' or 'right', received {side!r}")
    d = np.diff(f)
    g2 = (g[:-1] if side == "left" else g[1:]) ** 2
    s = g2.reshape(len(d), -1).sum(axis=1)
    ok = s > 0
    w = np.where(ok, d / np.where(ok, s, 1.0), 0.0)
    return np.tensordot(w, g2, axes=1), float(d[~ok].sum())
