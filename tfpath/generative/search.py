"""Latent searches of Generative IG (Perez et al., "Attribution of Predictive Uncertainties in
Classification Models", UAI 2022, §3.1, Eq. 2, Algorithm 1): the reconstruction latent z of
an input x and its counterfactual fiducial z0, all inputs of a batch in one compiled loop.

* reconstruction: ``z = argmin_z d(ψ(z), x) + β Σ_j z_j²`` from the encoder's mean;
* counterfactual fiducial (the penalty method of Eq. 2): ``z0 = argmin_z d(ψ(z), x) +
  β Σ_j z_j² + λ · ℓ(e_ĉ, f(ψ(z)))`` from the encoder's mean, ĉ the predicted class of x:
  ψ(z0) is close to x, in distribution, classified as ĉ and certain (H ≈ 0).

The paper and the authors' code (Featurespace/uncertainty-attribution, ``latent_optimisation.
py``) differ; both are selectable through :class:`SearchSettings`:

================ ======================================= =======================================
setting          :data:`CODE` (default: it made Table 1)   :data:`PAPER` (the text's reading)
================ ======================================= =======================================
d                Σ_pixels BCE (mean over channels)        the same (the text: "cross-entropy")
β (prior)        0.5                                      1/(2m)
class term ℓ     Keras BCE(e_ĉ, f) averaged over classes  −log f_ĉ (cross-entropy)
λ                1e4 · H·W                                1e4 · H·W (λ ≫ 0; no value given)
optimiser        Adam, lr 0.01, ≤ 2000 steps              the same (the text: gradient descent)
stopping         LossNotDecreasing atol 1e-3 (z),         the same
                 rtol 1e-3 (z0)
================ ======================================= =======================================

Algorithm 1 writes the fiducial's loss with z where z0 is meant; tfpath reads z0. The classifier
f is the model's posterior predictive p̄ (the mean over its samples for a Bayesian wrapper).
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from typing import Optional

import numpy as np
import tensorflow as tf

from tfpath.core import keras_utils, validation
from tfpath.generative.latent import Adam, LatentResult, LossNotDecreasing, minimize_latent
from tfpath.uncertainty import measures

DISTANCES = ("bce_sum", "bce_mean", "l1_sum", "l1_mean")
CLASS_LOSSES = ("binary_mean", "cross_entropy")
_BCE_CLIP = 1e-7                       # Keras's epsilon in binary cross-entropy


@dataclass(frozen=True)
class SearchSettings:
    """How the latent searches run (see the module's table for :data:`CODE` and :data:`PAPER`).

    Attributes:
      distance: d(ψ(z), x): ``"bce_sum"`` (binary cross-entropy averaged over channels, summed
        over pixels: the code, and the paper's "cross-entropy"), ``"bce_mean"``, ``"l1_sum"``
        or ``"l1_mean"`` (the paper's alternative, "mean absolute difference"). Vectors
        (rank-1 inputs) sum / average over features.
      prior_weight: β of ``β Σ z_j²``; None means the paper's 1/(2m).
      class_loss: ``"binary_mean"`` (the code's Keras BCE(e_ĉ, f), averaged over the |C|
        classes) or ``"cross_entropy"`` (−log f_ĉ, the paper's d_X).
      class_scale: λ; None means the code's ``1e4 · H·W`` (the number of pixels; the number of
        features for vectors).
      optimizer: :class:`~tfpath.generative.latent.Adam` settings.
      max_steps: most Adam steps per search.
      reconstruction_stopping, fiducial_stopping: the early stopping of each search.

    Raises:
      ValueError naming the field: unknown distance or class loss, a negative weight.
    """

    distance: str = "bce_sum"
    prior_weight: Optional[float] = 0.5
    class_loss: str = "binary_mean"
    class_scale: Optional[float] = None
    optimizer: Adam = field(default_factory=Adam)
    max_steps: int = 2000
    reconstruction_stopping: LossNotDecreasing = field(
        default_factory=lambda: LossNotDecreasing(atol=1e-3))
    fiducial_stopping: LossNotDecreasing = field(
        default_factory=lambda: LossNotDecreasing(rtol=1e-3))

    def __post_init__(self):
        if self.distance not in DISTANCES:
            raise ValueError(f"distance: expected one of {DISTANCES}, received "
                             f"{self.distance!r}")
        if self.class_loss not in CLASS_LOSSES:
            raise ValueError(f"class_loss: expected one of {CLASS_LOSSES}, received "
                             f"{self.class_loss!r}")
        if self.prior_weight is not None:
            validation.check_nonnegative(self.prior_weight, "prior_weight")
        if self.class_scale is not None:
            validation.check_positive(self.class_scale, "class_scale")
        validation.check_positive_int(self.max_steps, "max_steps")


CODE = SearchSettings()
PAPER = SearchSettings(prior_weight=None, class_loss="cross_entropy")


@dataclass
class FiducialResult:
    """The counterfactual fiducials of a batch (NumPy; row i is input i).

    Attributes:
      z: the fiducial latents z0 ``[B, m]``.
      fiducial: ψ(z0) ``[B, ...]``.
      entropy: H(ψ(z0)) ``[B]`` (nats; of the posterior predictive).
      input_entropy: H(x) ``[B]``.
      class_idx: the class ĉ each fiducial was searched for ``[B]``.
      fiducial_class: the predicted class of ψ(z0) ``[B]``.
      class_kept: ``fiducial_class == class_idx`` ``[B]``.
      certain: H(ψ(z0)) ≤ ``entropy_tolerance`` (see :func:`counterfactual_fiducial`) ``[B]``.
      search: the optimiser's :class:`~tfpath.generative.latent.LatentResult`.
    """

    z: np.ndarray
    fiducial: np.ndarray
    entropy: np.ndarray
    input_entropy: np.ndarray
    class_idx: np.ndarray
    fiducial_class: np.ndarray
    class_kept: np.ndarray
    certain: np.ndarray
    search: LatentResult

    @property
    def uncertainty_reduction(self):
        """``1 - H(ψ(z0)) / H(x)`` per input (the code's "perc. uncertainty reduction")."""
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(self.input_entropy > 0, 1.0 - self.entropy / self.input_entropy,
                            np.nan)


# ----------------------------------------------------------------------------- the losses
def _decode(decoder, z):
    return tf.convert_to_tensor(keras_utils.call_inference(decoder, z))


def _distance(kind, decoded, x):
    """d(ψ(z), x) per row."""
    x = tf.cast(x, tf.float32)
    decoded = tf.cast(decoded, tf.float32)
    if kind.startswith("bce"):
        p = tf.clip_by_value(decoded, _BCE_CLIP, 1.0 - _BCE_CLIP)
        per = -(x * tf.math.log(p) + (1.0 - x) * tf.math.log(1.0 - p))
    else:
        per = tf.abs(x - decoded)
    if per.shape.rank >= 4:                      # images [n, H, W, C]: mean over channels
        per = tf.reduce_mean(per, axis=-1)
    axes = list(range(1, per.shape.rank))
    return tf.reduce_sum(per, axes) if kind.endswith("sum") else tf.reduce_mean(per, axes)


def mean_log_probs(outputs, output_kind):
    """log p̄ ``[n, K]`` (float64) of class outputs: the log of the posterior predictive.

    Args:
      outputs: ``[n, K]`` or ``[n, S, K]`` (S samples) tensor.
      output_kind: ``"logits"`` or ``"probabilities"``.

    Returns:
      float64 tensor ``[n, K]`` (a log-sum-exp over the samples).

    Raises:
      ValueError: as :func:`tfpath.uncertainty.measures.sample_log_probs`.
    """
    return measures.log_mean_probs(measures.sample_log_probs(outputs, output_kind))


def _class_loss(kind, log_p, class_idx):
    num_classes = log_p.shape[-1]
    onehot = tf.one_hot(class_idx, num_classes, dtype=log_p.dtype)
    if kind == "cross_entropy":
        return -tf.reduce_sum(onehot * log_p, axis=-1)
    p = tf.clip_by_value(tf.exp(log_p), _BCE_CLIP, 1.0 - _BCE_CLIP)
    bce = -(onehot * tf.math.log(p) + (1.0 - onehot) * tf.math.log(1.0 - p))
    return tf.reduce_mean(bce, axis=-1)


def default_class_scale(x_shape) -> float:
    """The code's λ = 1e4 · (number of pixels).

    Args:
      x_shape: one input's shape: ``(H, W, C)`` for images, ``(d,)`` for vectors.

    Returns:
      ``1e4 · H·W`` (images) or ``1e4 · d`` (vectors), a float.
    """
    spatial = x_shape[:-1] if len(x_shape) >= 3 else x_shape
    return 1e4 * float(np.prod(spatial))


# ----------------------------------------------------------------------------- checks
def check_latents(z, n, latent_dim, name):
    """Latents checked at the boundary.

    Args:
      z: ``[n, latent_dim]`` (or ``[latent_dim]`` for one input).
      n, latent_dim: the expected shape.
      name: the argument's name in messages.

    Returns:
      float32 ``[n, latent_dim]``.

    Raises:
      ValueError / TypeError naming ``name``: another shape, a non-float dtype, NaN or inf.
    """
    z = validation.check_array(z, name, min_rank=1)
    if z.ndim == 1:
        z = z[None]
    if z.shape != (n, latent_dim):
        raise ValueError(f"{name}: expected latents of shape ({n}, {latent_dim}) (one per input, "
                         f"the decoder's latent size), received {z.shape}")
    return z


def latent_size(decoder) -> int:
    """The decoder's latent size m.

    Args:
      decoder: a Keras model with input shape ``(None, m)``.

    Returns:
      m, an int.

    Raises:
      ValueError naming ``decoder``: not a Keras model with such an input.
    """
    try:
        shape = decoder.input_shape
    except (AttributeError, ValueError):
        shape = None
    if not (isinstance(shape, tuple) and len(shape) == 2 and isinstance(shape[1], int)):
        raise ValueError("decoder: expected a Keras model with a latent input of shape "
                         f"(None, m); received {type(decoder).__name__} with input shape "
                         f"{shape}. Pass explicit latents (z_baseline=, z_input=) for others")
    return int(shape[1])


def check_decoder(decoder, x, z):
    """Decodes ``z[:1]``; raises ValueError naming ``decoder`` if ψ(z) does not have the
    inputs' shape (or the call fails on latents of this size)."""
    try:
        decoded = np.asarray(_decode(decoder, tf.constant(z[:1])))
    except (ValueError, TypeError, tf.errors.InvalidArgumentError) as e:
        raise ValueError(f"decoder: fails on latents of size {z.shape[-1]} ({e})") from e
    if decoded.shape[1:] != x.shape[1:]:
        raise ValueError(f"decoder: its output shape {decoded.shape[1:]} differs from the "
                         f"inputs' shape {x.shape[1:]}; the generative path must end at x")


def decode(decoder, z, batch_size=256):
    """ψ(z) for latents ``[n, m]``, in batches of ``batch_size``: float32 ``[n, ...]``.

    Raises:
      ValueError naming ``decoder``: ψ returns NaN or inf.
    """
    parts = [np.asarray(_decode(decoder, tf.constant(z[i:i + batch_size])), np.float32)
             for i in range(0, z.shape[0], batch_size)]
    out = np.concatenate(parts)
    if not np.all(np.isfinite(out)):
        raise ValueError("decoder: returns NaN or inf for some latents")
    return out


# ----------------------------------------------------------------------------- searches
def _prior_weight(settings, latent_dim):
    return 1.0 / (2.0 * latent_dim) if settings.prior_weight is None else settings.prior_weight


def _check_inputs(x, settings):
    if not isinstance(settings, SearchSettings):
        raise TypeError("settings: expected tfpath.generative.SearchSettings (CODE or PAPER), "
                        f"received {type(settings).__name__}")
    x = validation.check_array(x, "x", min_rank=2)
    if settings.distance.startswith("bce"):
        validation.check_within(x, 0.0, 1.0, "x")
    return x


def reconstruction_latent(decoder, x, z_init, settings: SearchSettings = CODE) -> LatentResult:
    """The latent z of each input: ``argmin_z d(ψ(z), x) + β Σ z_j²`` (Perez et al., UAI 2022,
    §3.1, the second search of Algorithm 1), from ``z_init`` (the encoder's mean).

    Args:
      decoder: ψ, a Keras model or a TF callable ``z [n, m] -> [n, ...]``.
      x: inputs ``[B, ...]`` (in [0, 1] for the BCE distances).
      z_init: starting latents ``[B, m]``.
      settings: :class:`SearchSettings` (default :data:`CODE`).

    Returns:
      :class:`~tfpath.generative.latent.LatentResult` (``z [B, m]``).

    Raises:
      ValueError naming the argument: bad ``x``, latents of the wrong size or not finite, a
      decoder whose output shape is not the inputs'.
    """
    x = _check_inputs(x, settings)
    m = int(np.shape(z_init)[-1]) if np.ndim(z_init) else 0
    z_init = check_latents(z_init, x.shape[0], m, "z_init")
    check_decoder(decoder, x, z_init)
    beta = _prior_weight(settings, m)

    def loss(z, ctx):
        return _distance(settings.distance, _decode(decoder, z), ctx["x"]) + \
            beta * tf.reduce_sum(tf.square(z), axis=1)

    return minimize_latent(loss, z_init, context={"x": x}, optimizer=settings.optimizer,
                           stopping=settings.reconstruction_stopping,
                           max_steps=settings.max_steps)


def counterfactual_fiducial(decoder, model_function, x, z_init, class_idx=None,
                            settings: SearchSettings = CODE, warn: bool = True,
                            entropy_tolerance: float = 0.1) -> FiducialResult:
    """The counterfactual fiducial z0 of each input (Perez et al., UAI 2022, Eq. 2, penalty
    method; the first search of Algorithm 1, read with z0 where the text writes z).

    ``L(z0) = d(ψ(z0), x) + β Σ z0_j² + λ ℓ(e_ĉ, f(ψ(z0)))``, from ``z_init`` (the encoder's
    mean), all inputs in one compiled loop with per-input early stopping.

    Args:
      decoder: ψ, a Keras model or a TF callable ``z -> x``.
      model_function: the classifier, a :class:`tfpath.ModelFunction` whose model outputs class
        logits or probabilities (``[n, K]``, or ``[n, S, K]`` for a Bayesian wrapper: f is the
        mean over samples). Its target is not used here.
      x: inputs ``[B, ...]``.
      z_init: starting latents ``[B, m]``.
      class_idx: ĉ per input ``[B]`` (or one int); None: the predicted class of x (the paper).
      settings: :class:`SearchSettings` (default :data:`CODE`).
      warn: warn (UserWarning naming the inputs) when a fiducial is not certain or changed
        class.
      entropy_tolerance: a fiducial is *certain* when ``H(ψ(z0)) ≤ entropy_tolerance · H(x)``
        or ``H(ψ(z0)) ≤ 1e-3 · log |C|`` (the first: the authors' earlier code's retry rule,
        ≥ 90 % uncertainty reduction; the second covers inputs that are already certain).

    Returns:
      :class:`FiducialResult`.

    Raises:
      ValueError / TypeError naming the argument: bad ``x`` or latents, a decoder of another
      output shape, a classifier without class outputs, a class out of range.
    """
    from tfpath.core.model_function import ModelFunction
    if not isinstance(model_function, ModelFunction):
        raise TypeError("model_function: expected a tfpath.ModelFunction of the classifier, "
                        f"received {type(model_function).__name__}")
    if model_function.output_kind not in measures.UNCERTAINTY_KINDS:
        raise ValueError("model_function: the fiducial search needs class logits or "
                         f"probabilities; the model outputs {model_function.output_kind!r}")
    entropy_tolerance = validation.check_fraction(entropy_tolerance, "entropy_tolerance")
    x = _check_inputs(x, settings)
    n = x.shape[0]
    m = int(np.shape(z_init)[-1]) if np.ndim(z_init) else 0
    z_init = check_latents(z_init, n, m, "z_init")
    check_decoder(decoder, x, z_init)
    input_log_p = _log_probs(model_function, x)
    num_classes = input_log_p.shape[1]
    if class_idx is None:
        classes = input_log_p.argmax(axis=1).astype(np.int32)
    else:
        classes = validation.check_class_indices(class_idx, n, "class_idx")
        validation.check_class_idx(classes, num_classes, "class_idx")
    beta = _prior_weight(settings, m)
    scale = settings.class_scale or default_class_scale(x.shape[1:])
    kind = model_function.output_kind

    def loss(z, ctx):
        decoded = _decode(decoder, z)
        log_p = mean_log_probs(model_function.call_model(decoded), kind)
        penalty = tf.cast(_class_loss(settings.class_loss, log_p, ctx["class_idx"]), tf.float32)
        return (_distance(settings.distance, decoded, ctx["x"])
                + beta * tf.reduce_sum(tf.square(z), axis=1) + scale * penalty)

    result = minimize_latent(loss, z_init, context={"x": x, "class_idx": classes},
                             optimizer=settings.optimizer, stopping=settings.fiducial_stopping,
                             max_steps=settings.max_steps)
    fiducial = decode(decoder, result.z)
    fid_log_p = _log_probs(model_function, fiducial)
    entropy = _entropy(fid_log_p)
    input_entropy = _entropy(input_log_p)
    predicted = fid_log_p.argmax(axis=1).astype(np.int32)
    kept = predicted == classes
    certain = (entropy <= entropy_tolerance * input_entropy) | (
        entropy <= 1e-3 * math.log(num_classes))
    out = FiducialResult(result.z, fiducial, entropy, input_entropy, classes, predicted, kept,
                         certain, result)
    if warn:
        warn_fiducials(out)
    return out


def warn_fiducials(result: FiducialResult, stacklevel: int = 3):
    """Warns (UserWarning) naming the inputs whose fiducial is not certain or changed class.

    Args:
      result: a :class:`FiducialResult`.
      stacklevel: the warning's stack level.

    Returns:
      None.
    """
    for mask, what in ((~result.certain, "did not reach low entropy"),
                       (~result.class_kept, "changed the predicted class")):
        bad = np.flatnonzero(mask)
        if bad.size:
            shown = bad[:10].tolist()
            warnings.warn(
                f"fiducial: the counterfactual search {what} for {bad.size} of {mask.size} "
                f"inputs (indices {shown}{' ...' if bad.size > 10 else ''}; H(fiducial) = "
                f"{np.round(result.entropy[shown], 4).tolist()}, H(x) = "
                f"{np.round(result.input_entropy[shown], 4).tolist()}). Attributions then sum "
                "to H(x) - H(fiducial), not to H(x): raise max_steps or class_scale, or check "
                "the decoder.", UserWarning, stacklevel=stacklevel)


def _log_probs(model_function, x, batch_size=256):
    parts = []
    for i in range(0, x.shape[0], batch_size):
        outputs = model_function.check_outputs(x[i:i + batch_size])
        parts.append(mean_log_probs(tf.constant(outputs), model_function.output_kind).numpy())
    return np.concatenate(parts)


def _entropy(log_p):
    return -(np.exp(log_p) * log_p).sum(axis=1)
