"""Where the k chains of a δ-CLUE / ∇-CLUE search start: the initialisation schemes S1–S5 of
Ley, Bhatt and Weller ("Diverse, Global and Amortised Counterfactual Explanations for
Uncertainty Estimates", AAAI 2022, Appendix B) and the Gaussian restarts of the original CLUE
(Antorán et al., "Getting a CLUE", ICLR 2021).

Every scheme is a frozen dataclass with one method,
``starts(z0 [B, m], radius, k, rng, probe) -> [B, k, m]`` (:class:`StartScheme`): ``radius``
is r (the paper always takes r = δ), ``rng`` a :class:`numpy.random.Generator` owned by the
caller, and ``probe(z) -> p̄ [n, K]`` the classifier's posterior predictive at ψ(z) as a
TensorFlow function (only S5 uses it). Every start lies within ‖z − z0‖₂ ≤ r except the
Gaussian restarts' (the search's projection then brings them into the ball).

How the paper's gaps are resolved (each also on its class):

* S2's "nearest low-uncertainty training point of class y" is the nearest, in latent space
  (ℓ2), of the latents the caller gives as anchors (e.g. the encoded certain training points);
  when the number of classes Y does not divide k (the paper prints "Y|n"), the remaining
  ``k − Y·⌊k/Y⌋`` starts are S1 samples; when k < Y all starts are S1 samples.
* S3's "ρ ~ N(0, r²/4) s.t. 0 ≤ ρ ≤ r" is a half-normal radius with σ = r/2, truncated at r by
  rejection.
* S4 rejects cube samples outside the ball; its acceptance rate is the ball-to-cube volume ratio,
  which collapses with the latent size (about 1.6e-2 at m = 8, 2.5e-8 at m = 32): the scheme
  raises instead of looping for ever.
* S5's path steps along the normalised gradient ∇_z p̄_y(ψ(z)) in equal arc-length steps; the
  "fraction travelled" j/m is measured in arc length and every point is projected onto the
  δ-ball (the paper gives neither the step size nor the discretisation).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional, Protocol, runtime_checkable

import numpy as np
import tensorflow as tf

from tfpath.core import validation


@runtime_checkable
class StartScheme(Protocol):
    """A scheme of start points: ``starts(z0, radius, k, rng, probe) -> [B, k, m]``."""

    def starts(self, z0: np.ndarray, radius: float, k: int, rng: np.random.Generator,
               probe: Optional[Callable] = None) -> np.ndarray:
        ...


def _directions(rng, shape):
    """Unit vectors uniformly distributed on the sphere, shape ``[..., m]``."""
    g = rng.standard_normal(shape)
    norm = np.linalg.norm(g, axis=-1, keepdims=True)
    return g / np.maximum(norm, 1e-30)


@dataclass(frozen=True)
class Centre:
    """Every chain starts at z0 (r = 0; the original CLUE's start)."""

    def starts(self, z0, radius, k, rng, probe=None):
        return np.repeat(z0[:, None, :], k, axis=1).astype(np.float32)


@dataclass(frozen=True)
class RadialUniform:
    """S1: ``z = z0 + u·r·v``, ``u ~ U(0, 1)``, ``v`` uniform on the unit sphere (uniform in
    radius, not in volume: E‖z − z0‖ = r/2). The paper's best scheme on MNIST."""

    def starts(self, z0, radius, k, rng, probe=None):
        b, m = z0.shape
        u = rng.random((b, k, 1))
        return (z0[:, None, :] + u * radius * _directions(rng, (b, k, m))).astype(np.float32)


@dataclass(frozen=True)
class RadialHalfGaussian:
    """S3: radius ``ρ = |N(0, (r/2)²)|`` conditioned on ρ ≤ r (rejection), random direction."""

    def starts(self, z0, radius, k, rng, probe=None):
        b, m = z0.shape
        rho = np.abs(rng.normal(0.0, radius / 2.0, (b, k)))
        while radius > 0 and np.any(rho > radius):     # acceptance P(|N| ≤ 2σ) ≈ 0.95
            bad = rho > radius
            rho[bad] = np.abs(rng.normal(0.0, radius / 2.0, int(bad.sum())))
        return (z0[:, None, :] + rho[..., None] * _directions(rng, (b, k, m))).astype(
            np.float32)


@dataclass(frozen=True)
class UniformCube:
    """S4: ``[z − z0]_i ~ U(−r, r)`` per dimension, rejected outside ‖z − z0‖₂ ≤ r.

    Args:
      max_draws: most cube samples drawn per start before giving up.

    Raises (from :meth:`starts`):
      ValueError naming ``scheme``: too few acceptances (the latent is too large for S4).
    """

    max_draws: int = 100_000

    def starts(self, z0, radius, k, rng, probe=None):
        b, m = z0.shape
        out = np.zeros((b * k, m))
        need = np.arange(b * k)
        draws = 0
        while need.size:
            if draws > self.max_draws:
                raise ValueError(
                    f"scheme: S4 (uniform cube) accepted too few of {self.max_draws} samples "
                    f"per start in {m} latent dimensions (acceptance = ball/cube volume); use "
                    "S1 or S3")
            batch = rng.uniform(-radius, radius, (need.size, 64, m))
            ok = np.linalg.norm(batch, axis=-1) <= radius
            first = np.argmax(ok, axis=1)
            found = ok[np.arange(need.size), first]
            out[need[found]] = batch[np.flatnonzero(found), first[found]]
            need = need[~found]
            draws += 64
        return (z0[:, None, :] + out.reshape(b, k, m)).astype(np.float32)


@dataclass(frozen=True)
class Gaussian:
    """The original CLUE's restarts: ``z = z0 + σ ε``, ``ε ~ N(0, I)`` (the paper: σ = 1; the
    CLUE code: 0.15). Not confined to the ball (the projection then applies)."""

    std: float = 1.0

    def __post_init__(self):
        validation.check_nonnegative(self.std, "std")

    def starts(self, z0, radius, k, rng, probe=None):
        b, m = z0.shape
        return (z0[:, None, :] + self.std * rng.standard_normal((b, k, m))).astype(np.float32)


@dataclass(frozen=True, eq=False)
class NearestNeighbourPath:
    """S2: starts on the segments from z0 toward the nearest anchor of every class,
    ``z = z0 + δ·(j/m)·(z_y − z0)/‖z_y − z0‖`` for ``j = 1..m``, ``m = ⌊k/Y⌋``.

    Args:
      anchors: latents ``[N, m]`` of low-uncertainty points (e.g. the encoder's means of the
        certain training data).
      labels: their classes ``[N]`` (ints); Y is the number of distinct labels.

    The remaining ``k − Y·m`` starts are S1 samples. An anchor at z0 itself gives a random
    direction.
    """

    anchors: np.ndarray
    labels: np.ndarray

    def __post_init__(self):
        anchors = validation.check_array(self.anchors, "anchors", min_rank=2)
        labels = np.asarray(self.labels)
        if labels.shape != anchors.shape[:1] or not np.issubdtype(labels.dtype, np.integer):
            raise ValueError(f"labels: expected {anchors.shape[0]} integer labels (one per "
                             f"anchor), received shape {labels.shape} dtype {labels.dtype}")
        object.__setattr__(self, "anchors", anchors)
        object.__setattr__(self, "labels", labels)

    def starts(self, z0, radius, k, rng, probe=None):
        b, m = z0.shape
        if self.anchors.shape[1] != m:
            raise ValueError(f"anchors: latents of size {self.anchors.shape[1]}, the "
                             f"encoder's are {m}")
        classes = np.unique(self.labels)
        per_class = k // classes.size
        out = RadialUniform().starts(z0, radius, k, rng)
        if per_class == 0:
            return out
        fractions = np.arange(1, per_class + 1) / per_class
        column = 0
        for c in classes:
            pool = self.anchors[self.labels == c]
            d = ((z0[:, None, :] - pool[None]) ** 2).sum(-1)
            offset = pool[d.argmin(axis=1)] - z0                                  # [B, m]
            length = np.linalg.norm(offset, axis=1, keepdims=True)
            direction = np.where(length > 1e-12, offset / np.maximum(length, 1e-30),
                                 _directions(rng, (b, m)))
            out[:, column:column + per_class] = (
                z0[:, None, :] + radius * fractions[None, :, None] * direction[:, None, :])
            column += per_class
        return out.astype(np.float32)


@dataclass(frozen=True)
class ClassGradientPath:
    """S5: for every class y, the path from z0 that always steps along the normalised
    gradient of the class probability ∇_z p̄_y(ψ(z)), out to arc length r; the starts are the
    points after the fractions j/m of it (``m = ⌊k/Y⌋``, Y the classifier's classes), the
    remaining ``k − Y·m`` starts S1 samples.

    Args:
      steps_per_start: gradient steps between consecutive starts on a path.
    """

    steps_per_start: int = 5

    def __post_init__(self):
        validation.check_positive_int(self.steps_per_start, "steps_per_start")

    def starts(self, z0, radius, k, rng, probe=None):
        if probe is None:
            raise ValueError("probe: S5 needs the classifier's probabilities at ψ(z)")
        b, m = z0.shape
        num_classes = int(probe(tf.constant(z0[:1])).shape[-1])
        per_class = k // num_classes
        out = RadialUniform().starts(z0, radius, k, rng)
        if per_class == 0:
            return out
        centre = np.repeat(z0, num_classes, axis=0)                            # [B·Y, m]
        classes = np.tile(np.arange(num_classes), b)
        onehot = tf.one_hot(classes, num_classes)
        z = tf.constant(centre)
        step = radius / (per_class * self.steps_per_start)
        points = []
        for _ in range(per_class):
            for _ in range(self.steps_per_start):
                with tf.GradientTape() as tape:
                    tape.watch(z)
                    p = tf.reduce_sum(tf.cast(probe(z), tf.float32) * onehot, axis=1)
                g = tape.gradient(p, z)
                g = g / tf.maximum(tf.norm(g, axis=1, keepdims=True), 1e-30)
                z = z + step * g
                offset = z - centre
                scale = tf.minimum(1.0, radius / tf.maximum(tf.norm(offset, axis=1,
                                                                     keepdims=True), 1e-30))
                z = centre + offset * scale
            points.append(z.numpy().reshape(b, num_classes, m))
        path = np.stack(points, axis=2).reshape(b, num_classes * per_class, m)   # class-major
        out[:, :path.shape[1]] = path
        return out.astype(np.float32)


SCHEMES = {"centre": Centre(), "S1": RadialUniform(), "S3": RadialHalfGaussian(),
           "S4": UniformCube(), "S5": ClassGradientPath(), "gaussian": Gaussian()}


def resolve_scheme(scheme) -> StartScheme:
    """A :class:`StartScheme` from a name (``"S1"``, ``"S3"``, ``"S4"``, ``"S5"``,
    ``"centre"``, ``"gaussian"``) or an object with a ``starts`` method. S2 needs anchors:
    pass :class:`NearestNeighbourPath`.

    Raises:
      ValueError naming ``scheme``: an unknown name (or ``"S2"`` without anchors).
      TypeError naming ``scheme``: neither a name nor a scheme.
    """
    if isinstance(scheme, str):
        if scheme == "S2":
            raise ValueError("scheme: S2 needs the anchors (the certain latents of each "
                             "class): pass NearestNeighbourPath(anchors, labels)")
        if scheme not in SCHEMES:
            raise ValueError(f"scheme: expected one of {sorted(SCHEMES) + ['S2']} or a "
                             f"StartScheme, received {scheme!r}")
        return SCHEMES[scheme]
    if not isinstance(scheme, StartScheme):
        raise TypeError(f"scheme: expected a scheme name or an object with a starts() method, "
                        f"received {type(scheme).__name__}")
    return scheme
