"""The PAIR ``call_model_function`` keys, re-exported so users need not import ``saliency``,
and PAIR's messages for outputs of the wrong shape (``SHAPE_ERROR_MESSAGE[key].format(expected,
actual)``), which tfpath raises in the same words."""
from saliency.core.base import (CONVOLUTION_LAYER_VALUES, CONVOLUTION_OUTPUT_GRADIENTS,
                                INPUT_OUTPUT_GRADIENTS, OUTPUT_LAYER_VALUES,
                                SHAPE_ERROR_MESSAGE)

ALL_KEYS = (INPUT_OUTPUT_GRADIENTS, OUTPUT_LAYER_VALUES, CONVOLUTION_LAYER_VALUES,
            CONVOLUTION_OUTPUT_GRADIENTS)

__all__ = ["INPUT_OUTPUT_GRADIENTS", "OUTPUT_LAYER_VALUES", "CONVOLUTION_LAYER_VALUES",
           "CONVOLUTION_OUTPUT_GRADIENTS", "ALL_KEYS", "SHAPE_ERROR_MESSAGE"]
