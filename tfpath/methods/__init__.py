"""User-facing methods: thin compositions of target × baseline × path × integrator.

The classes are imported on first access (PEP 562), so :mod:`tfpath.methods.registry` (the
method table the command line reads) imports without TensorFlow.
"""
import importlib as _importlib

_LAZY = {
    "AGI": "agi", "PathDetails": "base", "Plan": "base", "TFPathSaliency": "base",
    "BlurIG": "blur_ig", "ExpectedGradients": "expected_gradients",
    "GenerativeIG": "generative_ig", "GenerativeIGDetails": "generative_ig",
    "GradientSaliency": "gradients", "GuidedIG": "guided_ig", "IG2": "ig2",
    "IG2Details": "ig2", "IntegratedGradients": "integrated_gradients", "LPI": "lpi",
    "NoiseTunnel": "noise",
}

__all__ = ["AGI", "PathDetails", "Plan", "TFPathSaliency", "GradientSaliency",
           "IntegratedGradients", "BlurIG", "GuidedIG", "ExpectedGradients", "LPI",
           "NoiseTunnel", "IG2", "IG2Details", "GenerativeIG", "GenerativeIGDetails"]


def __getattr__(name):
    """Imports a method class on first access (PEP 562)."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(_importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))
