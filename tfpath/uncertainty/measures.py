"""Predictive uncertainty of a Bayesian classifier and its aleatoric / epistemic decomposition.

A Bayesian classifier gives S probability vectors p_s(x) per input (posterior weight draws,
ensemble members or dropout masks). With the posterior predictive p̄ = (1/S) Σ_s p_s (the
Bayesian setting of Perez et al., "Attribution of Predictive Uncertainties in Classification
Models", UAI 2022, §2, and of Ley, Bhatt and Weller, "Diverse, Global and Amortised
Counterfactual Explanations for Uncertainty Estimates", AAAI 2022):

* total (predictive entropy, Perez et al. Eq. 1, on p̄):      H   = −Σ_c p̄_c log p̄_c
* aleatoric (expected entropy):                               A   = (1/S) Σ_s [−Σ_c p_s,c log p_s,c]
* epistemic (mutual information I(y; w | x)):                 E   = (1/S) Σ_s KL(p_s ‖ p̄)

and H = A + E exactly: the decomposition of Depeweg et al. (ICML 2018), which Perez et al.
(§2) defer to their supplementary material and the original CLUE code (cambridge-mlg/CLUE)
implements. All in nats.

Numerics (departures from the authors' code: Featurespace/uncertainty-attribution, the code of
Perez et al., uses ``log(p + 1e-30)``; the CLUE code uses ``eps = 1e-10`` inside the log):

* The measures are computed in float64 from log-probabilities: ``log_softmax`` of logits, or
  ``log(max(p, tiny))`` of probabilities (tiny = the smallest normal float32, so no value is
  biased by more than ~1e-36 and ``log 0`` never occurs); ``log p̄`` is a log-sum-exp over the
  samples (shifted by their maximum, so it is exactly ``log p_s`` when all samples agree).
  Gradients are therefore finite at one-hot predictions: the derivative of ``p log p``
  is bounded by ``|log tiny| ≈ 87`` and is multiplied by the softmax Jacobian, which vanishes there.
* E is computed directly as the mean KL divergence rather than as ``H − A``: it has no
  cancellation when E ≪ H, and it is exactly 0 when all samples agree. Rounding can make the
  KL sum a few ulps negative; E is clamped at 0 (its gradient there is mathematically zero).
  The identity H = A + E then holds to float64 rounding (tested).
"""
from __future__ import annotations

import collections

import numpy as np
import tensorflow as tf

Decomposition = collections.namedtuple("Decomposition", ["total", "aleatoric", "epistemic"])
Decomposition.__doc__ = """Total, aleatoric and epistemic uncertainty per example (nats)."""

UNCERTAINTY_KINDS = ("logits", "probabilities")
_TINY = float(np.finfo(np.float32).tiny)


def sample_log_probs(outputs, output_kind):
    """Log-probabilities ``[n, S, K]`` (float64) of a classifier's outputs.

    Args:
      outputs: ``[n, K]`` (a deterministic model: S = 1) or ``[n, S, K]`` tensor.
      output_kind: ``"logits"`` or ``"probabilities"``.

    Returns:
      float64 tensor ``[n, S, K]``.

    Raises:
      ValueError: another ``output_kind``, or outputs of rank other than 2 or 3.
    """
    if output_kind not in UNCERTAINTY_KINDS:
        raise ValueError(f"output_kind: uncertainty needs class 'logits' or 'probabilities', "
                         f"received {output_kind!r}")
    outputs = tf.convert_to_tensor(outputs)
    rank = outputs.shape.rank
    if rank == 2:
        outputs = outputs[:, None, :]
    elif rank != 3:
        raise ValueError("outputs: expected class outputs of shape [n, K] or [n, S, K] (S "
                         f"posterior samples), received shape {outputs.shape}")
    outputs = tf.cast(outputs, tf.float64)
    if output_kind == "logits":
        return tf.nn.log_softmax(outputs, axis=-1)
    return tf.math.log(tf.maximum(outputs, _TINY))


def log_mean_probs(log_p):
    """log p̄ ``[n, K]`` of per-sample log-probabilities ``[n, S, K]``: a log-sum-exp over the
    samples, shifted by their maximum (exactly ``log p_s`` when all samples agree).

    Args:
      log_p: float tensor ``[n, S, K]`` (e.g. from :func:`sample_log_probs`).

    Returns:
      Tensor ``[n, K]`` of ``log_p``'s dtype.
    """
    shift = tf.stop_gradient(tf.reduce_max(log_p, axis=1, keepdims=True))
    return shift[:, 0] + tf.math.log(tf.reduce_mean(tf.exp(log_p - shift), axis=1))


def decompose(outputs, output_kind):
    """Total, aleatoric and epistemic uncertainty of a batch (Depeweg et al., ICML 2018).

    Args:
      outputs: model outputs ``[n, K]`` (S = 1) or ``[n, S, K]`` (S samples per input).
      output_kind: ``"logits"`` or ``"probabilities"``.

    Returns:
      :class:`Decomposition` of three float64 tensors ``[n]``; ``total = aleatoric +
      epistemic``. For S = 1 the epistemic part is exactly 0 (a point-mass posterior).

    Raises:
      ValueError: as :func:`sample_log_probs`.
    """
    log_p = sample_log_probs(outputs, output_kind)                 # [n, S, K]
    # log p̄ = m + log mean_s exp(log p_s − m): exactly log p_s when all samples agree.
    log_mean = log_mean_probs(log_p)                                          # [n, K]
    p = tf.exp(log_p)
    p_mean = tf.exp(log_mean)
    total = -tf.reduce_sum(p_mean * log_mean, axis=-1)
    aleatoric = -tf.reduce_mean(tf.reduce_sum(p * log_p, axis=-1), axis=1)
    kl = tf.reduce_sum(p * (log_p - log_mean[:, None, :]), axis=-1)              # [n, S]
    epistemic = tf.maximum(tf.reduce_mean(kl, axis=1), 0.0)
    return Decomposition(total, aleatoric, epistemic)


def predictive_uncertainty(model, x, output="auto", batch_size=256):
    """Total, aleatoric and epistemic uncertainty of a model on a batch, as NumPy arrays.

    Args:
      model: a Bayesian wrapper of :mod:`tfpath.uncertainty` (``[n, S, K]`` outputs), a Keras
        classifier (S = 1) or a callable returning ``[n, K]`` / ``[n, S, K]``.
      x: float array ``[n, ...]``.
      output: ``"auto"`` (read the model's ``output_kind`` or its last layer, as
        :class:`tfpath.ModelFunction` does), ``"logits"`` or ``"probabilities"``.
      batch_size: rows per model call.

    Returns:
      :class:`Decomposition` of float64 arrays ``[n]``. For a deterministic model (S = 1) the
      epistemic part is 0 — documented behaviour, whereas the :class:`Epistemic` *target*
      raises (an identically-zero attribution is almost surely a mistake).

    Raises:
      ValueError / TypeError: bad ``x``, ``batch_size < 1``, an ``output`` that is not a class
      output kind, probabilities declared as logits or the reverse (checked by
      :meth:`tfpath.ModelFunction.check_outputs`).
    """
    from tfpath.core import validation
    from tfpath.core.model_function import ModelFunction
    from tfpath.uncertainty.targets import Entropy
    x = validation.check_array(x, "x", min_rank=1)
    batch_size = validation.check_positive_int(batch_size, "batch_size")
    from tfpath.core import memo
    # one ModelFunction (one compiled call) per model and output kind, kept beside the model
    # (never written into it)
    mf = memo.memoized(model, "predictive_uncertainty", output,
                       lambda: ModelFunction(model, target=Entropy(), output=output))
    return batched_predictive(mf, x, batch_size)[0]


def batched_predictive(model_function, x, batch_size=256):
    """The decomposition and the posterior predictive of a batch, computed in chunks.

    Args:
      model_function: a :class:`tfpath.ModelFunction` with class outputs.
      x: float array ``[n, ...]``.
      batch_size: rows per model call.

    Returns:
      ``(Decomposition of float64 arrays [n], p̄ float64 [n, K])``.

    Raises:
      ValueError: as :meth:`tfpath.ModelFunction.check_outputs` and :func:`sample_log_probs`.
    """
    kind = model_function.output_kind
    parts, means = [], []
    for start in range(0, x.shape[0], batch_size):
        outputs = model_function.check_outputs(x[start:start + batch_size])
        parts.append([t.numpy() for t in decompose(outputs, kind)])
        means.append(np.exp(log_mean_probs(sample_log_probs(outputs, kind)).numpy()))
    return (Decomposition(*(np.concatenate([p[i] for p in parts]) for i in range(3))),
            np.concatenate(means))
