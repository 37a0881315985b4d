"""The inputs' valid range, shared by the paths that clip their steps (AGI's, IG²'s)."""
from typing import Optional

import tensorflow as tf


def clip(x, low: Optional[float], high: Optional[float]):
    """``x`` clipped to ``[low, high]``; a None bound does not clip on its side."""
    if low is not None:
        x = tf.maximum(x, low)
    if high is not None:
        x = tf.minimum(x, high)
    return x
