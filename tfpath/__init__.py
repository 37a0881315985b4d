"""tfpath: path attributions of predictions and of predictive uncertainty for TensorFlow/Keras.

Every method is target × baseline × path × integrator on one streaming, batched engine
(:mod:`tfpath.protocols`, :mod:`tfpath.engine`). Two faces: PAIR ``saliency``-compatible
classes (``GetMask`` ...) and :class:`ModelFunction` for Keras models.
"""
import os as _os

_os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from tfpath.core.keys import (CONVOLUTION_LAYER_VALUES, CONVOLUTION_OUTPUT_GRADIENTS,  # noqa: E402
                              INPUT_OUTPUT_GRADIENTS, OUTPUT_LAYER_VALUES)
from tfpath.core.model_function import ModelFunction  # noqa: E402
from tfpath import baselines, targets  # noqa: E402
from tfpath.targets import Logit, Probability, Score, Target, get_target  # noqa: E402

__version__ = "0.1.0"
from tfpath.local_distribution import LocalDistribution  # noqa: E402
from tfpath.methods import (AGI, IG2, LPI, BlurIG, ExpectedGradients,  # noqa: E402
                            GenerativeIG, GenerativeIGDetails, GradientSaliency, GuidedIG,
                            IG2Details, IntegratedGradients, NoiseTunnel, PathDetails)
# registers the uncertainty targets "entropy", "aleatoric", "epistemic" (see tfpath.uncertainty)
from tfpath.uncertainty import Aleatoric, Entropy, Epistemic  # noqa: E402
from tfpath.text import TextModel, TokenAttribution  # noqa: E402
