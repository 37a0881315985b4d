"""PAIR ``saliency`` as a test oracle on NumPy 2: a shim and PAIR's standard call_model_function.

The shim lives with the tests (and the benchmark that compares against PAIR); tfpath itself
never patches NumPy or saliency.
"""
import contextlib

import numpy as np
import saliency.core as pair
from saliency.core import guided_ig as pair_guided_ig


@contextlib.contextmanager
def numpy2_shim_for_pair_guided_ig():
    """PAIR's guided_ig calls np.quantile(interpolation=...), removed in NumPy 2.4."""
    original = pair_guided_ig.np.quantile

    def quantile(a, q, interpolation=None, **kwargs):
        if interpolation is not None:
            kwargs["method"] = interpolation
        return original(a, q, **kwargs)

    pair_guided_ig.np.quantile = quantile
    try:
        yield
    finally:
        pair_guided_ig.np.quantile = original


def keras_style_call_model_function(model, probability=False):
    """The GradientTape call_model_function of PAIR's TF2 examples (logit, or softmax)."""
    import tensorflow as tf

    def call_model_function(x_batch, call_model_args=None, expected_keys=None):
        c = call_model_args["class_idx"]
        x_batch = tf.convert_to_tensor(np.asarray(x_batch, np.float32))
        with tf.GradientTape() as tape:
            tape.watch(x_batch)
            out = model(x_batch)
            out = (tf.nn.softmax(out) if probability else out)[:, c]
        return {pair.INPUT_OUTPUT_GRADIENTS: tape.gradient(out, x_batch).numpy()}

    return call_model_function
