"""MC dropout (Gal & Ghahramani 2016) over a Keras 3 model, with S frozen masks."""
from __future__ import annotations

import tensorflow as tf

from tfpath.uncertainty import _frozen
from tfpath.uncertainty.models import SampledModel


def _mask_shape(layer):
    """Per-example shape of a Dropout layer's mask (its noise shape, batch axis excluded)."""
    import keras
    feature_shape = list(layer.input.shape[1:])
    if any(d is None for d in feature_shape):
        raise ValueError(f"model: Dropout layer {layer.name!r} has an input of unknown shape "
                         f"{tuple(layer.input.shape)}; MC dropout needs static feature shapes")
    spatial = getattr(keras.layers, "SpatialDropout1D").__mro__[1]  # BaseSpatialDropout
    if isinstance(layer, spatial):
        channels_first = getattr(layer, "data_format", "channels_last") == "channels_first"
        channel_axis = 0 if channels_first else len(feature_shape) - 1
        return [d if i == channel_axis else 1 for i, d in enumerate(feature_shape)]
    noise_shape = getattr(layer, "noise_shape", None)
    if noise_shape is None:
        return feature_shape
    return [f if n is None else int(n) for n, f in zip(list(noise_shape)[1:], feature_shape)]


def _draw_masks(num_samples, mask_shape, rate, seed):
    """S inverted-dropout masks ``Bernoulli(1 - rate) / (1 - rate)``: ``[S, *mask_shape]``."""
    keep = 1.0 - rate
    uniform = tf.random.stateless_uniform([num_samples] + mask_shape, seed=seed)
    return tf.cast(uniform < keep, tf.float32) / keep


class MCDropout(SampledModel):
    """MC dropout: S dropout masks per input over a Keras 3 model with Dropout layers.

    The first, MC-dropout version of the code of Perez et al. ("Attribution of Predictive
    Uncertainties in Classification Models", UAI 2022; Featurespace/uncertainty-attribution,
    commit 168deaf) gets MC dropout by calling ``Dropout(rate)(x, training=True)``; that
    draws a new mask for every row and every call (and, model-wide, also puts BatchNorm in
    training mode), so along a path the target is not a function. Here the masks are frozen
    (common random numbers), so the target is a deterministic function of x:

    Freezing: each ``keras.layers.Dropout`` (and SpatialDropout1D/2D/3D, with their noise
    shapes) is replaced, in a clone that shares every other layer, by a view that multiplies
    sample s's block of rows by mask m_s, one mask per sample broadcast over the batch axis.
    ``m_s = Bernoulli(1 − rate) / (1 − rate)`` is drawn with stateless random ops from the seed
    variable and the layer's index, so it is identical at every call until :meth:`resample`.
    All other layers run in inference mode (BatchNorm uses its moving statistics; GaussianNoise,
    GaussianDropout and AlphaDropout are inactive, as in any inference call).

    Cost: one model call on ``S·n`` rows per ``n`` inputs; choose ``batch_size`` of the methods
    accordingly (rows per call are multiplied by S).

    Args:
      model: a Keras 3 functional or Sequential model with at least one Dropout layer
        (nested functional/Sequential sub-models are rewired too).
      num_samples: S >= 1 (that MC-dropout version of the authors' code uses T = 500 per
        gradient; 16-50 suffice for smooth attributions of small models).
      seed: seed of the masks (integer >= 0).
      output: ``"auto"`` (from the model's last layer), ``"logits"`` or ``"probabilities"``.

    Raises:
      TypeError: not a Keras 3 model; bad seed.
      ValueError: ``num_samples < 1``; no Dropout layer; subclassed model; unknown shapes.
    """

    freezing = ("one dropout mask per sample s, broadcast over the batch, from a seed variable; "
                "other layers in inference mode")
    layer_kind = "Dropout"

    def __init__(self, model, num_samples=16, seed=0, output="auto"):
        super().__init__(model, num_samples, seed, output)

    def _make_view(self, layer, index):
        import keras
        if not isinstance(layer, keras.layers.Dropout):
            return None
        rate = float(layer.rate)
        mask_shape = _mask_shape(layer)
        num_samples = self.num_samples

        def frozen_dropout(inputs):
            if rate == 0.0:
                return inputs
            masks = tf.cast(_draw_masks(num_samples, mask_shape, rate, self.layer_seed(index)),
                            inputs.dtype)
            masked = _frozen.split_samples(inputs, num_samples) * masks[:, None]
            return _frozen.merge_samples(masked)

        return _frozen.view_class(keras.layers.Layer)(frozen_dropout, f"{layer.name}_frozen")

    def masks(self, layer_name):
        """The S frozen masks of the Dropout layer ``layer_name``: ``[S, *mask_shape]``.

        Raises:
          ValueError: no Dropout layer of that name.
        """
        for index, layer in enumerate(self.stochastic_layers):
            if layer.name == layer_name:
                return _draw_masks(self.num_samples, _mask_shape(layer), float(layer.rate),
                                   self.layer_seed(index)).numpy()
        names = [l.name for l in self.stochastic_layers]
        raise ValueError(f"layer_name: no Dropout layer {layer_name!r}; Dropout layers are "
                         f"{names}")
