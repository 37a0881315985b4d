"""Argument checks of the metrics, and the attributions → saliency maps conversion.

Every check names the argument in its message, says what was expected and what was received.
"""
from __future__ import annotations

import numpy as np

from tfpath.core import reductions, validation


def check_images(images, value_range=(0.0, 1.0), name="images"):
    """Returns ``images`` as float32 NHWC ``[n, H, W, C]`` inside ``value_range``.

    Args:
      images: a batch ``[n, H, W, C]`` (``[n, H, W]`` gains a channel axis).
      value_range: ``(low, high)`` the inputs must lie in (the model's input scaling); None
        skips the range check.
      name: the argument's name, used in error messages.

    Returns:
      float32 array ``[n, H, W, C]``.

    Raises:
      TypeError: not a float array. ValueError: wrong rank, empty, NaN/inf, values outside
        ``value_range`` (e.g. 0..255 images given to a metric expecting 0..1).
    """
    x = validation.check_array(images, name, min_rank=3)
    if x.ndim == 3:
        x = x[..., None]
    if x.ndim != 4:
        raise ValueError(f"{name}: expected a batch of images [n, H, W, C], received shape "
                         f"{x.shape}")
    if value_range is not None:
        low, high = validation.check_range(value_range, "value_range")
        lo, hi = float(x.min()), float(x.max())
        tol = 1e-5 * max(1.0, high - low)
        if lo < low - tol or hi > high + tol:
            raise ValueError(
                f"{name}: values must lie in value_range [{low:g}, {high:g}], received values in "
                f"[{lo:g}, {hi:g}]. Scale the images (e.g. x / 255.) or pass the model's input "
                "range as value_range=(low, high).")
    return x


def check_class_idx(class_idx, n, name="class_idx", required=False):
    """One class per input, or None.

    Args:
      class_idx: None, an int (broadcast to every input) or ``n`` ints.
      n: the number of inputs.
      name: the argument's name, used in error messages.
      required: raise if ``class_idx`` is None.

    Returns:
      int array ``[n]``, or None.

    Raises:
      ValueError / TypeError naming ``name``: None when ``required``; not integers; a length
      other than ``n``.
    """
    if class_idx is None:
        if required:
            raise ValueError(f"{name}: this metric needs one class per input; received None")
        return None
    return validation.check_class_indices(class_idx, n, name)


def check_choice(value, choices, name):
    """Returns ``value`` if it is one of ``choices``.

    Args:
      value: the argument given (e.g. a reduction name).
      choices: the allowed values.
      name: the argument's name, used in the error message.

    Returns:
      ``value`` unchanged.

    Raises:
      ValueError: ``value`` not in ``choices``; the message names ``name`` and lists them.
    """
    if value not in choices:
        raise ValueError(f"{name}: expected one of {tuple(choices)}, received {value!r}")
    return value


def check_fractions(fractions, name="fractions"):
    """Pixel fractions as a flat float64 array.

    Args:
      fractions: a number or a sequence/array of numbers in [0, 1] (any shape; flattened).
      name: the argument's name, used in error messages.

    Returns:
      float64 array ``[k]``, in the given order (not sorted, duplicates kept).

    Raises:
      ValueError naming ``name``: empty, NaN/inf, or a value outside [0, 1].
    """
    f = np.asarray(fractions, np.float64).reshape(-1)
    if f.size == 0:
        raise ValueError(f"{name}: is empty; expected at least one fraction")
    if not np.all(np.isfinite(f)) or f.min() < 0 or f.max() > 1:
        raise ValueError(f"{name}: expected fractions in [0, 1], received {f.tolist()}")
    return f


def saliency_maps(attributions, shape, reduce="abs_sum", name="attributions"):
    """Reduces attributions to one saliency value per pixel, ``[n, H, W]`` float64.

    The reduction is :func:`tfpath.core.reductions.reduce_channels`: ``"abs_sum"`` (Σ_c |a|,
    PAIR's grayscale visualisation, the default), ``"sum"`` (the signed sum, which the
    uncertainty curves need since their order depends on the sign) or ``"max_abs"``
    (max_c |a|). Maps given without a channel axis, ``[n, H, W]``, are reduced as one-channel
    attributions ``[n, H, W, 1]``: ``"abs_sum"`` and ``"max_abs"`` give ``|a|``, ``"sum"``
    gives ``a``. So the same maps rank the pixels the same way whether or not they carry a
    channel axis (pass ``reduce="sum"`` to rank signed maps by their signed values).

    Args:
      attributions: ``[n, H, W, C]`` (the images' shape) or maps ``[n, H, W]``.
      shape: the images' shape ``(n, H, W, C)``.
      reduce: one of :data:`tfpath.core.reductions.REDUCTIONS`.
      name: the argument's name, used in error messages.

    Returns:
      float64 array ``[n, H, W]``.

    Raises:
      ValueError: another shape, NaN/inf, empty; unknown ``reduce``.
      TypeError: a non-float array.
    """
    reductions.check_reduction(reduce, "reduce")
    a = validation.check_array(attributions, name, min_rank=3).astype(np.float64)
    shape = tuple(shape)
    if a.shape == shape:
        return reductions.reduce_channels(a, reduce)
    if a.shape == shape[:3]:
        return reductions.reduce_channels(a[..., None], reduce)
    raise ValueError(f"{name}: expected the images' shape {shape} or the maps' shape "
                     f"{shape[:3]}, received {tuple(a.shape)}")


def check_masks(masks, shape, name="masks"):
    """Ground-truth masks as booleans, one per image.

    Args:
      masks: bool or 0/1 numbers ``[n, H, W]``; ``[n, H, W, 1]`` and the images' shape
        ``[n, H, W, C]`` are accepted (a pixel is positive if any channel is).
      shape: the images' (or maps') shape, ``(n, H, W, ...)``.
      name: the argument's name, used in error messages.

    Returns:
      bool array ``[n, H, W]``.

    Raises:
      ValueError naming ``name``: empty, NaN, not boolean or numeric, another shape.
    """
    m = np.asarray(masks)
    if m.size == 0:
        raise ValueError(f"{name}: is empty (shape {m.shape})")
    if m.dtype != bool:
        if not np.issubdtype(m.dtype, np.number) or not np.all(np.isfinite(m)):
            raise ValueError(f"{name}: expected a boolean or 0/1 array without NaN")
        m = m > 0.5
    n, h, w = tuple(shape)[:3]
    if m.shape == (n, h, w):
        return m
    if m.ndim == 4 and m.shape[:3] == (n, h, w):
        return m.any(axis=-1)
    raise ValueError(f"{name}: expected shape {(n, h, w)} (one mask per image), received "
                     f"{tuple(m.shape)}")
