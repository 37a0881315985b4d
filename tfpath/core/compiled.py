"""Compiled calls with a free batch axis: one ``tf.function`` trace per input shape.

:class:`CompiledCalls` holds named TensorFlow-traceable calls ``fn(x [n, ...], class_idx [n] |
None)`` and compiles each once per (name, feature shape, with or without classes), with an input
signature whose batch axis is ``None``, so a model function traces each call once however many
rows it is given. Each is kept as the trace's concrete function and called directly: a
``tf.function``'s per-call argument matching costs about 0.4 ms, a third of a small model's
forward pass.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Mapping, Tuple

import tensorflow as tf

from tfpath.core import memo


def quiet_tracing(fn):
    """Silences TensorFlow's "frequent retracing" warning for ``fn``, a ``tf.function``.

    TensorFlow counts traces per Python code object, across all instances. tfpath traces each
    call once per model function and input shape, by design, not the retracing loop the
    warning is about, so many model functions would otherwise trigger it.
    """
    fn._omit_frequent_tracing_warning = True   # the attribute tf.function reads; no public API
    return fn


@dataclass(frozen=True)
class CallKey:
    """What one compiled call depends on: the call, the feature shape, whether classes come."""

    name: str
    feature_shape: Tuple[int, ...]
    with_class: bool


class CompiledCalls:
    """Named calls compiled once per input shape.

    Args:
      calls: ``{name: fn(x, class_idx)}`` of TensorFlow-traceable functions; ``class_idx`` is an
        int32 tensor ``[n]`` or None.
    """

    def __init__(self, calls: Mapping[str, Callable]):
        self.calls = dict(calls)

    def __call__(self, name, x, class_idx=None):
        """Runs call ``name`` on ``x`` (float32 ``[n, ...]``) and ``class_idx`` (``[n]`` or None).

        Returns:
          The call's tensors.
        """
        x = tf.convert_to_tensor(x, tf.float32)
        key = CallKey(name, tuple(x.shape[1:]), class_idx is not None)
        fn = memo.memoized(self, "traces", key, lambda: self._compile(name, x, class_idx))
        if class_idx is None:
            return fn(x)
        return fn(x, tf.convert_to_tensor(class_idx, tf.int32))

    def _compile(self, name, x, class_idx):
        call = self.calls[name]
        x_spec = tf.TensorSpec([None, *x.shape[1:]], tf.float32)
        if class_idx is None:
            fn = tf.function(lambda x: call(x, None), input_signature=[x_spec])
        else:
            fn = tf.function(call, input_signature=[x_spec, tf.TensorSpec([None], tf.int32)])
        return quiet_tracing(fn).get_concrete_function()
