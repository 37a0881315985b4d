"""Choosing the Bayesian wrapper that fits a model."""
from __future__ import annotations

from tfpath.uncertainty.models import BayesianModel, DeepEnsemble, Deterministic


def _layers(model):
    flatten = getattr(model, "_flatten_layers", None)
    return list(flatten(include_self=False)) if flatten else list(getattr(model, "layers", []))


def as_bayesian(model, num_samples=16, seed=0, output="auto"):
    """Wraps ``model`` in the Bayesian wrapper of its kind (see :mod:`tfpath.uncertainty.models`).

    * a list/tuple of models → :class:`DeepEnsemble` (``num_samples`` ignored: S = members);
    * a tf_keras model with ``tfp.layers`` variational layers → :class:`TFPVariational`;
    * a Keras 3 model with tfpath variational layers → :class:`KerasVariational`;
    * a Keras 3 model with Dropout layers → :class:`MCDropout`;
    * anything else → :class:`Deterministic` (S = 1);
    * a :class:`BayesianModel` is returned unchanged.

    Args:
      model: the model (or list of members).
      num_samples: S for sampling wrappers.
      seed: seed of the frozen draws.
      output: ``"auto"``, ``"logits"`` or ``"probabilities"``.

    Returns:
      A :class:`BayesianModel`.

    Raises:
      As the chosen wrapper (e.g. ValueError for ``num_samples < 1``).
    """
    if isinstance(model, BayesianModel):
        return model
    if isinstance(model, (list, tuple)):
        return DeepEnsemble(model, output=output)
    from tfpath.core import validation
    validation.check_positive_int(num_samples, "num_samples")
    layers = _layers(model)
    try:
        import tf_keras
        if isinstance(model, tf_keras.Model):
            from tfpath.uncertainty.tfp_models import TFPVariational, _variational_bases
            if any(isinstance(l, _variational_bases()) for l in layers):
                return TFPVariational(model, num_samples, seed, output)
    except ImportError:  # pragma: no cover
        pass
    import keras
    if isinstance(model, keras.Model):
        from tfpath.uncertainty.mc_dropout import MCDropout
        from tfpath.uncertainty.variational import KerasVariational, _Variational
        if any(isinstance(l, _Variational) for l in layers):
            return KerasVariational(model, num_samples, seed, output)
        if any(isinstance(l, keras.layers.Dropout) for l in layers):
            return MCDropout(model, num_samples, seed, output)
    return Deterministic(model, output=output)
