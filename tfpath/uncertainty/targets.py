"""Uncertainty targets: predictive entropy, aleatoric and epistemic uncertainty.

Each is a :class:`tfpath.targets.Target`, so any path method explains it through
:class:`tfpath.ModelFunction`, e.g. ``ModelFunction(MCDropout(model), target=Epistemic())`` or
``target="epistemic"``. None needs a class (``call_model_args`` may be None). The model's
outputs are ``[n, K]`` (a deterministic classifier) or ``[n, S, K]`` (a Bayesian wrapper of
:mod:`tfpath.uncertainty`, whose S draws are frozen so the target is a function of x).

The formulas and their numerics are those of :func:`tfpath.uncertainty.measures.decompose`
(the predictive entropy of Perez et al., "Attribution of Predictive Uncertainties in
Classification Models", UAI 2022, Eq. 1, and its decomposition by Depeweg et al., ICML 2018).
"""
from __future__ import annotations

import tensorflow as tf

from tfpath import targets as targets_lib
from tfpath.uncertainty import measures


class _UncertaintyTarget(targets_lib.Target):
    """Base: picks one field of :func:`measures.decompose`; needs class outputs."""

    field = "total"
    needs_class = False
    accepted_kinds = measures.UNCERTAINTY_KINDS

    def __call__(self, outputs, class_idx, output_kind):
        self.check_output_kind(output_kind)
        outputs = tf.convert_to_tensor(outputs)
        self._check_samples(outputs)
        value = getattr(measures.decompose(outputs, output_kind), self.field)
        return tf.cast(value, outputs.dtype)

    def _check_samples(self, outputs):
        pass


class Entropy(_UncertaintyTarget):
    """Total predictive uncertainty H[p̄] = −Σ_c p̄_c log p̄_c (Perez et al., UAI 2022, Eq. 1,
    on the mean p̄).

    For a deterministic classifier (outputs ``[n, K]``) this is the softmax entropy H(x) that
    Perez et al. attribute with path integrals (§2.1); the authors' code
    (Featurespace/uncertainty-attribution) uses deterministic classifiers for their Table 1.
    Registered as ``"entropy"`` (also ``"total"``, ``"predictive_entropy"``).
    """

    name = "entropy"
    field = "total"


class Aleatoric(_UncertaintyTarget):
    """Aleatoric uncertainty: expected entropy (1/S) Σ_s H[p_s] (Depeweg et al., ICML 2018).

    With S = 1 it equals :class:`Entropy`. Registered as ``"aleatoric"``. Attributions satisfy
    attr(Entropy) = attr(Aleatoric) + attr(Epistemic) by linearity of the path integral in its
    target, up to the quadrature error of each.
    """

    name = "aleatoric"
    field = "aleatoric"


class Epistemic(_UncertaintyTarget):
    """Epistemic uncertainty: the mutual information (1/S) Σ_s KL(p_s ‖ p̄) = H − A.

    Depeweg et al. (ICML 2018) and the original CLUE code (cambridge-mlg/CLUE) define it as
    H − A; we compute the equal mean-KL form (see :mod:`tfpath.uncertainty.measures`).
    Registered as ``"epistemic"`` (also ``"mutual_information"``).

    Raises:
      ValueError (when the model function is first traced or called): the model gives one
      sample per input (a deterministic classifier, ``[n, K]`` or ``[n, 1, K]``). Its
      epistemic uncertainty is identically 0, so every attribution would be 0; this is an
      error, not a silent zero. Wrap the model (``DeepEnsemble``, ``MCDropout``,
      ``TFPVariational``, ``KerasVariational``) to get S ≥ 2 samples.
      (:func:`tfpath.uncertainty.predictive_uncertainty` reports 0 instead.)
    """

    name = "epistemic"
    field = "epistemic"

    def _check_samples(self, outputs):
        rank = outputs.shape.rank
        samples = outputs.shape[1] if rank == 3 else 1
        if samples == 1:
            raise ValueError(
                "target: Epistemic() needs a Bayesian model with S >= 2 samples per input "
                f"(outputs [n, S, K]); the model's outputs have shape {outputs.shape}, one "
                "sample per input, so epistemic uncertainty is identically 0. Wrap the model in "
                "tfpath.uncertainty.DeepEnsemble / MCDropout / TFPVariational / "
                "KerasVariational with num_samples >= 2, or explain Entropy() instead.")


def register():
    """Registers the names used by ``tfpath.get_target`` / ``ModelFunction(target=name)``."""
    for name, cls in (("entropy", Entropy), ("total", Entropy), ("predictive_entropy", Entropy),
                      ("aleatoric", Aleatoric), ("epistemic", Epistemic),
                      ("mutual_information", Epistemic)):
        targets_lib.register_target(name, cls)


register()
