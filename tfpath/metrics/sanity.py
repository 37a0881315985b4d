"""Sanity check: cascading model-parameter randomisation (Adebayo et al., "Sanity Checks for
Saliency Maps", NeurIPS 2018, §3.1). An explanation that depends on the model must change when
the model's weights are replaced by random ones, from the top layer down; an edge detector
does not.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tfpath.core import validation
from tfpath.metrics.checks import check_class_idx, saliency_maps
from tfpath.metrics.results import standard_error
from tfpath.metrics.ground_truth import rank_correlation


@dataclass
class RandomizationResult:
    """Rank correlations between original and randomised-model saliency maps.

    Attributes:
      layers: names of the randomised layers, in randomisation order (top first); entry ``i``
        has layers ``0..i`` randomised (cascading) or only layer ``i`` (independent).
      spearman: ``[L, n]`` Spearman correlation per step and image.
      mean, standard_error: ``[L]`` over images.
    """

    layers: list
    spearman: np.ndarray
    mean: np.ndarray
    standard_error: np.ndarray

    def table(self) -> str:
        rows = ["layer randomised          spearman (mean ± s.e.)"]
        rows += [f"{name:<25} {m:+.3f} ± {s:.3f}"
                 for name, m, s in zip(self.layers, self.mean, self.standard_error)]
        return "\n".join(rows)


def _explain(explainer, mf, images, class_idx, kwargs):
    if hasattr(explainer, "GetMaskBatch"):
        args = None if class_idx is None else {"class_idx": class_idx}
        return explainer.GetMaskBatch(images, mf, args, **kwargs)
    if callable(explainer):
        return explainer(mf, images, class_idx, **kwargs)
    raise TypeError("explainer: expected a tfpath method (with GetMaskBatch) or a callable "
                    f"fn(model_function, images, class_idx), received {type(explainer).__name__}")


def _randomize_layer(layer, rng):
    """Replaces every weight of ``layer`` by a random draw: kernels from the layer's own
    ``kernel_initializer`` (Adebayo et al. re-initialise), every other weight (biases, BN
    statistics) from N(mean, std) of its current values (std 0.05 if they are constant).
    Moving variances stay positive (absolute value)."""
    import keras
    new = []
    for var, w in zip(layer.weights, layer.get_weights()):
        name = var.path if hasattr(var, "path") else var.name
        init = getattr(layer, "kernel_initializer", None)
        if "kernel" in name.split("/")[-1] and init is not None:
            cfg = keras.initializers.serialize(init)
            fresh = keras.initializers.deserialize(cfg)
            if hasattr(fresh, "seed"):
                fresh.seed = int(rng.integers(2 ** 31))
            value = np.asarray(fresh(w.shape, dtype=w.dtype))
        else:
            std = float(np.std(w)) or 0.05
            value = rng.normal(float(np.mean(w)), std, w.shape).astype(w.dtype)
            if "variance" in name:
                value = np.abs(value)
        new.append(value)
    layer.set_weights(new)


def model_randomization(model, images, class_idx, explainer, *, target="logit",
                        output="auto", layers=None, cascading=True, reduce="abs_sum",
                        seed=0, explainer_kwargs=None):
    """Cascading (or independent) model-parameter randomisation test (Adebayo et al. 2018).

    The model is cloned; layers with weights are randomised from the top (output) down, and
    after each layer the explanations of the randomised model are compared with the original
    ones by Spearman rank correlation of their saliency maps (``reduce``; ``"abs_sum"``
    corresponds to the paper's absolute-value maps). High correlation after randomising the
    whole network means the explanation does not depend on the model.

    Args:
      model: a Keras model (not modified).
      images: ``[n, ...]`` float32 inputs.
      class_idx: the class per image (int or ``[n]``) or None for class-free targets.
      explainer: a tfpath (or PAIR) method with ``GetMaskBatch``, or a callable
        ``fn(model_function, images, class_idx) -> attributions``.
      target, output: of the :class:`tfpath.ModelFunction` built for each model.
      layers: names of the layers to randomise, in that order; None: all layers with weights,
        top first.
      cascading: randomise cumulatively (True, "cascading") or one layer at a time
        ("independent").
      reduce: channel reduction of image attributions (ignored for other ranks).
      seed: seed of the random weights.
      explainer_kwargs: keyword arguments of the explainer (e.g. ``{"x_steps": 16}``).

    Returns:
      :class:`RandomizationResult`.

    Raises:
      TypeError: ``model`` is not a Keras model; bad ``explainer``. ValueError: unknown layer
      names, a model without weights, bad inputs.
    """
    import keras
    from tfpath.core.keras_utils import is_keras_model
    from tfpath.core.model_function import ModelFunction
    if not is_keras_model(model):
        raise TypeError(f"model: expected a Keras model, received {type(model).__name__}")
    x = validation.check_array(images, "images", min_rank=2)
    c = check_class_idx(class_idx, x.shape[0])
    kwargs = dict(explainer_kwargs or {})
    names = [l.name for l in model.layers if l.weights]
    if not names:
        raise ValueError("model: has no layers with weights to randomise")
    if layers is None:
        layers = names[::-1]
    unknown = [name for name in layers if name not in names]
    if unknown:
        raise ValueError(f"layers: no layer with weights named {unknown}; layers are {names}")
    rng = np.random.default_rng(seed)

    def saliency(m):
        mf = ModelFunction(m, target=target, output=output)
        a = np.asarray(_explain(explainer, mf, x, c, kwargs), np.float64)
        return saliency_maps(a, a.shape, reduce) if a.ndim == 4 else a

    original = saliency(model)
    clone = None
    rows = []
    for name in layers:
        if clone is None or not cascading:
            clone = keras.models.clone_model(model)
            clone.set_weights(model.get_weights())
        _randomize_layer(clone.get_layer(name), rng)
        rows.append(rank_correlation(original, saliency(clone)))
    spearman = np.asarray(rows)
    return RandomizationResult(list(layers), spearman, np.nanmean(spearman, axis=1),
                               np.array([standard_error(r) for r in spearman]))
