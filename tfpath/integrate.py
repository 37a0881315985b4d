"""Integrators: integration rules as data, and streaming accumulators (Riemann rules and IDGI).

A path method approximates ``∫_γ ∇F(γ) · dγ`` from gradients at finitely many path points.
tfpath splits this into two independent parts (the Captum ``approximation_methods`` idea):

1. **Rules as data.** A rule turns ``steps`` and a path's node grid ``s_0 < ... `` (the path's
   own parameter, in loop order) into evaluation parameters ``t_k`` and weights ``w_k``; the
   integral is ``Σ_k w_k ∇F(γ(t_k)) · γ'(t_k)``. Every rule below uses exactly ``steps``
   gradient evaluations, so rules compare at equal cost.

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

2. **Integrators** (:class:`tfpath.protocols.Integrator`): frozen dataclasses that own their
   nodes and weights (:meth:`schedule`) and accumulate chunk by chunk with tensors of shape
   ``[T, G, ...]`` (``T`` nodes of ``G`` rows, in loop order), so no ``steps × batch × input``
   array ever exists:

   * :class:`Rule` adds ``Σ_k w_k g_k ⊙ γ'_k`` (``γ'`` from a parametric path, or an adaptive
     path's displacement, whose weight is 1);
   * :class:`MonteCarlo` is the same weighted sum on nodes drawn by the method (Expected
     Gradients, LPI: one random α per node);
   * :class:`IDGI` implements IDGI (Yang, Wang and Bilgic, "IDGI: A Framework to Eliminate
     Explanation Noise from Integrated Gradients", CVPR 2023, Algorithm 1):
     ``Σ_j g_j² · d_j / ‖g_j‖²`` with ``d_j = F(x_{j+1}) - F(x_j)``, norms in float64,
     zero-norm steps skipped and reported as ``residual`` (the authors' code returns NaN there).

   :func:`get_integrator` resolves the names users pass (``"left"``, ``"idgi"``, ...) against a
   method's *reference rule* (its PAIR default), which fixes IDGI's nodes and side:
   IDGI evaluates the nodes of the reference rule closed by both ends of the path.

Sums over chunks accumulate in float64 (a rule sums the T products of one chunk in the
tangents' dtype first); IDGI works in float64 throughout.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import tensorflow as tf

from tfpath.protocols import Schedule

RULES = ("linspace_mean", "left", "right", "midpoint", "trapezoid", "gauss_legendre")


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
        raise ValueError(f"integrator: unknown rule {rule!r}; expected one of {RULES}")
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


# ---------------------------------------------------------------------------------- helpers
def piece_grids(path):
    """The node grids a rule is applied to. Rules never straddle a junction, where the
    tangent jumps.

    Args:
      path: a :class:`tfpath.protocols.Path`.

    Returns:
      A chained path's ``piece_grids`` (one grid function per piece, in loop order, e.g. the
      generative path's latent line and straight tail), else ``(path.grid,)``.
    """
    return tuple(getattr(path, "piece_grids", None) or (path.grid,))


def _sum_features(t, start_axis):
    if t.shape.rank is not None:                       # static axes: no shape ops at run time
        return tf.reduce_sum(t, axis=list(range(start_axis, t.shape.rank)))
    return tf.reduce_sum(t, axis=tf.range(start_axis, tf.rank(t)))


def _expand_to(v, like):
    """Reshapes ``v`` of shape [..] (leading dims of ``like``) to broadcast against ``like``."""
    if v.shape.rank is not None and like.shape.rank is not None:
        return v[(...,) + (None,) * (like.shape.rank - v.shape.rank)]
    extra = tf.rank(like) - tf.rank(v)
    return tf.reshape(v, tf.concat([tf.shape(v), tf.ones([extra], tf.int32)], 0))


def _ends(params, grid2):
    """Whether the first / last node parameter is the path's first / last end."""
    p = np.asarray(params, np.float64)
    return bool(np.isclose(p[0], grid2[0], rtol=0, atol=1e-12)), bool(
        np.isclose(p[-1], grid2[1], rtol=0, atol=1e-12))


# ---------------------------------------------------------------------------------- integrators
@dataclass(frozen=True)
class Rule:
    """A Riemann or Gauss–Legendre rule: accumulates ``Σ_k w_k g_k ⊙ γ'_k`` (chunks in float64).

    On an adaptive path (Guided IG, AGI) the "tangent" is the step's displacement and only
    ``"left"`` is meaningful: the gradient at x_j multiplies the step x_{j+1} - x_j it guided.

    Args:
      name: one of :data:`RULES`.
    """

    name: str = "linspace_mean"
    needs_values = False
    needs_tangents = True
    needs_ends = False
    random_nodes = False

    def __post_init__(self):
        check_integrator(self.name, RULES)

    @property
    def adaptive_ok(self):
        return self.name == "left"

    def schedule(self, path, steps, reference_rule=None):
        """``steps`` nodes of this rule on ``path.grid``, or on each of a chained path's
        ``piece_grids`` (``steps`` per piece); the reference rule is not used."""
        parts = [rule_points(self.name, grid, steps) for grid in piece_grids(path)]
        params = np.concatenate([p for p, _ in parts])
        first, last = _ends(params, np.asarray(path.grid(2), np.float64))
        return Schedule(params, np.concatenate([w for _, w in parts]), first, last)

    def init(self, x):
        return {"attr": tf.zeros(tf.shape(x), tf.float64)}

    def update(self, state, grads, values, moves, weights):
        # a chunk's T products are summed in the tangents' dtype (float32 on straight paths,
        # float64 on the blur and adaptive paths); chunks accumulate in float64
        del values
        dtype = moves.dtype
        step = moves * _expand_to(tf.cast(weights, dtype), moves)
        chunk = tf.reduce_sum(tf.cast(grads, dtype) * step, axis=0)
        return {"attr": state["attr"] + tf.cast(chunk, tf.float64)}

    def result(self, state, f_first, f_last):
        return state["attr"], None                          # no residual


@dataclass(frozen=True)
class MonteCarlo(Rule):
    """The weighted sum of :class:`Rule` on nodes the method draws at random.

    Expected Gradients (Erion et al., "Improving performance of deep learning models with
    axiomatic attribution priors and expected gradients", Nature Machine Intelligence 2021)
    and LPI (Yang et al., "Local Path Integration for Attribution", AAAI 2023, Eq. 6) draw one
    α ~ U(a, b) per node; the method builds the :class:`~tfpath.protocols.Schedule`
    (``params [K, R]``, weights ``1/K``), so :meth:`schedule` is not available.
    """

    name: str = "left"
    random_nodes = True

    @property
    def adaptive_ok(self):
        return False

    def schedule(self, path, steps, reference_rule=None):
        raise ValueError("integrator: 'monte_carlo' integrates nodes drawn at random by a "
                         "method (ExpectedGradients, LPI); it has no fixed rule for "
                         f"{type(path).__name__}")


@dataclass(frozen=True)
class IDGI:
    """Streaming IDGI (Yang, Wang and Bilgic, CVPR 2023, Algorithm 1, line 5).

    For nodes ``x_0 .. x_N`` in loop order, with ``u_j = g_j² / Σ g_j²`` (per row, float64)::

        left:  attr = Σ_{j<N} u_j · (F_{j+1} - F_j)        (gradient at x_N unused)
        right: attr = Σ_{j>0} u_j · (F_j - F_{j-1})        (gradient at x_0 unused)

    ``side="left"`` takes each segment's gradient at its start (Algorithm 1, IG, Guided IG);
    ``"right"`` at its end (the Blur IG convention that matches PAIR's gradients, which sit at
    the end of each segment nearer the input).

    ``segments="whole"`` is IDGI on nodes drawn at random (Expected Gradients, LPI; a tfpath
    extension): a random node stands for its whole path, so it receives the path's whole
    change ``F(end) - F(start)`` in proportion to its squared gradient, weighted by the node's
    weight: ``attr = Σ_k w_k u_k · (F(x) - F(x'))``; completeness then holds exactly per
    baseline, as it does for IDGI on a path.

    A node with ``Σ g² = 0`` contributes nothing; its share is added to ``residual`` so that
    ``Σ attr + residual = F(x) - F(x')`` exactly (completeness). The authors' code divides
    0 by 0 there (NaN). On reversed paths (AGI) the loop runs from the input, and the
    differences are negated.

    Args:
      side: ``"left"`` or ``"right"``.
      segments: ``"path"`` (consecutive nodes) or ``"whole"`` (random nodes).
    """

    side: str = "left"
    segments: str = "path"
    needs_values = True
    needs_tangents = False

    def __post_init__(self):
        if self.side not in ("left", "right"):
            raise ValueError(f"side: expected 'left' or 'right', received {self.side!r}")
        if self.segments not in ("path", "whole"):
            raise ValueError(f"segments: expected 'path' or 'whole', received {self.segments!r}")

    @property
    def needs_ends(self):
        return self.segments == "whole"

    @property
    def random_nodes(self):
        return self.segments == "whole"

    @property
    def adaptive_ok(self):
        return self.side == "left" and self.segments == "path"

    def schedule(self, path, steps, reference_rule="left"):
        """The nodes of ``reference_rule`` for ``steps``, closed by both ends of the path:
        ``grid(steps)`` for rules that already include both ends (``linspace_mean``,
        ``trapezoid``), ``grid(steps + 1)`` otherwise."""
        if self.segments == "whole":
            raise ValueError("integrator: IDGI on random nodes ('whole' segments) takes the "
                             "nodes a method draws; it has no fixed schedule")
        n = _grid_size(reference_rule, steps) if reference_rule in RULES else steps + 1
        if n < 2:
            raise ValueError(f"steps: IDGI needs at least 2 path nodes, received {n}")
        params = np.concatenate([np.asarray(grid(n), np.float64) for grid in piece_grids(path)])
        return Schedule(params, np.ones_like(params), True, True)

    def init(self, x):
        g = tf.shape(x)[0]
        if self.segments == "whole":
            return {"attr": tf.zeros(tf.shape(x), tf.float64),
                    "zero_share": tf.zeros([g], tf.float64)}
        return {"attr": tf.zeros(tf.shape(x), tf.float64),
                "u_prev": tf.zeros(tf.shape(x), tf.float64),
                "zero_prev": tf.zeros([g], tf.bool),
                "f_prev": tf.zeros([g], tf.float64),
                "started": tf.constant(False),
                "residual": tf.zeros([g], tf.float64)}

    def update(self, state, grads, values, moves, weights):
        del moves
        g2 = tf.square(tf.cast(grads, tf.float64))                       # [T, G, ...]
        norm2 = _sum_features(g2, 2)                                      # [T, G]
        zero = norm2 <= 0.0
        u = g2 / _expand_to(tf.where(zero, tf.ones_like(norm2), norm2), g2)
        if self.segments == "whole":
            w = tf.cast(weights, tf.float64)
            used = tf.where(zero, tf.zeros_like(w), w)
            return dict(state, attr=state["attr"] + tf.reduce_sum(u * _expand_to(used, u), 0),
                        zero_share=state["zero_share"] + tf.reduce_sum(
                            tf.where(zero, w, tf.zeros_like(w)), 0))
        f = tf.cast(values, tf.float64)                                   # [T, G]
        f_all = tf.concat([state["f_prev"][None], f], axis=0)            # [T+1, G]
        d = f_all[1:] - f_all[:-1]                                        # segment ending at t
        if self.side == "left":
            u_seg = tf.concat([state["u_prev"][None], u[:-1]], axis=0)   # gradient at its start
            zero_seg = tf.concat([state["zero_prev"][None], zero[:-1]], axis=0)
        else:
            u_seg, zero_seg = u, zero
        # the first node of the whole path closes no segment
        t = tf.shape(f)[0]
        first = tf.logical_and(tf.range(t) == 0, tf.logical_not(state["started"]))
        valid = tf.logical_not(first)[:, None] & tf.ones_like(zero_seg)
        # a segment counts with the weight of the node that closes it
        d = tf.where(valid, d * tf.cast(weights, tf.float64), tf.zeros_like(d))
        used = tf.logical_and(valid, tf.logical_not(zero_seg))
        attr = state["attr"] + tf.reduce_sum(
            u_seg * _expand_to(tf.where(used, d, tf.zeros_like(d)), u_seg), axis=0)
        residual = state["residual"] + tf.reduce_sum(
            tf.where(tf.logical_and(valid, zero_seg), d, tf.zeros_like(d)), axis=0)
        return dict(state, attr=attr, u_prev=u[-1], zero_prev=zero[-1], f_prev=f[-1],
                    started=tf.constant(True), residual=residual)

    def result(self, state, f_first, f_last):
        if self.segments == "whole":
            change = tf.cast(f_last, tf.float64) - tf.cast(f_first, tf.float64)     # [G]
            return (state["attr"] * _expand_to(change, state["attr"]),
                    state["zero_share"] * change)
        return state["attr"], state["residual"]


INTEGRATORS = RULES + ("idgi", "monte_carlo")


def get_integrator(integrator, reference_rule: str):
    """Resolves an integrator given by name or as an object.

    Args:
      integrator: a :class:`Rule`, :class:`MonteCarlo` or :class:`IDGI` object; a rule name
        of :data:`RULES`; ``"idgi"``; or ``"monte_carlo"``.
      reference_rule: the method's default rule (its PAIR rule, or ``"monte_carlo"`` for
        methods that draw nodes). ``"idgi"`` then means IDGI on that rule's closed node set,
        on the same side: ``"right"`` for a right rule (Blur IG), ``"left"`` otherwise, and
        IDGI on random nodes (``segments="whole"``) for ``"monte_carlo"``.

    Returns:
      An integrator object.

    Raises:
      ValueError naming ``integrator``: an unknown name or object.
    """
    if isinstance(integrator, (Rule, IDGI)):
        return integrator
    if not isinstance(integrator, str):
        raise ValueError(f"integrator: expected one of {INTEGRATORS} or an integrator object "
                         f"(tfpath.integrate.Rule, IDGI), received {integrator!r}")
    if integrator == "idgi":
        if reference_rule == "monte_carlo":
            return IDGI("left", "whole")
        return IDGI("right" if reference_rule == "right" else "left")
    if integrator == "monte_carlo":
        return MonteCarlo()
    return Rule(check_integrator(integrator, INTEGRATORS))


def check_integrator(name, allowed=None) -> str:
    """Returns ``name`` if it is one of ``allowed``; raises ValueError naming ``integrator``."""
    allowed = INTEGRATORS if allowed is None else tuple(allowed)
    if name not in allowed:
        raise ValueError(f"integrator: expected one of {allowed}, received {name!r}")
    return name


def idgi_from_path(gradients, values, side: str = "left"):
    """IDGI of one recorded path (NumPy reference form of Yang, Wang and Bilgic, CVPR 2023,
    Algorithm 1).

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
