"""The blur (scale-space) path of Blur IG (Xu, Venugopalan and Sundararajan, "Attribution in
Scale and Space", CVPR 2020, Eqs. 4–5).

γ(σ) = x' + G_σ * (x - x'), a Gaussian blur of the input's difference from a baseline x' with
standard deviation σ, run from σ = max_sigma down to σ = 0 (the input). With the default
x' = 0 this is exactly Blur IG's γ(σ) = G_σ * x (no baseline image needed); a baseline set
(``baselines=``) blurs toward each baseline instead, since G_σ * (x - x') → 0 as σ grows (zero
padding). The path parameter is σ itself, so the node grid decreases and segment lengths are
negative; the rule sum ``Σ w_k ∇F · ∂γ/∂σ`` then carries the sign that PAIR applies with its
final ``*= -1``.

The blur equals ``scipy.ndimage.gaussian_filter(img, [σ, σ, 0], mode="constant")`` (PAIR's
``gaussian_blur``; truncate = 4, zero padding) but is computed in TensorFlow, in float64, as two
banded matrix products per image, so it runs inside the engine's compiled loop, batched over
path nodes and rows. The tangent ∂γ/∂σ is PAIR's forward difference
``(G_{σ+h} (x - x') - G_σ (x - x')) / h`` with ``h = grad_step``.

Departures: PAIR evaluates its blur and the finite difference in the input dtype (float32);
tfpath in float64 (differences ~1e-6 relative). PAIR's ``sqrt=True`` with ``batch_size > 1``
multiplies a whole batch by the last step's Δσ (a bug); tfpath uses each node's own Δσ.
"""
from dataclasses import dataclass, field

import numpy as np
import tensorflow as tf

TRUNCATE = 4.0


BLUR_MODES = ("constant", "nearest")


def _gaussian_matrices(sigma, n, mode="constant"):
    """[T, n, n] float64 matrices M with (M v)_i = Σ_k w_σ(k) v_{i+k} (scipy's 1-D Gaussian).

    ``mode="constant"`` pads with zeros; ``"nearest"`` repeats the edge value, i.e. the weight
    of every tap that falls outside ``[0, n)`` goes to the first or last column.
    """
    sigma = tf.cast(tf.reshape(sigma, [-1]), tf.float64)
    radius = tf.floor(TRUNCATE * sigma + 0.5)                                   # [T]
    safe = tf.where(sigma > 0, sigma, tf.ones_like(sigma))
    max_r = tf.cast(tf.reduce_max(radius), tf.int32)
    k = tf.cast(tf.range(-max_r, max_r + 1), tf.float64)                        # [2R+1]
    in_support = tf.abs(k)[None, :] <= radius[:, None]
    taps = tf.where(in_support, tf.exp(-0.5 * (k[None] / safe[:, None]) ** 2), 0.0)  # [T, 2R+1]
    norm = tf.reduce_sum(taps, axis=1)                                          # [T]
    taps = taps / norm[:, None]
    idx = tf.range(n)
    d = tf.cast(idx[None, :] - idx[:, None], tf.float64)                        # j - i, [n, n]
    w = tf.exp(-0.5 * (d[None] / safe[:, None, None]) ** 2) / norm[:, None, None]
    w = tf.where(tf.abs(d)[None] <= radius[:, None, None], w, 0.0)
    if mode == "nearest":
        pos = tf.cast(idx, tf.float64)
        below = k[None, :] < -pos[:, None]                                      # i + k < 0
        above = k[None, :] > tf.cast(n - 1, tf.float64) - pos[:, None]          # i + k > n - 1
        left = tf.reduce_sum(tf.where(below[None], taps[:, None, :], 0.0), axis=2)   # [T, n]
        right = tf.reduce_sum(tf.where(above[None], taps[:, None, :], 0.0), axis=2)
        first = tf.one_hot(0, n, dtype=tf.float64)
        last = tf.one_hot(n - 1, n, dtype=tf.float64)
        w = w + left[:, :, None] * first[None, None] + right[:, :, None] * last[None, None]
    identity = tf.eye(n, dtype=tf.float64)[None]
    return tf.where((radius > 0)[:, None, None], w, identity)


def gaussian_blur(images, sigma, mode="constant"):
    """Blurs NHWC ``images`` [B, H, W, C] with Gaussians of standard deviation ``sigma``.

    Equal (to float64 rounding) to ``scipy.ndimage.gaussian_filter(img, [σ, σ, 0], mode=mode)``
    per image (truncate = 4); σ = 0 (or a zero-radius σ < 0.125) returns the image. tfpath's
    one blur: the Blur IG path (``mode="constant"``, PAIR's) and the blurred fills and
    baselines (``mode="nearest"``).

    Args:
      images: ``[B, H, W, C]``.
      sigma: ``[T]`` (every image blurred with each σ) or ``[T, B]`` (σ per node and image).
      mode: ``"constant"`` (zero padding) or ``"nearest"`` (edge values repeated).

    Returns:
      float64 ``[T, B, H, W, C]``.

    Raises:
      ValueError: unknown ``mode``.
    """
    if mode not in BLUR_MODES:
        raise ValueError(f"mode: expected one of {BLUR_MODES}, received {mode!r}")
    images = tf.cast(images, tf.float64)
    h, w = tf.shape(images)[1], tf.shape(images)[2]
    sigma = tf.cast(sigma, tf.float64)
    if sigma.shape.rank == 1:
        mh = _gaussian_matrices(sigma, h, mode)
        mw = _gaussian_matrices(sigma, w, mode)
        return tf.einsum("thi,bijc,twj->tbhwc", mh, images, mw)
    t, b = tf.shape(sigma)[0], tf.shape(sigma)[1]
    mh = tf.reshape(_gaussian_matrices(tf.reshape(sigma, [-1]), h, mode), [t, b, h, h])
    mw = tf.reshape(_gaussian_matrices(tf.reshape(sigma, [-1]), w, mode), [t, b, w, w])
    return tf.einsum("tbhi,bijc,tbwj->tbhwc", mh, images, mw)


@dataclass(frozen=True)
class BlurPath:
    """Blur path with PAIR's σ schedule and finite-difference tangent.

    Args:
      max_sigma: σ of the path's start (the fully blurred image).
      grad_step: h of the forward difference ∂γ/∂σ ≈ (G_{σ+h} d - G_σ d) / h, d = x - x'.
      sqrt: PAIR's square-root spacing of the schedule, σ_i = sqrt(i · max_sigma / N).

    ``max_sigma`` and ``sqrt`` only shape the node grid, which the engine receives as data, so
    they are not part of the compiled program's key (``compare=False``).
    """

    max_sigma: float = field(default=50.0, compare=False)
    grad_step: float = 0.01
    sqrt: bool = field(default=False, compare=False)
    adaptive = False
    reverse = False

    def grid(self, n):
        """n nodes σ from max_sigma down to 0 (PAIR's ``sigmas`` reversed)."""
        i = np.arange(n - 1, -1, -1, dtype=np.float64)
        sig = i * self.max_sigma / max(n - 1, 1)
        return np.sqrt(sig) if self.sqrt else sig

    def init(self, rows):
        if rows.x.shape.rank != 4:
            raise ValueError(f"x_value: the blur path needs images [H, W, C] (NHWC batches); "
                             f"received a batch of shape {rows.x.shape}")
        return {"diff": tf.cast(rows.x, tf.float64) - tf.cast(rows.baseline, tf.float64),
                "baseline": tf.cast(rows.baseline, tf.float64), "x": rows.x}, {}

    def points(self, constants, state, params, with_tangents):
        sigma = tf.cast(params, tf.float64)
        here = gaussian_blur(constants["diff"], sigma)                 # float64 [T, G, ...]
        points = tf.cast(constants["baseline"][None] + here, tf.float32)
        if not with_tangents:
            return points, None
        ahead = gaussian_blur(constants["diff"], sigma + self.grad_step)
        return points, (ahead - here) / self.grad_step

    def advance(self, constants, state, points, evaluation, params):
        return None, state

    def start(self, rows):
        # the first node: max_sigma, or sqrt(max_sigma) with PAIR's sqrt spacing
        diff = tf.cast(rows.x, tf.float64) - tf.cast(rows.baseline, tf.float64)
        blurred = gaussian_blur(diff, tf.constant(self.grid(2)[:1]))[0]
        return tf.cast(tf.cast(rows.baseline, tf.float64) + blurred, tf.float32)

    def end(self, constants, state):
        return constants["x"]
