"""The adaptive path of Guided IG (Kapishnikov et al., "Guided Integrated Gradients: an Adaptive Path
Method for Removing Noise", CVPR 2021), as PAIR's ``guided_ig_impl``.

At step ``j`` (of ``steps``) the gradient at the current point x_j picks the ``fraction`` of
features with the smallest |gradient| and moves them toward the input until the L1 distance to
the input is ``l1_total · (1 - (j+1)/steps)``; every feature stays within ``max_dist`` (in α
units) of the straight line's ``α = (j+1)/steps``. The step's displacement ``x_{j+1} - x_j``
multiplies the gradient at ``x_j`` (a left Riemann sum along the adaptive path).

tfpath runs this for all ``B`` inputs of a batch together inside the engine's compiled loop:
one model call per step for the whole batch, the inner selection loop vectorised with a
per-input "done" mask. Path state is float64, as in PAIR.

Departures from PAIR's code (NumPy ≥ 2.4 crashes on its ``np.quantile(interpolation=)``):
the quantile is the same 'lower' order statistic, computed with a per-input sort; the inner
loop raises after ``max_inner_iterations`` (PAIR loops forever if no feature can move); the
engine evaluates one more node, the final point, when target values are needed (IDGI,
convergence delta) — PAIR calls the gradient ``steps`` times, tfpath ``steps + 1`` then.
"""
from dataclasses import dataclass

import numpy as np
import tensorflow as tf

EPSILON = 1e-9


@dataclass(frozen=True)
class GuidedPath:
    """Guided IG path. Nodes are ``j = 0 .. steps`` (node ``steps`` is the end point).

    Every row (input, baseline) has its own state; all rows step together, one model call per
    step.

    Args:
      steps: number of Guided IG steps (PAIR ``x_steps``).
      fraction: fraction of features moved per inner iteration (PAIR default 0.25).
      max_dist: largest deviation from the straight line in α units (PAIR default 0.02).
      max_inner_iterations: guard on the inner selection loop.
    """

    steps: int
    fraction: float = 0.25
    max_dist: float = 0.02
    max_inner_iterations: int = 10000
    adaptive = True
    reverse = False

    def grid(self, n):
        return np.arange(n, dtype=np.float64)

    def init(self, rows):
        g = tf.shape(rows.x)[0]
        flat = lambda t: tf.reshape(tf.cast(t, tf.float64), [g, -1])
        x_in, x_base = flat(rows.x), flat(rows.baseline)
        return {"x": x_base, "x_input": x_in, "x_baseline": x_base, "shape": tf.shape(rows.x),
                "l1_total": tf.reduce_sum(tf.abs(x_in - x_base), axis=1)}

    def points(self, state, params, with_tangents):
        return tf.cast(tf.reshape(state["x"], tf.concat([[1], state["shape"]], 0)),
                       tf.float32), None

    def advance(self, state, points, evaluation, params):
        step = tf.cast(params[0, 0], tf.float64)
        g = tf.reshape(tf.cast(evaluation.grads[0], tf.float64), tf.shape(state["x"]))
        x_old = state["x"]
        x_new = tf.cond(step < self.steps, lambda: self._step(state, g, step), lambda: x_old)
        delta = tf.reshape(x_new - x_old, tf.shape(points))
        return delta, dict(state, x=x_new)

    def start(self, rows):
        return rows.baseline

    def end(self, state, rows):
        return tf.cast(tf.reshape(state["x"], state["shape"]), tf.float32)

    # ------------------------------------------------------------------ one Guided IG step
    def _step(self, state, grad_actual, step):
        x_in, x_base, l1_total = state["x_input"], state["x_baseline"], state["l1_total"]
        steps = float(self.steps)
        alpha = (step + 1.0) / steps
        alpha_min = tf.maximum(alpha - self.max_dist, 0.0)
        alpha_max = tf.minimum(alpha + self.max_dist, 1.0)
        diff = x_in - x_base
        x_min = x_base + diff * alpha_min
        x_max = x_base + diff * alpha_max
        l1_target = l1_total * (1.0 - (step + 1.0) / steps)                    # [B]
        n = tf.shape(x_in)[1]
        q_index = tf.cast(tf.floor(self.fraction * tf.cast(n - 1, tf.float64)), tf.int32)
        moving = diff != 0.0
        safe_diff = tf.where(moving, diff, tf.ones_like(diff))
        inf = tf.constant(np.inf, tf.float64)

        def cond(i, x, grad, done):
            return tf.logical_and(i < self.max_inner_iterations,
                                  tf.logical_not(tf.reduce_all(done)))

        def body(i, x, grad, done):
            active = tf.logical_not(done)[:, None]
            x_alpha = tf.where(moving, (x - x_base) / safe_diff, alpha_max)
            x = tf.where(active & (x_alpha < alpha_min), x_min, x)
            l1_current = tf.reduce_sum(tf.abs(x - x_in), axis=1)
            close = tf.abs(l1_target - l1_current) <= tf.maximum(
                EPSILON * tf.maximum(tf.abs(l1_target), tf.abs(l1_current)), EPSILON)
            done = done | close
            active = tf.logical_not(done)[:, None]
            grad = tf.where(x == x_max, inf, grad)
            abs_grad = tf.abs(grad)
            threshold = tf.gather(tf.sort(abs_grad, axis=1), q_index, axis=1)  # 'lower' quantile
            s = (abs_grad <= threshold[:, None]) & (grad != inf) & active
            l1_s = tf.reduce_sum(tf.abs(x - x_max) * tf.cast(s, tf.float64), axis=1)
            gamma = tf.where(l1_s > 0, (l1_current - l1_target) / tf.where(l1_s > 0, l1_s, 1.0),
                             inf)
            full = (gamma > 1.0)[:, None]
            x = tf.where(s & full, x_max, x)
            x = tf.where(s & tf.logical_not(full), x + (x_max - x) * gamma[:, None], x)
            done = done | (gamma <= 1.0)
            return i + 1, x, grad, done

        # input equals baseline: PAIR returns zeros. A non-finite gradient cannot guide the
        # path: such an input stays put and its NaN/inf reaches the attribution, where the
        # method reports it (tfpath.methods.base)
        done0 = (l1_total == 0.0) | tf.logical_not(
            tf.reduce_all(tf.math.is_finite(grad_actual), axis=1))
        _, x, _, done = tf.while_loop(cond, body, (0, state["x"], grad_actual, done0))
        with tf.control_dependencies([tf.debugging.Assert(
                tf.reduce_all(done),
                [f"Guided IG: the inner selection loop did not reach its L1 target within "
                 f"max_inner_iterations={self.max_inner_iterations} at step", step])]):
            return tf.identity(x)
