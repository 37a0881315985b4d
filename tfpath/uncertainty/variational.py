"""Keras 3 variational layers (mean-field Gaussian, Bayes by Backprop) and their frozen sampler.

``tfp.layers`` need tf_keras; these layers bring variational inference to Keras 3 models
trained with ``model.fit``. Each weight tensor has a mean-field Gaussian posterior
q(W) = N(μ, softplus(ρ)²) (a ``tfp.distributions`` Normal) and a N(0, σ_p²) prior; the
closed-form KL(q ‖ p), times ``kl_weight``, is added as a layer loss in training calls, so
``model.fit`` minimises the negative ELBO per example when ``kl_weight = 1 / N_train``
(Blundell et al. 2015). These layers are not from the papers: they are a Bayesian model
(S posterior weight draws per input) of the kind the total / aleatoric / epistemic
decomposition needs (Depeweg et al., ICML 2018), without tf_keras or ``tfp.layers``.

Behaviour by mode:

* ``training=True`` (``fit``): one reparameterised weight draw per call (per mini-batch),
  shared by the batch, from a Keras seed generator; KL loss added.
* inference (``training`` False/None: ``predict``, ``model(x)``): the posterior mean μ — a
  deterministic point prediction. The Bayesian predictive comes from :class:`KerasVariational`.
* frozen (inside :class:`KerasVariational`): S draws W_s = μ + softplus(ρ) ε_s, ε_s from a
  seed variable, draw s applied to sample s's block of rows.
"""
from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from tfpath.core import validation
from tfpath.uncertainty import _frozen
from tfpath.uncertainty.models import SampledModel

_MIN_SCALE = 1e-6


def _softplus_inverse(y):
    return float(np.log(np.expm1(y)))


class _Variational(keras.layers.Layer):
    """Shared parts of :class:`VariationalDense` and :class:`VariationalConv2D`."""

    def __init__(self, activation=None, use_bias=True, prior_stddev=1.0,
                 posterior_stddev_init=0.01, kl_weight=1.0, kernel_initializer="glorot_uniform",
                 seed=None, **kwargs):
        super().__init__(**kwargs)
        self.activation = keras.activations.get(activation)
        self.use_bias = bool(use_bias)
        self.prior_stddev = validation.check_positive(prior_stddev, "prior_stddev")
        self.posterior_stddev_init = validation.check_positive(posterior_stddev_init, "posterior_stddev_init")
        self.kl_weight = float(kl_weight)
        if not np.isfinite(self.kl_weight) or self.kl_weight < 0:
            raise ValueError(f"kl_weight: expected a finite number >= 0, received {kl_weight}")
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.seed = seed
        self._seed_generator = keras.random.SeedGenerator(seed)

    def _add_posterior(self, name, shape, initializer):
        loc = self.add_weight(name=f"{name}_loc", shape=shape, initializer=initializer)
        rho = self.add_weight(name=f"{name}_rho", shape=shape, initializer=keras.initializers
                              .Constant(_softplus_inverse(self.posterior_stddev_init)))
        return loc, rho

    def build_posteriors(self, kernel_shape, units):
        self.kernel_loc, self.kernel_rho = self._add_posterior(
            "kernel", kernel_shape, self.kernel_initializer)
        self.bias_loc = self.bias_rho = None
        if self.use_bias:
            self.bias_loc, self.bias_rho = self._add_posterior("bias", (units,), "zeros")

    def posteriors(self):
        """The mean-field posteriors ``[q(kernel), q(bias) or None]`` (``tfd.Normal``)."""
        import tensorflow_probability as tfp
        out = []
        for loc, rho in ((self.kernel_loc, self.kernel_rho), (self.bias_loc, self.bias_rho)):
            out.append(None if loc is None else tfp.distributions.Normal(
                loc=tf.convert_to_tensor(loc), scale=_MIN_SCALE + tf.nn.softplus(rho)))
        return out

    def kl_divergence(self):
        """KL(q ‖ p) summed over all weights (closed form, ``tfd.kl_divergence``)."""
        import tensorflow_probability as tfp
        total = 0.0
        for q in self.posteriors():
            if q is not None:
                prior = tfp.distributions.Normal(tf.zeros_like(q.loc), self.prior_stddev)
                total += tf.reduce_sum(tfp.distributions.kl_divergence(q, prior))
        return total

    def _draw(self, num_samples, seed):
        """Reparameterised draws ``[S, *shape]`` of the kernel and bias (bias may be None)."""
        draws = []
        for i, q in enumerate(self.posteriors()):
            if q is None:
                draws.append(None)
                continue
            s = tf.stack([seed[0], seed[1] + i]) if num_samples is not None else None
            eps_shape = [num_samples or 1] + list(q.loc.shape)
            eps = (tf.random.stateless_normal(eps_shape, seed=s) if s is not None else
                   keras.random.normal(eps_shape, seed=self._seed_generator))
            draws.append(q.loc + q.scale * eps)
        return draws

    def call(self, inputs, training=None):
        if training:
            kernel, bias = (d[0] if d is not None else None for d in self._draw(None, None))
            if self.kl_weight:
                self.add_loss(self.kl_weight * self.kl_divergence())
        else:
            kernel = self.kernel_loc
            bias = self.bias_loc
        y = self._apply(inputs, kernel)
        if bias is not None:
            y = y + bias
        return self.activation(y) if self.activation is not None else y

    def frozen_call(self, inputs, num_samples, seed):
        """Output with draw s applied to rows ``s·n … s·n + n − 1`` of ``inputs [S·n, ...]``.

        Args:
          inputs: sample-major tiled batch.
          num_samples: S (static).
          seed: stateless seed ``[2]`` int32.

        Returns:
          ``[S·n, ...]`` outputs.
        """
        kernels, biases = self._draw(num_samples, tf.cast(seed, tf.int32))
        y = self._apply_per_sample(inputs, kernels, num_samples)
        y = _frozen.add_bias_per_sample(y, biases)
        y = _frozen.merge_samples(y)
        return self.activation(y) if self.activation is not None else y

    def get_config(self):
        config = super().get_config()
        config.update(activation=keras.activations.serialize(self.activation),
                      use_bias=self.use_bias, prior_stddev=self.prior_stddev,
                      posterior_stddev_init=self.posterior_stddev_init,
                      kl_weight=self.kl_weight,
                      kernel_initializer=keras.initializers.serialize(self.kernel_initializer),
                      seed=self.seed)
        return config


@keras.saving.register_keras_serializable(package="tfpath")
class VariationalDense(_Variational):
    """Dense layer with a mean-field Gaussian posterior over its kernel and bias.

    Args:
      units: output features.
      activation: Keras activation (None: linear).
      use_bias: learn a (variational) bias.
      prior_stddev: σ_p of the N(0, σ_p²) prior on every weight.
      posterior_stddev_init: initial posterior standard deviation softplus(ρ).
      kl_weight: multiplier of KL(q ‖ p) in the layer loss; use ``1 / N_train`` for the ELBO
        per example (Keras losses are batch means).
      kernel_initializer: initializer of the posterior means μ.
      seed: seed of the training-time draws.

    Raises:
      ValueError: non-positive ``units``, ``prior_stddev`` or ``posterior_stddev_init``;
      negative ``kl_weight``.
    """

    def __init__(self, units, activation=None, **kwargs):
        super().__init__(activation=activation, **kwargs)
        self.units = validation.check_positive_int(units, "units")

    def build(self, input_shape):
        self.build_posteriors((int(input_shape[-1]), self.units), self.units)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.units,)

    def _apply(self, inputs, kernel):
        return tf.tensordot(inputs, kernel, axes=[[-1], [0]])

    def _apply_per_sample(self, inputs, kernels, num_samples):
        return _frozen.dense_per_sample(inputs, kernels, num_samples)

    def get_config(self):
        config = super().get_config()
        config.update(units=self.units)
        return config


@keras.saving.register_keras_serializable(package="tfpath")
class VariationalConv2D(_Variational):
    """2-D convolution (NHWC) with a mean-field Gaussian posterior over kernel and bias.

    Args:
      filters: output channels.
      kernel_size: int or pair.
      strides: int or pair.
      padding: ``"valid"`` or ``"same"``.
      dilation_rate: int or pair.
      Other arguments: as :class:`VariationalDense`.

    Raises:
      ValueError: bad ``filters``, ``padding``, sizes; as :class:`VariationalDense`.
    """

    def __init__(self, filters, kernel_size, strides=1, padding="valid", dilation_rate=1,
                 activation=None, **kwargs):
        super().__init__(activation=activation, **kwargs)
        self.filters = validation.check_positive_int(filters, "filters")
        self.kernel_size = _pair(kernel_size, "kernel_size")
        self.strides = _pair(strides, "strides")
        self.dilation_rate = _pair(dilation_rate, "dilation_rate")
        self.padding = str(padding).lower()
        if self.padding not in ("valid", "same"):
            raise ValueError(f"padding: expected 'valid' or 'same', received {padding!r}")
        self.data_format = "channels_last"

    def build(self, input_shape):
        self.build_posteriors(self.kernel_size + (int(input_shape[-1]), self.filters),
                              self.filters)

    def compute_output_shape(self, input_shape):
        spatial = []
        for size, k, s, d in zip(input_shape[1:3], self.kernel_size, self.strides,
                                 self.dilation_rate):
            if size is None:
                spatial.append(None)
            elif self.padding == "same":
                spatial.append(-(-size // s))
            else:
                spatial.append(-(-(size - d * (k - 1)) // s))
        return (input_shape[0], *spatial, self.filters)

    def _conv(self):
        return _frozen.convolution_fn(self, 2)[0]

    def _apply(self, inputs, kernel):
        return self._conv()(inputs, kernel)

    def _apply_per_sample(self, inputs, kernels, num_samples):
        return _frozen.conv_per_sample(inputs, kernels, num_samples, self._conv())

    def get_config(self):
        config = super().get_config()
        config.update(filters=self.filters, kernel_size=self.kernel_size, strides=self.strides,
                      padding=self.padding, dilation_rate=self.dilation_rate)
        return config


def _pair(value, name):
    values = (value, value) if isinstance(value, (int, np.integer)) else tuple(value)
    if len(values) != 2 or any(int(v) < 1 for v in values):
        raise ValueError(f"{name}: expected a positive int or a pair of them, received {value!r}")
    return tuple(int(v) for v in values)


class KerasVariational(SampledModel):
    """S frozen posterior draws of a Keras 3 model built with tfpath's variational layers.

    Freezing: each :class:`VariationalDense` / :class:`VariationalConv2D` is replaced, in a
    clone sharing every other layer, by a view that draws S weight sets
    W_s = μ + softplus(ρ) ε_s with ε_s from stateless random ops seeded by the seed variable
    and the layer's index, and applies W_s to sample s's block of rows (one draw per sample,
    broadcast over the batch axis). The draws track the current μ, ρ (further training needs no
    resample) and stay the same until :meth:`resample`. Other layers run in inference mode.

    Args:
      model: a Keras 3 functional or Sequential model with at least one variational layer.
      num_samples: S >= 1.
      seed: seed of the draws (integer >= 0).
      output: ``"auto"``, ``"logits"`` or ``"probabilities"``.

    Raises:
      TypeError: not a Keras 3 model; bad seed.
      ValueError: ``num_samples < 1``; no variational layer; subclassed model.
    """

    freezing = "S weight draws per variational layer from a seed variable, W_s for every row"
    layer_kind = "VariationalDense/VariationalConv2D"

    def __init__(self, model, num_samples=16, seed=0, output="auto"):
        super().__init__(model, num_samples, seed, output)

    def _make_view(self, layer, index):
        if not isinstance(layer, _Variational):
            return None
        num_samples = self.num_samples

        def frozen(inputs):
            return layer.frozen_call(inputs, num_samples, self.layer_seed(index))

        return _frozen.view_class(keras.layers.Layer)(frozen, f"{layer.name}_frozen")
