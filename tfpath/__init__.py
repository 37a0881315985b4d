"""tfpath: path attributions of predictions and of predictive uncertainty for TensorFlow/Keras.

Every method is target × baseline × path × integrator on one streaming, batched engine
(:mod:`tfpath.protocols`, :mod:`tfpath.engine`). Two faces: PAIR ``saliency``-compatible
classes (``GetMask`` ...) and :class:`ModelFunction` for Keras models.

``import tfpath`` is cheap: TensorFlow and the public names below are imported on first use
(PEP 562 module ``__getattr__``), so ``tfpath --help`` and ``tfpath.__version__`` do not load
TensorFlow. ``tfpath.X`` and ``from tfpath import X`` work for every name of ``__all__``, and
``tfpath.<submodule>`` (``tfpath.zoo``, ``tfpath.uncertainty``, ...) imports that submodule.
"""
import importlib as _importlib
import importlib.util as _importlib_util
import os as _os

_os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

__version__ = "0.1.0"

# public name -> the module that defines it (imported on first access)
_LAZY = {
    "CONVOLUTION_LAYER_VALUES": "tfpath.core.keys",
    "CONVOLUTION_OUTPUT_GRADIENTS": "tfpath.core.keys",
    "INPUT_OUTPUT_GRADIENTS": "tfpath.core.keys",
    "OUTPUT_LAYER_VALUES": "tfpath.core.keys",
    "ModelFunction": "tfpath.core.model_function",
    "Logit": "tfpath.targets",
    "Probability": "tfpath.targets",
    "Score": "tfpath.targets",
    "Target": "tfpath.targets",
    "get_target": "tfpath.targets",
    "LocalDistribution": "tfpath.local_distribution",
    "AGI": "tfpath.methods",
    "IG2": "tfpath.methods",
    "LPI": "tfpath.methods",
    "BlurIG": "tfpath.methods",
    "ExpectedGradients": "tfpath.methods",
    "GenerativeIG": "tfpath.methods",
    "GenerativeIGDetails": "tfpath.methods",
    "GradientSaliency": "tfpath.methods",
    "GuidedIG": "tfpath.methods",
    "IG2Details": "tfpath.methods",
    "IntegratedGradients": "tfpath.methods",
    "NoiseTunnel": "tfpath.methods",
    "PathDetails": "tfpath.methods",
    # the uncertainty targets "entropy", "aleatoric", "epistemic" are also resolvable by name
    # without importing tfpath.uncertainty first (tfpath.targets.get_target registers them)
    "Aleatoric": "tfpath.uncertainty",
    "Entropy": "tfpath.uncertainty",
    "Epistemic": "tfpath.uncertainty",
    "TextModel": "tfpath.text",
    "TokenAttribution": "tfpath.text",
    "explain_dataset": "tfpath.dataset",
    "evaluate_shards": "tfpath.dataset",
    "load_shards": "tfpath.dataset",
}
# submodules that ``import tfpath`` used to import eagerly, listed by ``dir(tfpath)``
_SUBMODULES = ("baselines", "targets")

__all__ = sorted(_LAZY) + list(_SUBMODULES) + ["__version__"]


def __getattr__(name):
    """Imports a public name (or a submodule) of tfpath on first access (PEP 562)."""
    module = _LAZY.get(name)
    if module is not None:
        value = getattr(_importlib.import_module(module), name)
        globals()[name] = value                  # later accesses skip __getattr__
        return value
    if not name.startswith("_"):
        try:
            spec = _importlib_util.find_spec(f"{__name__}.{name}")
        except (ImportError, ValueError):
            spec = None
        if spec is not None:
            return _importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))
