"""Synthetic images with ground-truth masks: one shape per image on a textured background.

The class is the shape (circle, square, triangle); the mask is the shape's pixels, so
localisation metrics (pointing game, mask AUC, mask mass) have an exact answer. Half of the
objects (``dark_fraction``) are nearly black on a mid-grey texture: a black baseline
x' = 0 cannot see them, since every straight-path attribution (x − x') ⊙ ∫∇F is ≈ 0 on pixels
where x ≈ 0. Comparing attributions of dark and bright objects exposes that blind spot
(the motivation for blurred, uniform or counterfactual baselines, e.g. Perez et al.,
"Attribution of Predictive Uncertainties in Classification Models", UAI 2022, §2.1).
Deterministic given ``seed``; nothing is downloaded.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np

from tfpath.core import validation
from tfpath.datasets.digits import Split

SHAPES = ("circle", "square", "triangle")
TEXTURES = ("noise", "stripes", "mixed")


@dataclass
class ShapesData:
    """Images ``[n, size, size, C]`` float32 in [0, 1]; ``labels`` int64 (index in
    ``class_names``); ``masks`` bool ``[n, size, size]``; ``dark`` bool ``[n]`` (near-black
    object)."""

    images: np.ndarray
    labels: np.ndarray
    masks: np.ndarray
    dark: np.ndarray
    class_names: tuple = SHAPES

    @property
    def num_classes(self):
        return len(self.class_names)


@dataclass
class ShapesSplit(Split):
    """A :class:`Split` with ground-truth masks and dark-object flags for both parts."""

    masks_train: Optional[np.ndarray] = None
    masks_test: Optional[np.ndarray] = None
    dark_train: Optional[np.ndarray] = None
    dark_test: Optional[np.ndarray] = None


def _texture(rng, size, kind):
    from scipy.ndimage import gaussian_filter
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64) / size
    smooth = gaussian_filter(rng.random((size, size)), sigma=size / 10.0)
    smooth = (smooth - smooth.min()) / max(smooth.max() - smooth.min(), 1e-9)
    angle = rng.uniform(0, np.pi)
    freq = rng.uniform(3, 7)
    stripes = 0.5 + 0.5 * np.sin(2 * np.pi * freq * (np.cos(angle) * xx + np.sin(angle) * yy))
    if kind == "noise":
        t = smooth
    elif kind == "stripes":
        t = stripes
    else:
        t = 0.5 * smooth + 0.5 * stripes
    t = t + 0.15 * rng.random((size, size))            # fine grain
    t = (t - t.min()) / max(t.max() - t.min(), 1e-9)
    return 0.35 + 0.35 * t                            # mid-grey: [0.35, 0.70]


def _shape_mask(rng, size, shape):
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64) + 0.5
    r = rng.uniform(0.17, 0.28) * size
    cy, cx = rng.uniform(r + 1, size - r - 1, 2)
    if shape == "circle":
        return (yy - cy) ** 2 + (xx - cx) ** 2 <= r * r
    if shape == "square":
        half = r * 0.85
        return (np.abs(yy - cy) <= half) & (np.abs(xx - cx) <= half)
    # upright triangle: apex at top, base at the bottom
    top, bottom = cy - r, cy + r
    rel = (yy - top) / (bottom - top)                 # 0 at apex, 1 at base
    return (rel >= 0) & (rel <= 1) & (np.abs(xx - cx) <= rel * r)


def make_shapes(n=600, size=32, channels=1, dark_fraction=0.5, texture="mixed", seed=0):
    """Generates ``n`` labelled images with masks.

    Args:
      n: number of images (classes balanced: label = i mod 3, shuffled).
      size: side in pixels (≥ 12).
      channels: 1 (grey) or 3 (colour: bright objects get a random colour, the texture a tint).
      dark_fraction: fraction of near-black objects (values in [0, 0.06]); the rest are bright
        ([0.88, 1]).
      texture: ``"noise"`` (smooth random field), ``"stripes"`` (random orientation and
        frequency) or ``"mixed"``.
      seed: seed of everything.

    Returns:
      :class:`ShapesData`.

    Raises:
      ValueError / TypeError naming the argument.
    """
    n = validation.check_positive_int(n, "n")
    size = validation.check_positive_int(size, "size", minimum=12)
    if channels not in (1, 3):
        raise ValueError(f"channels: expected 1 or 3, received {channels!r}")
    dark_fraction = validation.check_fraction(dark_fraction, "dark_fraction")
    if texture not in TEXTURES:
        raise ValueError(f"texture: expected one of {TEXTURES}, received {texture!r}")
    rng = np.random.default_rng(seed)
    labels = rng.permutation(np.arange(n) % len(SHAPES)).astype(np.int64)
    dark = np.zeros(n, bool)
    dark[rng.permutation(n)[:int(round(dark_fraction * n))]] = True
    images = np.empty((n, size, size, channels), np.float32)
    masks = np.empty((n, size, size), bool)
    for i in range(n):
        bg = _texture(rng, size, texture)[..., None]
        if channels == 3:
            bg = bg * rng.uniform(0.85, 1.15, 3)[None, None, :]
        mask = _shape_mask(rng, size, SHAPES[labels[i]])
        if dark[i]:
            obj = rng.uniform(0.0, 0.06, (size, size, channels))
        else:
            colour = rng.uniform(0.88, 1.0, channels) if channels == 3 else np.ones(1)
            obj = colour[None, None, :] * rng.uniform(0.94, 1.0, (size, size, 1))
        images[i] = np.clip(np.where(mask[..., None], obj, bg), 0.0, 1.0)
        masks[i] = mask
    return ShapesData(images, labels, masks, dark)


def load_shapes(n_train=900, n_test=300, size=32, channels=1, dark_fraction=0.5,
                texture="mixed", seed=0):
    """Train and test sets of :func:`make_shapes` (independent draws from ``seed``).

    Returns:
      :class:`ShapesSplit` (``num_classes`` = 3) with masks and dark flags.
    """
    n_train = validation.check_positive_int(n_train, "n_train")
    n_test = validation.check_positive_int(n_test, "n_test")
    data = make_shapes(n_train + n_test, size, channels, dark_fraction, texture, seed)
    tr, te = slice(0, n_train), slice(n_train, None)
    return ShapesSplit(data.images[tr], data.labels[tr], data.images[te], data.labels[te],
                       len(SHAPES), data.masks[tr], data.masks[te], data.dark[tr],
                       data.dark[te])
