"""Generative models for uncertainty attribution: a Keras 3 VAE, latent optimisation, and the
latent searches of Generative IG (Perez et al., "Attribution of Predictive Uncertainties in
Classification Models", UAI 2022), shared with the CLUE family of counterfactuals.

* :class:`VAE`, :func:`conv_vae`, :func:`mlp_vae`, :func:`train_vae` — the autoencoder;
* :func:`minimize_latent`, :class:`Adam`, :class:`LossNotDecreasing`, :class:`Ball` — batched
  latent optimisation with per-row early stopping and projection;
* :func:`reconstruction_latent`, :func:`counterfactual_fiducial`, :class:`SearchSettings`
  (:data:`CODE`, :data:`PAPER`) — the two searches of Algorithm 1;
* :func:`generative_latents`, :class:`CounterfactualFiducial` — both latents of a batch, and
  the fiducial as a baseline of any path method.

The attribution itself is :class:`tfpath.GenerativeIG` on :class:`tfpath.paths.GenerativePath`.
"""
from tfpath.generative.vae import VAE, conv_vae, mlp_vae, train_vae
from tfpath.generative.latent import Adam, Ball, LatentResult, LossNotDecreasing, minimize_latent
from tfpath.generative.search import (CODE, PAPER, FiducialResult, SearchSettings,
                                      counterfactual_fiducial, reconstruction_latent)
from tfpath.generative.fiducial import (CounterfactualFiducial, GenerativeLatents, encode_mean,
                                        generative_latents)

__all__ = ["VAE", "conv_vae", "mlp_vae", "train_vae", "Adam", "Ball", "LatentResult",
           "LossNotDecreasing", "minimize_latent", "CODE", "PAPER", "FiducialResult",
           "SearchSettings", "counterfactual_fiducial", "reconstruction_latent",
           "CounterfactualFiducial", "GenerativeLatents", "encode_mean", "generative_latents"]
