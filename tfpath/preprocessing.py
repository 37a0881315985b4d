"""Input preprocessing inside the model function: attributions in the user's pixel space.

``ModelFunction(model, preprocess=spec)`` explains ``F(preprocess(x))``: the preprocessing is
part of the differentiated function, so gradients and attributions are with respect to the
pixels the user holds (e.g. 0–255, as PAIR's ImageNet examples do), and baselines (a black
image is ``0``) live in that space too.

``spec`` is resolved by :func:`resolve`:

* a ``keras.applications`` family name (see :data:`FAMILIES`): that module's
  ``preprocess_input`` on pixels in [0, 255] (``"mobilenet_v2"``: ``x / 127.5 - 1``;
  ``"resnet50"``: RGB→BGR and ImageNet mean subtraction; ``"densenet"``: ``/ 255`` and ImageNet
  mean / std; ``"mobilenet_v3"``, ``"efficientnet"``, ``"efficientnet_v2"``, ``"convnext"``:
  the identity, as in Keras, because those models rescale inside);
* an input range ``"LOW,HIGH"`` or ``(low, high)``: pixels in [0, 255] mapped linearly to
  ``[low, high]`` (``low + (high - low) * x / 255``);
* a callable ``x -> model input`` (TensorFlow-traceable and differentiable);
* None: no preprocessing.

Every family's function is checked (``tests/test_preprocess.py``) to run on a ``tf.constant``
inside ``tf.function`` and to have a gradient. This module imports neither TensorFlow nor Keras
until a preprocessing is built or called, so names can be checked cheaply (the CLI does).
"""
from __future__ import annotations

import importlib
from typing import Callable, Optional, Tuple

# family name -> module of keras.applications whose preprocess_input it uses
FAMILIES = {
    "convnext": "convnext",
    "densenet": "densenet",
    "efficientnet": "efficientnet",
    "efficientnet_v2": "efficientnet_v2",
    "inception_resnet_v2": "inception_resnet_v2",
    "inception_v3": "inception_v3",
    "mobilenet": "mobilenet",
    "mobilenet_v2": "mobilenet_v2",
    "mobilenet_v3": "mobilenet_v3",
    "nasnet": "nasnet",
    "resnet": "resnet",
    "resnet50": "resnet50",
    "resnet_v2": "resnet_v2",
    "vgg16": "vgg16",
    "vgg19": "vgg19",
    "xception": "xception",
}

PIXEL_RANGE = (0.0, 255.0)


class Preprocess:
    """A named, TensorFlow-traceable preprocessing ``x -> model input`` (float32 in, float32 out).

    Attributes:
      name: the family name, ``"LOW,HIGH"`` for a range, or the wrapped function's name.
      input_range: the range the raw inputs are expected in (``(0, 255)`` for families and
        ranges; None for a user callable).
    """

    def __init__(self, fn: Callable, name: str, input_range: Optional[Tuple[float, float]]):
        self.fn, self.name, self.input_range = fn, name, input_range

    def __call__(self, x):
        import tensorflow as tf
        out = self.fn(tf.convert_to_tensor(x, tf.float32))
        return tf.cast(out, tf.float32)

    def __repr__(self):
        return f"Preprocess({self.name!r})"


def parse_range(text: str) -> Tuple[float, float]:
    """``"LOW,HIGH"`` -> ``(low, high)``.

    Raises:
      ValueError: not two comma-separated numbers, or ``low >= high``.
    """
    try:
        low, high = (float(v) for v in str(text).split(","))
    except ValueError:
        raise ValueError(f"expected LOW,HIGH (e.g. 0,1 or -1,1), received {text!r}") from None
    return _check_range(low, high, text)


def _check_range(low, high, shown):
    if not (low == low and high == high) or not high > low:       # NaN, or not increasing
        raise ValueError(f"expected LOW < HIGH, received {shown!r}")
    return float(low), float(high)


def range_preprocess(low: float, high: float) -> Preprocess:
    """Pixels in [0, 255] mapped linearly to ``[low, high]``: ``low + (high - low) * x / 255``."""
    low, high = _check_range(low, high, (low, high))
    scale = (high - low) / 255.0

    def linear(x):
        return low + scale * x
    return Preprocess(linear, f"{low:g},{high:g}", PIXEL_RANGE)


def family_preprocess(name: str) -> Preprocess:
    """``keras.applications.<module>.preprocess_input`` of family ``name`` (see FAMILIES).

    Raises:
      ValueError: unknown family (the message lists the valid names).
    """
    key = name.strip().lower().replace("-", "_")
    if key not in FAMILIES:
        raise ValueError(f"unknown preprocessing {name!r}; expected one of "
                         f"{', '.join(sorted(FAMILIES))}, or an input range LOW,HIGH "
                         "(e.g. -1,1)")
    module = importlib.import_module(f"keras.applications.{FAMILIES[key]}")
    return Preprocess(module.preprocess_input, key, PIXEL_RANGE)


def check_spec(spec) -> None:
    """Checks a family name or range string without importing TensorFlow.

    Raises:
      ValueError: as :func:`resolve`.
    """
    if isinstance(spec, str):
        if "," in spec:
            parse_range(spec)
        elif spec.strip().lower().replace("-", "_") not in FAMILIES:
            family_preprocess(spec)             # raises with the list of valid names


def resolve(spec) -> Optional[Callable]:
    """The preprocessing callable of ``spec``.

    Args:
      spec: None; a family name of :data:`FAMILIES` (``"mobilenet_v2"``, ``"resnet50"``, ...);
        an input range ``"LOW,HIGH"`` or a ``(low, high)`` pair (pixels in [0, 255] mapped
        linearly); or a callable ``x -> model input`` (returned unchanged; it must be
        TensorFlow-traceable and differentiable).

    Returns:
      None for None; otherwise a callable ``x [n, ...] -> model input`` (a :class:`Preprocess`
      for names and ranges).

    Raises:
      ValueError: an unknown family name (the message lists the valid ones), a malformed range
        or ``low >= high``. TypeError: any other type.
    """
    if spec is None:
        return None
    if callable(spec) and not isinstance(spec, (str, tuple, list)):
        return spec
    try:
        if isinstance(spec, str):
            return range_preprocess(*parse_range(spec)) if "," in spec else family_preprocess(spec)
        if isinstance(spec, (tuple, list)):
            if len(spec) != 2:
                raise ValueError(f"expected (low, high), received {spec!r}")
            try:
                low, high = float(spec[0]), float(spec[1])
            except (TypeError, ValueError):
                raise ValueError(f"expected two numbers (low, high), received {spec!r}") from None
            return range_preprocess(low, high)
    except ValueError as e:
        raise ValueError(f"preprocess: {e}") from None
    raise TypeError(f"preprocess: expected None, a family name, 'LOW,HIGH', (low, high) or a "
                    f"callable, received {type(spec).__name__}")
