"""Argument checks at the public boundary. Every message names the argument, what was expected
and what was received (the Keras convention)."""
from __future__ import annotations

import numbers
import warnings

import numpy as np


def check_array(value, name, min_rank=0, allow_empty=False, allow_integer=False):
    """Returns ``value`` as a finite float32 ndarray.

    Args:
      value: array-like.
      name: the argument's name in messages.
      min_rank: the smallest rank accepted.
      allow_empty: accept an array without elements.
      allow_integer: accept integer arrays (PAIR's inputs: any real array), converted to
        float32; uint8 arrays with values above 1 warn that images are usually scaled first.

    Raises:
      TypeError: not array-like, or not a real dtype (booleans, strings; integers unless
        ``allow_integer``).
      ValueError: rank below ``min_rank``, empty, NaN or inf.
    """
    try:
        arr = np.asarray(value)
    except Exception as e:  # pragma: no cover - exotic inputs
        raise TypeError(f"{name}: expected an array, received {type(value).__name__}") from e
    integer = arr.dtype != object and np.issubdtype(arr.dtype, np.integer)
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.floating)
                                   or integer and allow_integer):
        expected = "a real array (float or integer)" if allow_integer else \
            "a floating-point array (float32)"
        raise TypeError(
            f"{name}: expected {expected}, received dtype {arr.dtype}. "
            "Convert images with e.g. x.astype('float32') / 255.")
    if arr.dtype == np.uint8 and arr.size and arr.max() > 1:
        warnings.warn(f"{name}: a uint8 array with values up to {int(arr.max())} is explained "
                      "as float32 in [0, 255]; models usually expect images scaled first (e.g. "
                      "x.astype('float32') / 255)", UserWarning, stacklevel=4)
    if arr.ndim < min_rank:
        raise ValueError(f"{name}: expected an array of rank >= {min_rank}, received shape "
                         f"{arr.shape}")
    if arr.size == 0 and not allow_empty:
        raise ValueError(f"{name}: is empty (shape {arr.shape}); expected at least one element")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name}: contains NaN or inf values")
    return arr.astype(np.float32, copy=False)


def check_real_array(value, name):
    """Returns ``value`` as a non-empty, finite float64 ndarray; unlike :func:`check_array`,
    integer arrays (e.g. label-free masks or uint8 images) are accepted.

    Raises:
      ValueError naming ``name``: not array-like; a boolean, object, complex or non-numeric
        dtype; empty; NaN or inf.
    """
    try:
        arr = np.asarray(value)
    except Exception as e:  # pragma: no cover - exotic inputs
        raise ValueError(f"{name}: expected an array, received {type(value).__name__}") from e
    if arr.dtype == object or arr.dtype == bool or not np.issubdtype(arr.dtype, np.number) \
            or np.iscomplexobj(arr):
        raise ValueError(f"{name}: expected a real numeric array, received dtype {arr.dtype}")
    if arr.size == 0:
        raise ValueError(f"{name}: is empty (shape {arr.shape})")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name}: contains NaN or inf values")
    return arr.astype(np.float64)


def check_positive_int(value, name, minimum=1):
    """Returns ``value`` as an int >= ``minimum``; raises TypeError/ValueError naming it."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name}: expected an integer >= {minimum}, received {value!r}")
    if value < minimum:
        raise ValueError(f"{name}: expected an integer >= {minimum}, received {value}")
    return int(value)


def check_optional_positive_int(value, name):
    """None, or ``value`` checked by :func:`check_positive_int`."""
    return None if value is None else check_positive_int(value, name)


def check_fraction(value, name, low=0.0, high=1.0, low_open=False):
    """Returns ``value`` as a float in [low, high] ((low, high] if ``low_open``).

    Raises:
      TypeError: not a real number (booleans refused). ValueError: outside the interval.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name}: expected a number, received {value!r}")
    value = float(value)
    bad = (value <= low if low_open else value < low) or value > high or not np.isfinite(value)
    if bad:
        bracket = "(" if low_open else "["
        raise ValueError(f"{name}: expected a value in {bracket}{low}, {high}], received {value}")
    return value


def check_positive(value, name):
    """Returns ``value`` as a finite float > 0; raises TypeError/ValueError naming it."""
    value = check_nonnegative(value, name)
    if value == 0:
        raise ValueError(f"{name}: expected a finite number > 0, received {value}")
    return value


def check_nonnegative(value, name):
    """Returns ``value`` as a finite float >= 0; raises TypeError/ValueError naming it."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name}: expected a number, received {value!r}")
    if not np.isfinite(value) or value < 0:
        raise ValueError(f"{name}: expected a finite number >= 0, received {value}")
    return float(value)


def check_class_indices(value, n, name):
    """Returns class indices as int32 ``[n]`` from one integer or ``n`` integers.

    Args:
      value: an int (numpy integers included) or a 1-D sequence of ``n`` ints.
      n: number of rows.
      name: the argument's name for messages.

    Raises:
      TypeError: not integers (floats are refused, not truncated; booleans too).
      ValueError: a sequence whose length is not ``n``.
    """
    arr = np.asarray(value)
    if arr.dtype == bool or not np.issubdtype(arr.dtype, np.integer):
        raise TypeError(f"{name}: expected an int or {n} ints, received {value!r} "
                        f"(dtype {arr.dtype})")
    if arr.ndim == 0:
        return np.full([n], int(arr), np.int32)
    if arr.shape != (n,):
        raise ValueError(f"{name}: expected an int or {n} ints (one per row), received shape "
                         f"{arr.shape}")
    return arr.astype(np.int32)


def check_class_idx(class_idx, num_classes, name):
    """Raises ValueError if any class is outside [0, num_classes)."""
    c = np.asarray(class_idx)
    if c.size and (c.min() < 0 or c.max() >= num_classes):
        bad = c[(c < 0) | (c >= num_classes)]
        raise ValueError(f"{name}: class index {int(bad.flat[0])} is out of range; the model has "
                         f"{num_classes} classes (valid: 0..{num_classes - 1})")


def check_same_shape(value, reference_shape, name, reference_name):
    """Raises ValueError naming ``name`` if ``value``'s shape is not ``reference_shape``."""
    if tuple(value.shape) != tuple(reference_shape):
        raise ValueError(f"{name}: expected shape {tuple(reference_shape)} (the shape of "
                         f"{reference_name}), received {tuple(value.shape)}")


def check_bool(value, name):
    """Returns ``value`` if it is a bool (numpy bools included); TypeError naming it otherwise."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name}: expected True or False, received {value!r}")
    return bool(value)


def check_range(value, name, finite=True):
    """A range ``(low, high)`` as two floats with ``low < high``.

    Args:
      value: a pair of numbers.
      name: the argument's name in messages.
      finite: refuse infinite bounds.

    Returns:
      ``(low, high)`` floats.

    Raises:
      ValueError naming ``name``: not a pair of numbers, ``low >= high`` (or NaN), an infinite
        bound when ``finite``.
    """
    try:
        low, high = (float(v) for v in value)
    except (TypeError, ValueError):
        raise ValueError(f"{name}: expected (low, high), received {value!r}") from None
    if not low < high or (finite and not (np.isfinite(low) and np.isfinite(high))):
        kind = "finite low < high" if finite else "low < high"
        raise ValueError(f"{name}: expected {kind}, received {value!r}")
    return low, high


def check_within(x, low, high, name):
    """Raises ValueError naming ``name`` if ``x`` has values outside ``[low, high]``."""
    if x.min() < low or x.max() > high:
        raise ValueError(f"{name}: the inputs lie in [{x.min():g}, {x.max():g}], outside "
                         f"({low:g}, {high:g}); pass the inputs' valid range, or None")


def fits_declared_shape(shape, declared) -> bool:
    """Whether ``shape`` fits a ``declared`` shape: the same rank, and equal sizes wherever
    ``declared`` is not None."""
    return len(shape) == len(declared) and all(d is None or d == s
                                               for s, d in zip(shape, declared))


def check_batch_size(value, name="batch_size"):
    """None, ``"auto"`` or an int >= 1 (a path method's ``batch_size``); TypeError /
    ValueError naming it otherwise."""
    if value is None or (isinstance(value, str) and value == "auto"):
        return value
    if isinstance(value, str):
        raise ValueError(f"{name}: expected None, 'auto' or an integer >= 1, received {value!r}")
    return check_positive_int(value, name)
