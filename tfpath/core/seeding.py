"""Reproducible Keras model building and training without touching the caller's random state.

``keras.utils.set_random_seed`` seeds Python's ``random``, NumPy's global generator and
TensorFlow's global seed at once. tfpath needs it for reproducible initialisation, shuffling
and dropout in ``fit``, but must not change the user's NumPy or Python random streams, so
:func:`seeded` restores both afterwards. TensorFlow's global seed (which has no public getter)
stays set to ``seed``; Keras's own seed generators then draw reproducibly.
"""
from __future__ import annotations

import contextlib
import random

import numpy as np


@contextlib.contextmanager
def seeded(seed: int, keras_module=None):
    """Runs the block under ``keras_module.utils.set_random_seed(seed)`` (Keras 3 by default;
    pass ``tf_keras`` for tf_keras models) and restores the Python and NumPy global random
    states on exit.

    Args:
      seed: a non-negative int.
      keras_module: the Keras package whose ``utils.set_random_seed`` to call.

    Raises:
      Whatever ``set_random_seed`` raises for a bad seed; errors of the block propagate (the
      states are restored first).
    """
    if keras_module is None:
        import keras as keras_module
    python_state, numpy_state = random.getstate(), np.random.get_state()
    try:
        keras_module.utils.set_random_seed(seed)
        yield
    finally:
        random.setstate(python_state)
        np.random.set_state(numpy_state)


def seeded_by(argument: str = "seed", keras_name: str = "keras"):
    """Decorator: runs the function under :func:`seeded` with its ``argument`` (by name).

    Args:
      argument: the name of the function's seed parameter.
      keras_name: ``"keras"`` (Keras 3) or ``"tf_keras"``.

    Returns:
      The decorator. The decorated function raises ValueError / TypeError naming ``argument``
      for a seed that is not a non-negative int.
    """
    import functools
    import importlib
    import inspect

    def decorate(fn):
        signature = inspect.signature(fn)

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            bound = signature.bind(*args, **kwargs)
            bound.apply_defaults()
            seed = bound.arguments[argument]
            from tfpath.core import validation
            seed = validation.check_positive_int(seed, argument, minimum=0)
            with seeded(seed, importlib.import_module(keras_name)):
                return fn(*args, **kwargs)
        return wrapper
    return decorate
