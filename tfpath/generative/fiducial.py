"""The latents of Generative IG for a batch, and the counterfactual fiducial as a baseline.

:func:`generative_latents` runs both searches of Perez et al. (UAI 2022, Algorithm 1) from the
encoder's mean; :class:`CounterfactualFiducial` is the fiducial ψ(z0) as a
:class:`tfpath.protocols.Baseline`, so any path method starts from it ("IG + Counterfactual",
"Guided IG + Counterfactual", §3.3.2 of the paper).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

import numpy as np
import tensorflow as tf

from tfpath.core import keras_utils, validation
from tfpath.generative import search as search_lib
from tfpath.protocols import BaselineSet


def encode_mean(encoder, x, batch_size: int = 256) -> np.ndarray:
    """The encoder's mean φ_μ(x) ``[B, m]`` (float32).

    Args:
      encoder: a Keras model or callable ``x -> mean`` or ``x -> (mean, log_variance, ...)``
        (the first output is the mean), or an object with an ``encoder`` attribute (a VAE).
      x: inputs ``[B, ...]``.
      batch_size: rows per call.

    Returns:
      float32 ``[B, m]``.

    Raises:
      TypeError naming ``encoder``: not callable. ValueError naming ``encoder``: outputs that
      are not ``[B, m]`` or not finite.
    """
    x = validation.check_array(x, "x", min_rank=2)
    batch_size = validation.check_positive_int(batch_size, "batch_size")
    encoder = getattr(encoder, "encoder", encoder)
    if not callable(encoder):
        raise TypeError(f"encoder: expected a Keras model or a callable, received "
                        f"{type(encoder).__name__}")
    parts = []
    for i in range(0, x.shape[0], batch_size):
        out = keras_utils.call_inference(encoder, tf.constant(x[i:i + batch_size]))
        if isinstance(out, (list, tuple)):
            out = out[0]
        parts.append(np.asarray(out, np.float32))
    mean = np.concatenate(parts)
    if mean.ndim != 2 or mean.shape[0] != x.shape[0]:
        raise ValueError(f"encoder: expected means of shape ({x.shape[0]}, m), received "
                         f"{mean.shape}")
    if not np.all(np.isfinite(mean)):
        raise ValueError("encoder: returned NaN or inf latents")
    return mean


def decoder_of(decoder, vae=None):
    """The decoder to use.

    Args:
      decoder: ψ, or None.
      vae: an object with a ``decoder`` attribute, or None.

    Returns:
      ``decoder``, else ``vae.decoder``.

    Raises:
      ValueError naming ``decoder``: neither is given. TypeError: it is not callable.
    """
    if decoder is None and vae is not None:
        decoder = getattr(vae, "decoder", None)
    if decoder is None:
        raise ValueError("decoder: Generative IG needs a decoder ψ (decoder=, or vae= with a "
                         "decoder attribute)")
    if not callable(decoder):
        raise TypeError(f"decoder: expected a Keras model or a callable, received "
                        f"{type(decoder).__name__}")
    return decoder


@dataclass
class GenerativeLatents:
    """The two latents of each input (NumPy, row i is input i).

    Attributes:
      z_input: z, the reconstruction latent ``[B, m]``.
      z_baseline: z0, the counterfactual fiducial's latent ``[B, m]``.
      reconstruction: the reconstruction search's
        :class:`~tfpath.generative.latent.LatentResult`.
      fiducial: the :class:`~tfpath.generative.search.FiducialResult`.
    """

    z_input: np.ndarray
    z_baseline: np.ndarray
    reconstruction: Any
    fiducial: Any


def generative_latents(x, model_function, encoder, decoder,
                       settings: search_lib.SearchSettings = search_lib.CODE,
                       class_idx=None, warn: bool = True) -> GenerativeLatents:
    """Both latent searches of Generative IG for a batch, from the encoder's mean.

    Args:
      x: inputs ``[B, ...]``.
      model_function: the classifier (:class:`tfpath.ModelFunction` with class outputs).
      encoder: as :func:`encode_mean`.
      decoder: ψ.
      settings: :class:`~tfpath.generative.search.SearchSettings`.
      class_idx: the fiducial's class per input; None: the predicted class.
      warn: warn about fiducials that are not certain or changed class.

    Returns:
      :class:`GenerativeLatents`.

    Raises:
      As :func:`~tfpath.generative.search.reconstruction_latent` and
      :func:`~tfpath.generative.search.counterfactual_fiducial`.
    """
    x = validation.check_array(x, "x", min_rank=2)
    mean = encode_mean(encoder, x)
    recon = search_lib.reconstruction_latent(decoder, x, mean, settings)
    fid = search_lib.counterfactual_fiducial(decoder, model_function, x, mean, class_idx,
                                             settings, warn=warn)
    return GenerativeLatents(recon.z, fid.z, recon, fid)


@dataclass(frozen=True, eq=False)
class CounterfactualFiducial:
    """The counterfactual fiducial ψ(z0) of each input as its baseline (Perez et al., UAI 2022,
    Eq. 2; "IG + Counterfactual" and "Guided IG + Counterfactual" of §3.3.2).

    ``IntegratedGradients().GetMask(x, mf, baselines=CounterfactualFiducial(vae))``. The search
    runs on the explained model function's classifier (its target is not used), for the
    predicted class of each input.

    Args:
      encoder: the encoder (or a VAE with ``encoder`` / ``decoder`` attributes).
      decoder: ψ; None takes ``encoder.decoder``.
      settings: :class:`~tfpath.generative.search.SearchSettings`.
      model_function: the classifier to search with; None: the caller's.
    """

    encoder: Any
    decoder: Any = None
    settings: search_lib.SearchSettings = search_lib.CODE
    model_function: Any = None

    def resolve(self, x, model_function=None, class_idx=None) -> BaselineSet:
        """ψ(z0) of each input, searched from the encoder's mean (one baseline per input).

        Raises:
          TypeError: no model function. ValueError / TypeError: as
          :func:`~tfpath.generative.search.counterfactual_fiducial`.
        """
        mf = self.model_function if self.model_function is not None else model_function
        if mf is None:
            raise TypeError("call_model_function: the counterfactual fiducial is searched "
                            "through the classifier; pass a tfpath.ModelFunction (or give "
                            "CounterfactualFiducial(model_function=...))")
        decoder = decoder_of(self.decoder, self.encoder)
        result = search_lib.counterfactual_fiducial(decoder, mf, x, encode_mean(self.encoder, x),
                                                    None, self.settings, warn=True)
        n = x.shape[0]
        return BaselineSet(result.fiducial, np.arange(n)[:, None], np.ones((n, 1)))


def latent_width(decoder, *latents: Optional[np.ndarray]) -> int:
    """The latent size m.

    Args:
      decoder: ψ (a Keras model declares m in its input shape).
      *latents: latent arrays, or None.

    Returns:
      m from the decoder, else the last axis of the first given latents.

    Raises:
      ValueError naming ``decoder``: neither gives m.
    """
    try:
        return search_lib.latent_size(decoder)
    except ValueError:
        for z in latents:
            if z is not None and np.ndim(z) >= 1:
                return int(np.shape(z)[-1])
        raise
