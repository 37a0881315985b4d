"""Generative IG (Perez, Skalski, Barns-Graham, Wong and Sutton, "Attribution of Predictive
Uncertainties in Classification Models", UAI 2022, §3, Eq. 3, Algorithm 1): a path integral of
the target's gradient along the decoded latent line from a certain, same-class counterfactual
ψ(z0) to the reconstruction ψ(z), then straight to x."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Optional

import numpy as np

from tfpath.baselines import check_weights
from tfpath.core import validation
from tfpath.generative import fiducial as fiducial_lib
from tfpath.generative import search as search_lib
from tfpath.methods.base import PathDetails, Plan, TFPathSaliency, _details
from tfpath.paths.generative import Z_BASELINE_KEY, Z_INPUT_KEY, Decoder, GenerativePath
from tfpath.protocols import BaselineSet


@dataclass
class GenerativeIGDetails(PathDetails):
    """:class:`~tfpath.methods.base.PathDetails` of Generative IG (batch axes as there; with M
    fiducial latents per input the fiducial fields keep an M axis).

    Attributes:
      z_baseline: z0, the fiducial latent(s) ``[m]`` (``[M, m]``).
      z_input: z, the input's latent ``[m]``.
      fiducial: x0 = ψ(z0), the path's start.
      reconstruction: ψ(z), where the latent line meets the straight tail.
      reconstruction_value: F(ψ(z)).
      fiducial_search: the :class:`~tfpath.generative.search.FiducialResult` when tfpath
        searched z0 (None for given latents); batch-level, not split by :meth:`item`.
      reconstruction_search: the reconstruction search's
        :class:`~tfpath.generative.latent.LatentResult` (or None).
      fiducial_class_kept: whether ψ(z0) keeps x's predicted class (None for given latents).
    """

    z_baseline: Optional[np.ndarray] = None
    z_input: Optional[np.ndarray] = None
    fiducial: Optional[np.ndarray] = None
    reconstruction: Optional[np.ndarray] = None
    reconstruction_value: Optional[np.ndarray] = None
    fiducial_search: Any = None
    reconstruction_search: Any = None
    fiducial_class_kept: Optional[np.ndarray] = None

    @property
    def completeness_gap(self):
        """``Σ mask - Σ_b w_b (F(x) - F(ψ(z0_b)))`` (= ``convergence_delta``)."""
        return self.convergence_delta

    @property
    def fiducial_value(self):
        """F at the fiducial(s) (= ``start_value``, the weighted mean over fiducials)."""
        return self.start_value


class GenerativeIG(TFPathSaliency):
    """Generative IG: ``attr = ∫_0^1 ∇F(δψ(α)) ⊙ J_ψ(z_α)(z - z0) dα + (x - ψ(z)) ⊙
    ∫_0^1 ∇F(ψ(z) + β(x - ψ(z))) dβ``, ``z_α = z0 + α (z - z0)`` (Eq. 3 and the straight piece
    of the paper's domain; see :class:`tfpath.paths.GenerativePath`).


    The target is any target of the model function: the predictive entropy (the paper:
    ``ModelFunction(model, target="entropy")``), aleatoric or epistemic uncertainty of a
    Bayesian wrapper, or a class score. Attributions sum to ``F(x) - F(ψ(z0))`` up to the
    quadrature error (``details.completeness_gap``); with H(ψ(z0)) ≈ 0 they sum to H(x).

    The method arguments are :meth:`GetMask`'s (PAIR's positional order after
    ``call_model_args``).
    """

    # one value per input: NoiseTunnel / GetSmoothedMask repeat them for each noisy copy
    per_input_arguments = ("z_baseline", "z_input", "fiducial_class")

    def GetMask(self, x_value, call_model_function, call_model_args=None, vae=None,
                encoder=None, decoder=None, z_baseline=None, z_input=None, steps=400,
                integrator="midpoint", search=search_lib.CODE, fiducial_class=None,
                baseline_weights=None, tail=True, batch_size=None):
        """The attribution mask of one input.

        Args:
          x_value: one input (``GetMaskBatch``: a batch ``[B, ...]``).
          call_model_args: ``{"class_idx": c}`` for a :class:`tfpath.ModelFunction`; for a PAIR
            call_model_function any object, passed to every call untouched.
          call_model_function: a :class:`tfpath.ModelFunction`; a PAIR callback also works when
            both latents are given (the searches need the classifier).
          vae: a VAE with ``encoder`` and ``decoder`` (e.g. :func:`tfpath.generative.conv_vae`);
            or give ``encoder=`` / ``decoder=``.
          encoder: ``x -> (mean, log_variance)`` or ``x -> mean``: the searches start at the mean.
          decoder: ψ, ``z [n, m] -> [n, ...]`` with the inputs' shape.
          z_baseline: z0 per input ``[B, m]`` (or ``[B, M, m]``: M fiducials per input, e.g. a set
            of counterfactuals, weighted by ``baseline_weights``); None searches the
            counterfactual fiducial (Eq. 2).
          z_input: z per input ``[B, m]``; None searches the reconstruction latent (§3.1).
          steps: nodes on each piece (the latent line and the tail). The paper gives no number;
            the authors' code defaults to 200 and runs 50 (MNIST, Fashion-MNIST) or 25 (CelebA).
            tfpath's default 400 keeps the completeness gap |Σ attr - (H(x) - H(x0))| within 1 %
            of H(x) - H(x0) on average on a ReLU CNN over MNIST digits (mean 0.33 %, median
            0.07 %; at 200: mean 1.8 %, pulled by paths that cross ReLU kinks; at 50: 5.3 %).
            Cost grows linearly with it.
          integrator: ``"midpoint"`` (the code's rule, default), ``"trapezoid"`` (the paper's
            text), ``"left"``, ``"right"``, ``"gauss_legendre"`` (applied to each piece), ``"idgi"``
            (IDGI on ``steps + 1`` nodes per piece: Yang, Wang and Bilgic, CVPR 2023) or an
            integrator object.
          search: :class:`tfpath.generative.SearchSettings` (``CODE``, the default, or ``PAPER``).
          fiducial_class: the fiducial's class ĉ per input (or one int); None: the predicted class
            of x (the paper). Distinct from ``call_model_args``'s class, which is the target's.
          baseline_weights: weights of the M fiducials ``[M]`` / ``[B, M]`` (default uniform).
          tail: include the straight piece ψ(z) → x (default; the paper's Eq. 3 alone ends at ψ(z)
            and sums to ``F(ψ(z)) - F(ψ(z0))``: the details' ``end_value`` and completeness gap
            then refer to ψ(z), not x).
          batch_size: most points per model call: None or ``"auto"`` (automatic) or an int.

        Returns:
          The mask, float32, the input's shape (sum channels for the paper's H×W map).
          ``GetMaskWithDetails`` returns :class:`GenerativeIGDetails`.

        Raises:
          ValueError / TypeError naming the argument: no decoder; a decoder whose output shape
          differs from the input or that returns NaN; latents of the wrong size or NaN;
          ``fiducial_class`` with given ``z_baseline``; no encoder when a latent must
          be searched; a PAIR callback when a latent must be searched; ``steps < 1``; the common
          input errors. Warns (UserWarning naming the inputs) when a fiducial search does not
          reach low entropy or changes the class.
        """
        return self._run(locals(), batch=False, details=False)

    def GetMaskBatch(self, x_batch, call_model_function, call_model_args=None, vae=None,
                     encoder=None, decoder=None, z_baseline=None, z_input=None, steps=400,
                     integrator="midpoint", search=search_lib.CODE, fiducial_class=None,
                     baseline_weights=None, tail=True, batch_size=None):
        """The masks of a batch of inputs, computed together.

        Args:
          x_batch: the inputs ``[B, ...]``.
          call_model_function, call_model_args: as :meth:`GetMask`;
            ``call_model_args["class_idx"]`` may hold one class per input.
          Other arguments: as :meth:`GetMask` (one value, or one per input where it says so).

        Returns:
          float32 masks, ``x_batch``'s shape.

        Raises:
          ValueError / TypeError: as :meth:`GetMask`; ``x_batch`` of one input's rank (use
          :meth:`GetMask`).
        """
        return self._run(locals(), batch=True, details=False)

    def GetMaskWithDetails(self, x_value, call_model_function, call_model_args=None, vae=None,
                           encoder=None, decoder=None, z_baseline=None, z_input=None,
                           steps=400, integrator="midpoint", search=search_lib.CODE,
                           fiducial_class=None, baseline_weights=None, tail=True,
                           batch_size=None):
        """The mask of one input with its convergence delta and target values.

        Args:
          x_value: one input.
          Other arguments: as :meth:`GetMask`.

        Returns:
          :class:`~tfpath.PathDetails` (see its attributes) of the input.

        Raises:
          ValueError / TypeError: as :meth:`GetMask`. Warns (UserWarning) when
          ``F(x) ≈ F(x')`` (a degenerate, ~zero attribution).
        """
        return self._run(locals(), batch=False, details=True)

    def GetMaskBatchWithDetails(self, x_batch, call_model_function, call_model_args=None,
                                vae=None, encoder=None, decoder=None, z_baseline=None,
                                z_input=None, steps=400, integrator="midpoint",
                                search=search_lib.CODE, fiducial_class=None,
                                baseline_weights=None, tail=True, batch_size=None):
        """:meth:`GetMaskWithDetails` for a batch ``[B, ...]``; arrays gain a leading batch axis.

        Args:
          x_batch: the inputs ``[B, ...]``.
          Other arguments: as :meth:`GetMaskBatch`.

        Returns:
          :class:`~tfpath.PathDetails` with a leading batch axis.

        Raises:
          As :meth:`GetMaskBatch`. Warns (UserWarning) naming the inputs whose ``F(x) ≈ F(x')``.
        """
        return self._run(locals(), batch=True, details=True)

    def _plan(self, prep, *, vae, encoder, decoder, z_baseline, z_input, steps, integrator,
              search, fiducial_class, baseline_weights, tail, batch_size):
        integ = self._integrator(integrator, "midpoint")
        steps = validation.check_positive_int(steps, "steps",
                                              minimum=2 if integ.needs_values else 1)
        tail = validation.check_bool(tail, "tail")
        batch_size = validation.check_batch_size(batch_size)
        if not isinstance(search, search_lib.SearchSettings):
            raise TypeError("search: expected tfpath.generative.SearchSettings (CODE or PAPER), "
                            f"received {type(search).__name__}")
        if fiducial_class is not None and z_baseline is not None:
            raise ValueError("fiducial_class: chooses the class of a searched fiducial; with "
                             "z_baseline= given there is no search (drop one of the two)")
        decoder = fiducial_lib.decoder_of(decoder, vae)
        encoder = encoder if encoder is not None else vae
        x = prep.x
        n = x.shape[0]
        latent_searches = {}
        start = None
        if z_input is None or z_baseline is None:
            if encoder is None:
                raise ValueError("encoder: needed to start the latent searches (or give both "
                                 "z_baseline= and z_input=)")
            if prep.model_function is None:
                raise TypeError("call_model_function: the latent searches differentiate "
                                "through the classifier; pass a tfpath.ModelFunction, or give "
                                "both z_baseline= and z_input=")
            start = fiducial_lib.encode_mean(encoder, x)
        m = fiducial_lib.latent_width(decoder, z_input, z_baseline, start)
        if start is not None:
            start = search_lib.check_latents(start, n, m, "encoder")
        if z_input is None:
            found = search_lib.reconstruction_latent(decoder, x, start, search)
            latent_searches["reconstruction_search"] = found
            z_input = found.z
        z_input = search_lib.check_latents(z_input, n, m, "z_input")
        if z_baseline is None:
            found = search_lib.counterfactual_fiducial(decoder, prep.model_function, x, start,
                                                       fiducial_class, search)
            latent_searches["fiducial_search"] = found
            z_baseline = found.z
        z_baseline = _check_baseline_latents(z_baseline, n, m)
        k = z_baseline.shape[1]
        flat = z_baseline.reshape(n * k, m)
        search_lib.check_decoder(decoder, x, flat)
        pool = search_lib.decode(decoder, flat)
        weights = check_weights(baseline_weights, n, k)
        baselines = BaselineSet(pool, np.arange(n * k).reshape(n, k), weights,
                                {Z_BASELINE_KEY: z_baseline})
        path = GenerativePath(Decoder(decoder), tail)
        return Plan(path, integ, integ.schedule(path, steps, "midpoint"), baselines,
                    {Z_INPUT_KEY: z_input}, batch_size, latent_searches)

    def _report(self, prep, plan, result, details):
        base = _details(result, details)
        if not details:
            return base
        n, k = plan.baselines.index.shape
        squeeze = (lambda a: a[:, 0]) if k == 1 else (lambda a: a)
        z_input = plan.context[Z_INPUT_KEY]
        decoder = plan.path.decoder.fn
        reconstruction = search_lib.decode(decoder, z_input)
        recon_value = prep.evaluator.evaluate_numpy(reconstruction, prep.class_idx)[0]
        fid = plan.extras.get("fiducial_search")
        return GenerativeIGDetails(
            **{f.name: getattr(base, f.name) for f in dataclasses.fields(PathDetails)},
            z_baseline=squeeze(plan.baselines.context[Z_BASELINE_KEY]),
            z_input=z_input,
            fiducial=squeeze(plan.baselines.pool.reshape((n, k) + prep.x.shape[1:])),
            reconstruction=reconstruction,
            reconstruction_value=np.asarray(recon_value, np.float64),
            fiducial_search=fid,
            reconstruction_search=plan.extras.get("reconstruction_search"),
            fiducial_class_kept=None if fid is None else fid.class_kept)


def _check_baseline_latents(z, n, m):
    """z0 as ``[B, M, m]``: from ``[m]`` (one input), ``[B, m]`` or ``[B, M, m]``."""
    z = validation.check_array(z, "z_baseline", min_rank=1)
    if z.ndim == 1:
        z = z[None]
    if z.ndim == 2:
        z = z[:, None]
    if z.ndim != 3 or z.shape[0] != n or z.shape[2] != m:
        raise ValueError(f"z_baseline: expected latents of shape ({n}, {m}) or ({n}, M, {m}) "
                         f"(one or M per input, the decoder's latent size {m}), received "
                         f"{z.shape}")
    return z
