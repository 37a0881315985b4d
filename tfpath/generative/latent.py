"""Latent optimisation: Adam in a generative model's latent space, batched over inputs.

One toolkit serves the counterfactual fiducial and the reconstruction latent of Perez et al.
("Attribution of Predictive Uncertainties in Classification Models", UAI 2022, Eq. 2 and §3.1)
and the CLUE family (Antorán et al., ICLR 2021; Ley, Bhatt and Weller, AAAI 2022):

* :class:`Adam` — Adam (Kingma and Ba, ICLR 2015, Algorithm 1) with per-row moments and step
  counts, so rows that have converged stop while the others go on;
* :class:`LossNotDecreasing` — the early stopping of the authors' code (``tfp.math.minimize``
  with ``tfp.optimizer.convergence_criteria.LossNotDecreasing``): an exponential moving
  average of the per-step loss decrease, ``avg_t = dec_t + decay (avg_{t-1} - dec_t)`` with
  ``decay = 1 - 1/window`` (0.9 for the window of 10), stops a row when
  ``avg_t < max(atol, rtol · avg_window)`` after ``min_steps`` steps — here per row, where
  ``tfp.math.minimize`` stops a batch only when every row (or the batch's summed loss) has
  converged. ``tfp.math.minimize`` also takes one more update after the rule fires (its
  bootstrap step is an update); tfpath returns the point whose loss the rule judged;
* :class:`Ball` — optional projection onto an L2 or L∞ ball around a centre per row (δ-CLUE);
* :func:`minimize_latent` — the loop, one ``tf.function`` with a ``tf.while_loop`` over steps:
  every row is a latent ``[N, m]`` (inputs × chains flattened), the loss returns one value per
  row, and a per-row ``done`` mask freezes converged rows.
"""
from __future__ import annotations

import weakref
from dataclasses import dataclass
from typing import Callable, Mapping, Optional

import numpy as np
import tensorflow as tf

from tfpath.core import compiled, memo, validation


@dataclass(frozen=True)
class Adam:
    """Adam's settings (Kingma and Ba, "Adam: A Method for Stochastic Optimization", ICLR 2015,
    Algorithm 1, with ε added to √v̂); β and ε defaults are Keras's, the learning rate the
    authors' code's (0.01). Keras adds ε to √v instead of √v̂; the steps differ by a relative
    O(ε / √v̂), below float32 resolution unless gradients are tiny.

    Raises:
      ValueError / TypeError naming the field: a non-positive learning rate or epsilon, betas
      outside [0, 1).
    """

    learning_rate: float = 0.01
    beta_1: float = 0.9
    beta_2: float = 0.999
    epsilon: float = 1e-7

    def __post_init__(self):
        validation.check_positive(self.learning_rate, "learning_rate")
        validation.check_positive(self.epsilon, "epsilon")
        for name in ("beta_1", "beta_2"):
            value = validation.check_fraction(getattr(self, name), name)
            if value >= 1.0:
                raise ValueError(f"{name}: expected a number in [0, 1), received {value}")

    def init(self, z):
        """Zero moments and step counts for latents ``z [N, m]``."""
        return {"m": tf.zeros_like(z), "v": tf.zeros_like(z),
                "t": tf.zeros(tf.shape(z)[:1], z.dtype)}

    def step(self, z, grad, state, active):
        """One update of the rows where ``active [N]`` is True; the others keep z and state."""
        t = state["t"] + tf.cast(active, z.dtype)
        m = self.beta_1 * state["m"] + (1.0 - self.beta_1) * grad
        v = self.beta_2 * state["v"] + (1.0 - self.beta_2) * tf.square(grad)
        tt = tf.maximum(t, 1.0)[:, None]
        m_hat = m / (1.0 - tf.pow(self.beta_1, tt))
        v_hat = v / (1.0 - tf.pow(self.beta_2, tt))
        new_z = z - self.learning_rate * m_hat / (tf.sqrt(v_hat) + self.epsilon)
        keep = active[:, None]
        return tf.where(keep, new_z, z), {"m": tf.where(keep, m, state["m"]),
                                          "v": tf.where(keep, v, state["v"]), "t": t}


@dataclass(frozen=True)
class LossNotDecreasing:
    """Stops a row when the moving average of its loss decrease falls below a threshold.

    ``threshold = max(atol, rtol · avg_window)``, ``avg_window`` being the average decrease over
    the first ``window`` steps (the semantics of ``tfp.optimizer.convergence_criteria.
    LossNotDecreasing``, which the authors' code uses with ``atol=1e-3`` for the reconstruction
    and ``rtol=1e-3`` for the fiducial).

    Raises:
      ValueError: neither tolerance given, a negative tolerance, or bad counts.
    """

    atol: Optional[float] = None
    rtol: Optional[float] = None
    window: int = 10
    min_steps: int = 20

    def __post_init__(self):
        if self.atol is None and self.rtol is None:
            raise ValueError("atol, rtol: give at least one tolerance")
        for name in ("atol", "rtol"):
            if getattr(self, name) is not None:
                validation.check_nonnegative(getattr(self, name), name)
        validation.check_positive_int(self.window, "window")
        validation.check_positive_int(self.min_steps, "min_steps", minimum=0)

    @property
    def decay(self) -> float:
        return 1.0 - 1.0 / self.window

    def init(self, loss):
        """The state after the initial loss ``[N]``."""
        zeros = tf.zeros_like(loss)
        return {"previous": loss, "average": zeros, "initial": zeros}

    def update(self, step, loss, state):
        """``(converged [N], new state)`` after step ``step`` (1, 2, ...) reached ``loss``."""
        decrease = state["previous"] - loss
        average = decrease + self.decay * (state["average"] - decrease)
        threshold = tf.maximum(tf.cast(self.atol or 0.0, loss.dtype),
                               tf.cast(self.rtol or 0.0, loss.dtype) * state["initial"])
        converged = (average < threshold) & (step >= self.min_steps)
        initial = tf.where(step <= self.window, average, state["initial"])
        return converged, {"previous": loss, "average": average, "initial": initial}


@dataclass(frozen=True)
class Ball:
    """Projection onto ``‖z - centre‖ ≤ radius`` per row, after every step (δ-CLUE's δ-ball).

    The centre and radius come from the loop's ``context`` (``centre_key``: ``[N, m]``;
    ``radius_key``: ``[N]``), so each row has its own ball.

    Args:
      norm: ``2`` (scales the offset back onto the sphere) or ``inf`` (clips each
        coordinate: the exact projections onto these balls).
    """

    centre_key: str = "ball_centre"
    radius_key: str = "ball_radius"
    norm: float = 2.0

    def __post_init__(self):
        if self.norm not in (2.0, float("inf")):
            raise ValueError(f"norm: expected 2 or inf, received {self.norm!r}")

    def __call__(self, z, context):
        """The nearest point of each row's ball to ``z [N, m]``."""
        centre = tf.cast(context[self.centre_key], z.dtype)
        radius = tf.cast(context[self.radius_key], z.dtype)[:, None]
        tf.debugging.assert_non_negative(radius, message=f"context[{self.radius_key!r}]: "
                                         "ball radii must be >= 0")
        offset = z - centre
        if self.norm == 2.0:
            length = tf.norm(offset, axis=1, keepdims=True)
            scale = tf.minimum(1.0, radius / tf.maximum(length, 1e-30))
            return centre + offset * scale
        return centre + tf.clip_by_value(offset, -radius, radius)


@dataclass
class LatentResult:
    """What :func:`minimize_latent` found, per row (NumPy).

    Attributes:
      z: the final latents ``[N, m]`` float32 (at the last step a row took).
      loss: the loss at ``z`` ``[N]`` float64.
      steps: the number of updates each row took ``[N]`` int.
      converged: whether the stopping rule fired ``[N]`` (False: the step budget ran out).
      initial_loss: the loss at the start ``[N]`` float64.
    """

    z: np.ndarray
    loss: np.ndarray
    steps: np.ndarray
    converged: np.ndarray
    initial_loss: np.ndarray


LossFunction = Callable[[tf.Tensor, Mapping[str, tf.Tensor]], tf.Tensor]


@dataclass(frozen=True)
class _LoopKey:
    optimizer: Adam
    stopping: Optional[LossNotDecreasing]
    max_steps: int
    projection: Optional[Callable]
    context: tuple                        # (name, dtype, trailing shape) per context array
    latent_dim: int


def minimize_latent(loss_fn: LossFunction, z_init, *, context: Optional[Mapping] = None,
                    optimizer: Adam = Adam(), stopping: Optional[LossNotDecreasing] = None,
                    max_steps: int = 2000, projection: Optional[Callable] = None
                    ) -> LatentResult:
    """Minimises ``loss_fn`` over every row's latent with Adam, all rows in one compiled loop.

    Each step evaluates the loss and its gradient at the current latents of the active rows'
    batch (one forward and one backward pass for all rows), updates the active rows, projects
    them (``projection``), and asks ``stopping`` which rows have converged; converged rows are
    frozen (their latent, moments and loss no longer change). The loop ends when every row is
    done or after ``max_steps`` steps.

    The loop is compiled once per ``loss_fn`` object and settings (the context arrays are
    arguments, the number of rows is free): calling again with the same ``loss_fn`` — e.g. a
    function kept by a counterfactual explainer — reuses the trace. Python values the loss
    captures are therefore frozen at its first trace: when they change, pass a new function
    object. The cache lives as long as ``loss_fn``.

    Args:
      loss_fn: ``loss_fn(z [N, m] float32 tensor, context) -> [N]``, traceable by
        ``tf.function``. The update uses the gradient of the *summed* loss: when row i's loss
        depends on row i's latent only, that is every row's own gradient; a loss coupling rows
        (e.g. a diversity term shared by the rows of one set) gets the joint gradient, and the
        rows should then stop together (``stopping=None``).
      z_init: the starting latents ``[N, m]`` (e.g. the encoder's means).
      context: per-row arrays ``{name: [N, ...]}`` passed to ``loss_fn`` and ``projection``
        (the inputs, their classes, ball centres).
      optimizer: :class:`Adam` settings.
      stopping: a :class:`LossNotDecreasing`, or None (run ``max_steps`` steps).
      max_steps: most updates per row (>= 0; 0 returns the projected ``z_init``).
      projection: None or ``projection(z, context) -> z`` (e.g. :class:`Ball`), applied after
        every update and to ``z_init``.

    Returns:
      :class:`LatentResult`.

    Raises:
      ValueError / TypeError naming the argument: ``z_init`` not a finite ``[N, m]`` array,
      context arrays of another length, ``max_steps < 0``; a loss that is not one finite value
      per row (named ``loss_fn``).
    """
    z0 = validation.check_array(z_init, "z_init", min_rank=2)
    if z0.ndim != 2:
        raise ValueError(f"z_init: expected latents of shape [N, m], received {z0.shape}")
    max_steps = validation.check_positive_int(max_steps, "max_steps", minimum=0)
    n = z0.shape[0]
    ctx = {}
    for name, value in (context or {}).items():
        arr = np.asarray(value)
        if arr.shape[:1] != (n,):
            raise ValueError(f"context[{name!r}]: expected {n} rows (one per latent), received "
                             f"shape {arr.shape}")
        ctx[name] = arr
    if not callable(loss_fn):
        raise TypeError(f"loss_fn: expected a callable (z, context) -> [N], received "
                        f"{type(loss_fn).__name__}")
    key = _LoopKey(optimizer, stopping, max_steps, projection,
                   tuple((k, str(v.dtype), v.shape[1:]) for k, v in sorted(ctx.items())),
                   int(z0.shape[1]))
    try:
        hash(key)
    except TypeError:
        raise TypeError("projection: must be hashable (a function, or a frozen dataclass such "
                        f"as Ball); received {type(projection).__name__}") from None
    run = memo.memoized(loss_fn, "minimize_latent", key,
                        lambda: _compile_loop(loss_fn, key))
    try:
        z, loss, steps, done, initial = run(tf.constant(z0),
                                            {k: tf.constant(v) for k, v in ctx.items()})
    except (ValueError, tf.errors.InvalidArgumentError) as e:
        if "enters the loop with shape" in str(e) or "one loss per latent row" in str(e):
            raise ValueError(f"loss_fn: must return one loss per latent row, shape ({n},) "
                             f"({e})") from None
        raise
    loss = loss.numpy().astype(np.float64)
    if not np.all(np.isfinite(loss)):
        bad = np.flatnonzero(~np.isfinite(loss))[:10].tolist()
        raise ValueError(f"loss_fn: is not finite for rows {bad} (e.g. log of 0 in the loss, or "
                         "a decoder producing NaN)")
    return LatentResult(z.numpy(), loss, steps.numpy(), done.numpy(),
                        initial.numpy().astype(np.float64))


def _compile_loop(loss_fn, key: _LoopKey):
    """The compiled loop of :func:`minimize_latent` for one loss function and settings."""
    optimizer, stopping, projection, max_steps = (key.optimizer, key.stopping, key.projection,
                                                  key.max_steps)
    # the loop refers to the loss weakly: the cache entry (keyed weakly by the loss) must not
    # keep its own key, and what the loss captures (models, explainers), alive
    loss_ref = weakref.ref(loss_fn)

    def value_and_grad(z, ctx):
        fn = loss_ref()
        if fn is None:                                 # pragma: no cover - traced while alive
            raise RuntimeError("loss_fn: was garbage-collected before its loop was traced")
        with tf.GradientTape() as tape:
            tape.watch(z)
            loss = tf.cast(fn(z, ctx), tf.float32)
        if loss.shape.rank != 1:
            raise ValueError(f"loss_fn: must return one loss per latent row, shape (N,); it "
                             f"returned shape {tuple(loss.shape)}")
        tf.debugging.assert_equal(tf.shape(loss)[0], tf.shape(z)[0], message=(
            "loss_fn: must return one loss per latent row"))
        return loss, tape.gradient(loss, z)

    spec = (tf.TensorSpec([None, key.latent_dim], tf.float32),
            {name: tf.TensorSpec((None,) + shape, tf.as_dtype(dtype))
             for name, dtype, shape in key.context})

    @tf.function(input_signature=spec)
    def run(z, ctx):
        n = tf.shape(z)[0]
        if projection is not None:
            z = projection(z, ctx)
        loss, grad = value_and_grad(z, ctx)
        opt_state = optimizer.init(z)
        stop_state = stopping.init(loss) if stopping is not None else {}
        done = tf.zeros([n], tf.bool)
        steps = tf.zeros([n], tf.int32)
        initial = loss

        def body(step, z, loss, grad, opt_state, stop_state, done, steps):
            active = tf.logical_not(done)
            new_z, opt_state = optimizer.step(z, grad, opt_state, active)
            if projection is not None:
                new_z = tf.where(active[:, None], projection(new_z, ctx), z)
            new_loss, new_grad = value_and_grad(new_z, ctx)
            steps = steps + tf.cast(active, tf.int32)
            loss = tf.where(active, new_loss, loss)
            grad = tf.where(active[:, None], new_grad, grad)
            if stopping is not None:
                # the rule sees the loss at the point the step reached (step t: L(z_t))
                converged, new_stop = stopping.update(tf.cast(step + 1, tf.float32), new_loss,
                                                      stop_state)
                stop_state = tf.nest.map_structure(
                    lambda new, old: tf.where(active, new, old), new_stop, stop_state)
                done = done | (active & converged)
            return step + 1, new_z, loss, grad, opt_state, stop_state, done, steps

        out = tf.while_loop(
            lambda step, *rest: (step < max_steps) & tf.logical_not(tf.reduce_all(rest[5])),
            body, (tf.constant(0), z, loss, grad, opt_state, stop_state, done, steps))
        return out[1], out[2], out[7], out[6], initial

    return compiled.quiet_tracing(run)
