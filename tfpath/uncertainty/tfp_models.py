"""Frozen posterior samples of tf_keras models built with ``tfp.layers`` variational layers."""
from __future__ import annotations

import tensorflow as tf

from tfpath.uncertainty import _frozen
from tfpath.uncertainty.models import SampledModel


def _variational_bases():
    from tensorflow_probability.python.layers import conv_variational, dense_variational
    return dense_variational._DenseVariational, conv_variational._ConvVariational


class TFPVariational(SampledModel):
    """S frozen weight draws of a tf_keras model with ``tfp.layers`` variational layers.

    Supported layers: DenseReparameterization, DenseFlipout, DenseLocalReparameterization,
    Convolution1D/2D/3D Reparameterization and Flipout (any ``kernel_posterior_fn`` whose
    distributions accept stateless seeds, e.g. TFP's default mean-field normal).

    Freezing (the S draws must be the same at every point of a path, or the target is not a
    function of x and its gradients are noise): Flipout draws per-example sign flips and local
    reparameterization per-example pre-activations by design, so the layer's own ``call``
    cannot be frozen. Each variational layer is replaced, in a clone sharing every other layer,
    by a view that draws S weight sets ``W_s ~ kernel_posterior`` and ``b_s ~
    bias_posterior`` (``sample(S, seed=...)`` with a stateless seed from the seed variable and
    the layer's index) and evaluates the layer in the Reparameterization form
    ``activation(op(x, W_s) + b_s)`` for every row of sample s. This has the same marginal
    predictive distribution as Flipout / local reparameterization; departure: it is not the
    per-example estimator those layers use in training. The draws are taken from the current
    posterior at each call, so further training needs no resample. The views add no KL loss.
    Other layers (Dropout, BatchNorm) run in inference mode.

    Args:
      model: a tf_keras functional or Sequential model (``tf_keras.Model``).
      num_samples: S >= 1.
      seed: seed of the draws (integer >= 0).
      output: ``"auto"`` (from the model's last layer), ``"logits"`` or ``"probabilities"``.

    Raises:
      TypeError: not a tf_keras model; bad seed.
      ValueError: ``num_samples < 1``; no supported variational layer; subclassed model.
    """

    freezing = ("S weight draws per tfp.layers layer from a seed variable, applied in the "
                "Reparameterization form: W_s for every row of sample s")
    keras_module_name = "tf_keras"
    layer_kind = "tfp.layers variational (Dense*/Convolution*)"

    def __init__(self, model, num_samples=16, seed=0, output="auto"):
        super().__init__(model, num_samples, seed, output)

    def _make_view(self, layer, index):
        import tf_keras
        dense_base, conv_base = _variational_bases()
        if isinstance(layer, dense_base):
            apply, channels_first = _frozen.dense_per_sample, False
        elif isinstance(layer, conv_base):
            conv, channels_first = _frozen.convolution_fn(layer, layer.rank)
            apply = lambda x, k, s: _frozen.conv_per_sample(x, k, s, conv)  # noqa: E731
        else:
            return None
        num_samples = self.num_samples

        def frozen(inputs):
            seed = self.layer_seed(index)
            inputs = tf.cast(inputs, layer.dtype)
            kernels = layer.kernel_posterior.sample(num_samples, seed=seed)
            biases = (None if layer.bias_posterior is None else
                      layer.bias_posterior.sample(num_samples, seed=seed + [0, 1]))
            y = _frozen.add_bias_per_sample(apply(inputs, kernels, num_samples), biases,
                                            channels_first)
            y = _frozen.merge_samples(y)
            return layer.activation(y) if layer.activation is not None else y

        return _frozen.view_class(tf_keras.layers.Layer)(frozen, f"{layer.name}_frozen")
