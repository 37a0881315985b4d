"""Attribution of predictive uncertainty: targets, Bayesian wrappers, decomposition.

Targets (the predictive entropy of Perez et al., "Attribution of Predictive Uncertainties in
Classification Models", UAI 2022, Eq. 1, decomposed as by Depeweg et al., ICML 2018):
:class:`Entropy` (total), :class:`Aleatoric` (expected entropy), :class:`Epistemic` (mutual
information); :func:`decompose` and :func:`predictive_uncertainty` give all three for a batch.

Bayesian classifiers with randomness frozen along a path (``model(x) -> [n, S, K]``):
:class:`DeepEnsemble`, :class:`MCDropout` (Keras 3), :class:`TFPVariational` (tf_keras with
``tfp.layers``), :class:`KerasVariational` (Keras 3 with :class:`VariationalDense` /
:class:`VariationalConv2D`), :class:`Deterministic` (S = 1); :func:`as_bayesian` picks one.

Example::

    from tfpath.uncertainty import MCDropout, Epistemic
    mf = tfpath.ModelFunction(MCDropout(model, num_samples=16), target=Epistemic())
    mask = tfpath.GuidedIG().GetMask(image, mf, integrator="idgi")
"""
from tfpath.uncertainty.measures import Decomposition, decompose, predictive_uncertainty
from tfpath.uncertainty.targets import Aleatoric, Entropy, Epistemic
from tfpath.uncertainty.models import BayesianModel, DeepEnsemble, Deterministic, SampledModel
from tfpath.uncertainty.mc_dropout import MCDropout
from tfpath.uncertainty.tfp_models import TFPVariational
from tfpath.uncertainty.factory import as_bayesian

from tfpath.uncertainty.variational import (KerasVariational, VariationalConv2D,
                                          VariationalDense)

__all__ = ["Aleatoric", "BayesianModel", "Decomposition", "DeepEnsemble", "Deterministic",
           "Entropy", "Epistemic", "KerasVariational", "MCDropout", "SampledModel",
           "TFPVariational", "VariationalConv2D", "VariationalDense", "as_bayesian",
           "decompose", "predictive_uncertainty"]
