"""CLUE, δ-CLUE and ∇-CLUE: counterfactual explanations of uncertainty, k per input, searched in
a generative model's latent space, all inputs × chains in one compiled loop.

* CLUE — Antorán, Bhatt, Adel, Weller and Hernández-Lobato, "Getting a CLUE: A Method for
  Explaining Uncertainty Estimates", ICLR 2021; and Ley, Bhatt and Weller, "Diverse, Global and
  Amortised Counterfactual Explanations for Uncertainty Estimates", AAAI 2022, Eq. 1:
  ``z_CLUE = argmin_z H(y | ψ(z)) + λx ‖ψ(z) − x0‖₁ + λy d_y(f(ψ(z)), f(x0))``, from the
  encoder's mean z0 = φ(x0), unconstrained.
* δ-CLUE — Ley et al., §δ-CLUE and Algorithm 3: k chains started by a scheme S of radius r
  (:mod:`tfpath.counterfactuals.starts`), each projected onto the ℓ2 ball ‖z − z0‖ ≤ δ after
  every step (projected gradient descent); the CEs whose uncertainty is below a threshold are
  accepted.
* ∇-CLUE — Ley et al., §∇-CLUE, Algorithm 1 (simultaneous): the k chains of one input minimise
  ``−λD D(z_1..z_k) + (1/k) Σ_i L(z_i)`` jointly, D the DPP or APD diversity in latent space;
  Appendix D's variants: sequential (one CE at a time, each minimising
  ``−λD D(Z ∪ {z}) + L(z)``), sequential with repulsion penalties
  (``L(z) + Σ_{z'∈Z} λD / ‖z − z'‖``), and the diversity-maximising pre-step (``diversity_steps``
  steps maximising D alone inside the ball before the descent).

CLUE is δ-CLUE with δ = ∞, r = 0 and k = 1; δ-CLUE is ∇-CLUE with λD = 0 (all three run on one
search; the tests pin the equalities).

How the paper's ambiguities are resolved here (the numbers are the paper's list of 23; those
of GLAM-CLUE are in :mod:`tfpath.counterfactuals.glam`, those of the metrics in
:mod:`tfpath.metrics.diversity`):

1. The projection of Algorithm 3 prints ``z = δ (z − z0)/ρ``; tfpath projects onto the ball,
   ``z0 + δ (z − z0)/‖z − z0‖₂`` when outside.
2. Sequential ∇-CLUE's loss prints ``+λD D``, which would reduce diversity; tfpath uses
   ``−λD D`` as in Algorithm 1.
3. The hard prediction is the argmax of p̄ (the text prints max).
6. λx of the "distance" experiments is not stated: :class:`CLUESettings` defaults to λx = 0
   (the loss L_H), and costs of the results use 0.03 (the paper's evaluation weight) unless
   given.
7. The optimiser is not stated: Adam (the CLUE code's), learning rate 0.1 and 30 steps (the
   paper's experiments), no early stopping unless ``stopping=`` is given.
10. H_threshold is not stated: ``threshold=None`` accepts every CE.
12, 13, 14. Schemes S2, S5, S3: see :mod:`tfpath.counterfactuals.starts`.
18. ∇-CLUE's initialisation is not stated: S1 (the paper's best), r = δ.
20. The label distribution (:meth:`CLUEResult.label_distribution`) is normalised, and classes
   no CE reached get 0.
23. D is applied in latent space (the paper's experiments), DPP by default.

Further departures and choices:

* Simultaneous ∇-CLUE: the update uses the gradient of ``Σ_i L(z_i) − k λD D`` — k times the
  paper's objective; Adam is invariant to that constant, so λD = 0 gives δ-CLUE exactly.
* DPP and APD use ``sqrt(‖z_i − z_j‖² + 1e-12)`` (the distance's gradient is undefined at
  z_i = z_j, e.g. r = 0 with k > 1), and the DPP determinant is taken in float64.
* Uncertainty is any weighted sum of total, aleatoric and epistemic entropy (nats) of the
  classifier's posterior predictive (:mod:`tfpath.uncertainty`; the CLUE code's
  ``uncertainty_weight``, ``aleatoric_weight``, ``epistemic_weight``); d_y is the cross-entropy
  ``−Σ_c p̄_c(x0) log p̄_c(ψ(z))`` of the prediction at the CE against the prediction at x0.
"""
from __future__ import annotations

import math
import numbers
import time
from dataclasses import dataclass, field
from typing import Optional, Tuple, Union

import numpy as np
import tensorflow as tf

from tfpath import baselines as baselines_lib
from tfpath.core import keras_utils, validation
from tfpath.core import progress as progress_lib
from tfpath.core.model_function import ModelFunction
from tfpath.counterfactuals import starts as starts_lib
from tfpath.generative import fiducial as fiducial_lib
from tfpath.generative import search as search_lib
from tfpath.generative.latent import Adam, Ball, LossNotDecreasing, minimize_latent
from tfpath.uncertainty import measures
from tfpath.uncertainty.targets import Entropy

UNCERTAINTIES = {"total": (1.0, 0.0, 0.0), "aleatoric": (0.0, 1.0, 0.0),
                 "epistemic": (0.0, 0.0, 1.0)}
DISTANCES = ("l1", "l2")
DIVERSITIES = ("dpp", "apd")
MODES = ("simultaneous", "sequential", "penalty")
EVALUATION_DISTANCE_WEIGHT = 0.03          # the paper's λx for costs (Figs 4 and 9)
_EPS = 1e-12


@dataclass(frozen=True)
class CLUESettings:
    """The CLUE loss and its optimiser (Ley et al., AAAI 2022, Eq. 1; defaults: the paper's
    experiments).

    Attributes:
      uncertainty: ``"total"`` (predictive entropy, the paper's), ``"aleatoric"``,
        ``"epistemic"``, or weights ``(w_total, w_aleatoric, w_epistemic)`` of their sum.
      distance_weight: λx of ``λx ‖ψ(z) − x0‖``.
      prediction_weight: λy of ``λy d_y`` (cross-entropy against the prediction at x0).
      distance: ``"l1"`` (the paper's) or ``"l2"``, over all features.
      optimizer: :class:`~tfpath.generative.Adam` (learning rate 0.1).
      steps: updates per chain (30).
      stopping: None (fixed steps) or a :class:`~tfpath.generative.LossNotDecreasing`
        (independent chains only: δ-CLUE and CLUE).
      batch_size: rows per call when decoding and scoring the results.

    Raises:
      ValueError / TypeError naming the field.
    """

    uncertainty: Union[str, Tuple[float, float, float]] = "total"
    distance_weight: float = 0.0
    prediction_weight: float = 0.0
    distance: str = "l1"
    optimizer: Adam = field(default_factory=lambda: Adam(learning_rate=0.1))
    steps: int = 30
    stopping: Optional[LossNotDecreasing] = None
    batch_size: int = 256

    def __post_init__(self):
        weights = self.uncertainty_weights
        if any(w < 0 for w in weights) or not any(w > 0 for w in weights):
            raise ValueError(f"uncertainty: expected non-negative weights, not all 0, received "
                             f"{self.uncertainty!r}")
        validation.check_nonnegative(self.distance_weight, "distance_weight")
        validation.check_nonnegative(self.prediction_weight, "prediction_weight")
        if self.distance not in DISTANCES:
            raise ValueError(f"distance: expected one of {DISTANCES}, received "
                             f"{self.distance!r}")
        if not isinstance(self.optimizer, Adam):
            raise TypeError(f"optimizer: expected tfpath.generative.Adam, received "
                            f"{type(self.optimizer).__name__}")
        validation.check_positive_int(self.steps, "steps", minimum=0)
        if self.stopping is not None and not isinstance(self.stopping, LossNotDecreasing):
            raise TypeError("stopping: expected None or tfpath.generative.LossNotDecreasing, "
                            f"received {type(self.stopping).__name__}")
        validation.check_positive_int(self.batch_size, "batch_size")

    @property
    def uncertainty_weights(self) -> Tuple[float, float, float]:
        """``(w_total, w_aleatoric, w_epistemic)``."""
        if isinstance(self.uncertainty, str):
            if self.uncertainty not in UNCERTAINTIES:
                raise ValueError(f"uncertainty: expected one of {sorted(UNCERTAINTIES)} or "
                                 f"three weights, received {self.uncertainty!r}")
            return UNCERTAINTIES[self.uncertainty]
        try:
            weights = tuple(float(w) for w in self.uncertainty)
        except (TypeError, ValueError):
            weights = ()
        if len(weights) != 3:
            raise ValueError(f"uncertainty: expected one of {sorted(UNCERTAINTIES)} or three "
                             f"weights (total, aleatoric, epistemic), received "
                             f"{self.uncertainty!r}")
        return weights


# ------------------------------------------------------------------------- set diversity
def pairwise_distances(z):
    """ℓ2 distances ``[B, k, k]`` within each set of latents ``z [B, k, m]`` (with
    ``sqrt(· + 1e-12)``, so the gradient is finite at coinciding points; the diagonal is 0)."""
    diff = z[:, :, None, :] - z[:, None, :, :]
    d = tf.sqrt(tf.reduce_sum(tf.square(diff), axis=-1) + _EPS)
    k = tf.shape(z)[1]
    return d * (1.0 - tf.eye(k, dtype=d.dtype))


def set_diversity(z, kind="dpp", mask=None):
    """The diversity of each set of latents (Ley et al., AAAI 2022, Table 1), differentiable.

    Args:
      z: ``[B, k, m]`` float tensor.
      kind: ``"dpp"`` (``det K``, ``K_ij = 1/(1 + ‖z_i − z_j‖₂)``, in float64) or ``"apd"``
        (the average pairwise ℓ2 distance).
      mask: None or ``[B, k]`` (1: a member of the set, 0: absent); absent rows are left out
        (an identity row and column of K; no pairs in APD).

    Returns:
      ``[B]`` tensor of ``z``'s dtype; 0 for sets of fewer than two members.
    """
    d = pairwise_distances(z)
    k = tf.shape(z)[1]
    if mask is None:
        mask = tf.ones(tf.shape(z)[:2], z.dtype)
    mask = tf.cast(mask, z.dtype)
    pair = mask[:, :, None] * mask[:, None, :] * (1.0 - tf.eye(k, dtype=z.dtype))
    members = tf.reduce_sum(mask, axis=1)
    if kind == "dpp":
        kernel = tf.cast(pair / (1.0 + d), tf.float64) + tf.eye(k, dtype=tf.float64)
        value = tf.cast(tf.linalg.det(kernel), z.dtype)
    else:
        pairs = tf.maximum(members * (members - 1.0) / 2.0, 1.0)
        value = tf.reduce_sum(d * pair, axis=[1, 2]) / 2.0 / pairs
    return tf.where(members >= 2.0, value, tf.zeros_like(value))


# ------------------------------------------------------------------------- results
@dataclass
class CLUEResult:
    """k counterfactual explanations per input (NumPy; row b is input b, column i chain i).

    Attributes:
      z: the CEs' latents ``[B, k, m]``.
      x: the CEs ψ(z) ``[B, k, ...]``.
      z_original: z0 = φ(x0) ``[B, m]`` (the ball's centre).
      x_original: the inputs x0 ``[B, ...]``.
      uncertainty: the objective's uncertainty (weighted entropies) at each CE ``[B, k]``.
      entropy, aleatoric, epistemic: the CE's total / aleatoric / epistemic entropy ``[B, k]``.
      original_uncertainty, original_entropy: the same at x0 ``[B]``.
      probabilities: p̄ at each CE ``[B, k, K]``; labels: its argmax ``[B, k]``.
      original_probabilities ``[B, K]``, original_label ``[B]``: at x0.
      input_distance: ‖x − x0‖₁ ``[B, k]`` (the λ-free d_x); latent_distance: ‖z − z0‖₂.
      loss: the search's final loss per chain ``[B, k]``.
      accepted: the uncertainty is below the threshold ``[B, k]`` (all True without one).
      delta: the ball's radius (inf: unconstrained).
      seconds, cpu_seconds: wall and process time of the whole explanation of the batch.
    """

    z: np.ndarray
    x: np.ndarray
    z_original: np.ndarray
    x_original: np.ndarray
    uncertainty: np.ndarray
    entropy: np.ndarray
    aleatoric: np.ndarray
    epistemic: np.ndarray
    original_uncertainty: np.ndarray
    original_entropy: np.ndarray
    probabilities: np.ndarray
    labels: np.ndarray
    original_probabilities: np.ndarray
    original_label: np.ndarray
    input_distance: np.ndarray
    latent_distance: np.ndarray
    loss: np.ndarray
    accepted: np.ndarray
    delta: float
    seconds: float
    cpu_seconds: float

    @property
    def k(self) -> int:
        return self.z.shape[1]

    @property
    def class_kept(self) -> np.ndarray:
        """The CE keeps x0's predicted class ``[B, k]``."""
        return self.labels == self.original_label[:, None]

    @property
    def uncertainty_reduction(self) -> np.ndarray:
        """``H(x0) − H(CE)`` of the objective's uncertainty ``[B, k]``."""
        return self.original_uncertainty[:, None] - self.uncertainty

    @property
    def seconds_per_explanation(self) -> float:
        """Wall time per CE (the batch's time over B·k)."""
        return self.seconds / self.z.shape[0] / self.k

    def cost(self, distance_weight: float = EVALUATION_DISTANCE_WEIGHT) -> np.ndarray:
        """``c = H + λx d`` per CE ``[B, k]`` (the paper's cost; λx = 0.03 by default)."""
        validation.check_nonnegative(distance_weight, "distance_weight")
        return self.uncertainty + distance_weight * self.input_distance

    def best(self, distance_weight: float = EVALUATION_DISTANCE_WEIGHT) -> np.ndarray:
        """The chain of least cost per input among the accepted CEs (all CEs when none is
        accepted) ``[B]`` (Appendix B's best-cost selection)."""
        cost = np.where(self.accepted, self.cost(distance_weight), np.inf)
        cost = np.where(self.accepted.any(axis=1, keepdims=True), cost,
                        self.cost(distance_weight))
        return cost.argmin(axis=1)

    def baseline_weights(self, weights="uniform",
                         distance_weight: float = EVALUATION_DISTANCE_WEIGHT,
                         accepted_only: bool = True) -> np.ndarray:
        """Relative weights ``[B, k]`` of the CEs as baselines.

        Args:
          weights: ``"uniform"``, ``"cost"`` (∝ cost⁻², the inverse square of the paper's
            label distribution) or an array ``[B, k]``.
          distance_weight: λx of the cost.
          accepted_only: give rejected CEs weight 0.

        Raises:
          ValueError naming ``weights``: an unknown name, a cost of 0, or an input with no
          accepted CE.
        """
        if isinstance(weights, str):
            if weights == "uniform":
                w = np.ones(self.z.shape[:2])
            elif weights == "cost":
                cost = self.cost(distance_weight)
                if np.any(cost <= 0):
                    raise ValueError("weights: 'cost' needs positive costs; some CE has cost 0")
                w = cost ** -2.0
            else:
                raise ValueError(f"weights: expected 'uniform', 'cost' or an array [B, k], "
                                 f"received {weights!r}")
        else:
            w = baselines_lib.check_weights(weights, self.z.shape[0], self.k, "weights")
        if accepted_only:
            w = np.where(self.accepted, w, 0.0)
            empty = np.flatnonzero(w.sum(axis=1) <= 0)
            if empty.size:
                raise ValueError(f"weights: inputs {empty[:10].tolist()} have no accepted CE "
                                 "(raise the threshold, or pass accepted_only=False)")
        return w / w.sum(axis=1, keepdims=True)

    def as_baselines(self, weights="uniform",
                     distance_weight: float = EVALUATION_DISTANCE_WEIGHT,
                     accepted_only: bool = True) -> baselines_lib.Counterfactuals:
        """The CEs as the baseline set of any path method: ``baselines=result.as_baselines()``
        (IG, Guided IG, Blur IG's end, ...; for Generative IG pass ``z_baseline=result.z``
        and ``baseline_weights=result.baseline_weights()``). Arguments as
        :meth:`baseline_weights`.

        Returns:
          :class:`tfpath.baselines.Counterfactuals`.
        """
        return baselines_lib.Counterfactuals(
            self.x, self.baseline_weights(weights, distance_weight, accepted_only))

    def label_distribution(self, distance_weight: float = EVALUATION_DISTANCE_WEIGHT,
                           accepted_only: bool = True) -> np.ndarray:
        """The label distribution of the CE set ``[B, K]`` (Ley et al., Appendix B,
        "Computing a Label Distribution"): ``p(c) ∝ min-cost(c)⁻²`` over the CEs predicted
        as c, 0 for classes no CE reached.

        Args:
          distance_weight: λx of the cost.
          accepted_only: only the accepted CEs count (the set Algorithm 3 returns).

        Raises:
          ValueError naming ``accepted_only``: an input has no accepted CE.
        """
        from tfpath.metrics.diversity import label_distribution
        num_classes = self.probabilities.shape[-1]
        keep = self._kept(accepted_only)
        return np.stack([label_distribution(self.labels[b:b + 1, keep[b]],
                                            self.cost(distance_weight)[b:b + 1, keep[b]],
                                            num_classes)[0] for b in range(len(keep))])

    def diversity(self, bounds=None, accepted_only: bool = True):
        """The diversity metrics of each input's set (:func:`tfpath.metrics.diversity.
        diversity`): DPP and APD in z (ℓ2) and x (ℓ1), coverage, prediction coverage,
        distinct labels and label entropy.

        Args:
          bounds: ``(low, high)`` of the features, to normalise coverage to [0, 1].
          accepted_only: only the accepted CEs form the set (the set Algorithm 1 returns).

        Returns:
          :class:`tfpath.metrics.diversity.DiversityReport` (one value per input).

        Raises:
          ValueError naming ``accepted_only``: an input has no accepted CE.
        """
        from dataclasses import fields
        from tfpath.metrics.diversity import DiversityReport, diversity
        keep = self._kept(accepted_only)
        if keep.all():
            return diversity(z=self.z, x=self.x, original=self.x_original,
                             probabilities=self.probabilities, bounds=bounds)
        reports = [diversity(z=self.z[b:b + 1, keep[b]], x=self.x[b:b + 1, keep[b]],
                             original=self.x_original[b:b + 1],
                             probabilities=self.probabilities[b:b + 1, keep[b]], bounds=bounds)
                   for b in range(len(keep))]
        return DiversityReport(**{f.name: np.concatenate([getattr(r, f.name) for r in reports])
                                  for f in fields(DiversityReport)})

    def _kept(self, accepted_only):
        keep = self.accepted if accepted_only else np.ones_like(self.accepted)
        empty = np.flatnonzero(~keep.any(axis=1))
        if empty.size:
            raise ValueError(f"accepted_only: inputs {empty[:10].tolist()} have no accepted CE "
                             "(raise the threshold, or pass accepted_only=False)")
        return keep


# ------------------------------------------------------------------------- the search
class NablaCLUE:
    """∇-CLUE (Ley, Bhatt and Weller, AAAI 2022, Algorithm 1 and Appendix D): k diverse
    counterfactual explanations of uncertainty per input, in a δ-ball of the latent space.

    ``NablaCLUE(bnn, vae, delta=4.0, k=10, diversity_weight=1.0).explain(x)``.

    Args:
      model: the classifier: a Bayesian wrapper of :mod:`tfpath.uncertainty` (``[n, S, K]``),
        a Keras classifier, or a :class:`tfpath.ModelFunction` of one (its target is unused).
      vae: an object with ``encoder`` and ``decoder`` (e.g. :class:`tfpath.generative.VAE`);
        or give ``encoder=`` and ``decoder=``.
      encoder, decoder: φ (``x -> mean`` or ``(mean, log variance)``) and ψ (``z -> x``).
      delta: δ > 0, the ball's radius (``math.inf``: unconstrained); required.
      k: CEs per input (>= 1).
      scheme: the starts: ``"S1"`` (default), ``"S3"``, ``"S4"``, ``"S5"``, ``"centre"``,
        ``"gaussian"`` or a :mod:`tfpath.counterfactuals.starts` scheme (S2:
        :class:`~tfpath.counterfactuals.starts.NearestNeighbourPath`).
      radius: r of the scheme; None: r = δ (the paper), or 0 when δ is infinite.
      diversity_weight: λD >= 0 (0: δ-CLUE).
      diversity: ``"dpp"`` (the paper's) or ``"apd"``, in latent space.
      mode: ``"simultaneous"`` (Algorithm 1), ``"sequential"`` or ``"penalty"``
        (Appendix D: the k CEs one after another, with −λD·D(Z ∪ {z}) or with
        ``Σ λD / ‖z − z'‖``).
      diversity_steps: n_i, steps maximising D alone (inside the ball) before the descent.
      threshold: None or H_threshold: CEs at or above it are not accepted.
      settings: :class:`CLUESettings`.
      seed: seed of the start points (a private NumPy generator; global state is untouched).
        The generator draws for the whole batch, so an input's starts depend on the batch it
        comes in (the same batch and seed give the same CEs).
      output: the classifier's output kind, ``"auto"``, ``"logits"`` or ``"probabilities"``.

    Raises:
      ValueError / TypeError naming the argument: δ <= 0 (or not a number), k < 1, a negative
      weight or radius, unknown names; no decoder; early stopping with coupled chains
      (``settings``). From :meth:`explain`: chains that start together while a diversity
      term is asked for (``radius``), a scheme returning non-finite starts (``scheme``).
    """

    def __init__(self, model, vae=None, *, encoder=None, decoder=None, delta: float,
                 k: int = 10, scheme="S1", radius: Optional[float] = None,
                 diversity_weight: float = 0.0, diversity: str = "dpp",
                 mode: str = "simultaneous", diversity_steps: int = 0,
                 threshold: Optional[float] = None, settings: CLUESettings = CLUESettings(),
                 seed: int = 0, output: str = "auto"):
        self.model_function = self._model_function(model, output)
        self.encoder = encoder if encoder is not None else vae
        if self.encoder is None:
            raise ValueError("encoder: CLUE needs an encoder (vae= or encoder=)")
        self.decoder = fiducial_lib.decoder_of(decoder, vae if vae is not None else encoder)
        if isinstance(delta, bool) or not isinstance(delta, numbers.Real):
            raise TypeError(f"delta: expected a number > 0 (or math.inf), received "
                            f"{delta!r}")
        delta = float(delta)
        if not delta > 0:
            raise ValueError(f"delta: expected the ball's radius > 0 (math.inf: "
                             f"unconstrained), received {delta}")
        self.delta = delta
        self.k = validation.check_positive_int(k, "k")
        self.scheme = starts_lib.resolve_scheme(scheme)
        if radius is None:
            radius = delta if math.isfinite(delta) else 0.0
        self.radius = validation.check_nonnegative(radius, "radius")
        if not math.isfinite(self.radius):
            raise ValueError("radius: expected a finite start radius r >= 0, received inf")
        self.diversity_weight = validation.check_nonnegative(diversity_weight,
                                                             "diversity_weight")
        if diversity not in DIVERSITIES:
            raise ValueError(f"diversity: expected one of {DIVERSITIES}, received "
                             f"{diversity!r}")
        self.diversity = diversity
        if mode not in MODES:
            raise ValueError(f"mode: expected one of {MODES}, received {mode!r}")
        self.mode = mode
        self.diversity_steps = validation.check_positive_int(diversity_steps, "diversity_steps",
                                                             minimum=0)
        if threshold is not None:
            if isinstance(threshold, bool) or not isinstance(threshold, numbers.Real) or \
                    math.isnan(threshold) or threshold < 0:
                raise ValueError(f"threshold: expected None or an uncertainty >= 0 (math.inf "
                                 f"accepts every CE), received {threshold!r}")
            threshold = float(threshold)
        self.threshold = threshold
        if not isinstance(settings, CLUESettings):
            raise TypeError(f"settings: expected tfpath.counterfactuals.CLUESettings, "
                            f"received {type(settings).__name__}")
        self.settings = settings
        self.seed = validation.check_positive_int(seed, "seed", minimum=0)
        self._check_stopping()
        self._losses = {}

    def _coupled(self) -> bool:
        """Whether the chains of one input share a loss (simultaneous ∇-CLUE with λD > 0)."""
        return self.mode == "simultaneous" and self.k > 1 and self.diversity_weight > 0

    def _check_stopping(self):
        if self.settings.stopping is not None and self._coupled():
            raise ValueError("settings: early stopping needs independent chains; simultaneous "
                             "∇-CLUE's diversity term couples them (set stopping=None, or use "
                             "mode='sequential')")

    # ------------------------------------------------------------------ model plumbing
    @staticmethod
    def _model_function(model, output):
        if isinstance(model, ModelFunction):
            mf = model
        else:
            if not callable(model):
                raise TypeError(f"model: expected a classifier (Keras model, Bayesian wrapper "
                                f"or tfpath.ModelFunction), received {type(model).__name__}")
            mf = ModelFunction(model, target=Entropy(), output=output)
        if mf.output_kind not in measures.UNCERTAINTY_KINDS:
            raise ValueError("model: CLUE needs class logits or probabilities; the model "
                             f"outputs {mf.output_kind!r}")
        return mf

    def _row_loss_fn(self):
        """``L(z) = uncertainty + λx d_x + λy d_y`` per row ``[N]``, capturing the current
        settings, decoder and classifier (a loss function is compiled once)."""
        s, decoder, mf = self.settings, self.decoder, self.model_function
        weights, kind = s.uncertainty_weights, mf.output_kind

        def row_loss(z, ctx):
            decoded = tf.cast(keras_utils.call_inference(decoder, z), tf.float32)
            outputs = mf.call_model(decoded)
            parts = measures.decompose(outputs, kind)
            loss = sum(w * tf.cast(p, tf.float32) for w, p in zip(weights, parts) if w > 0)
            if s.distance_weight > 0:
                diff = tf.reshape(decoded - ctx["x"], [tf.shape(decoded)[0], -1])
                dist = (tf.reduce_sum(tf.abs(diff), axis=1) if s.distance == "l1"
                        else tf.sqrt(tf.reduce_sum(tf.square(diff), axis=1) + _EPS))
                loss = loss + s.distance_weight * dist
            if s.prediction_weight > 0:
                log_p = search_lib.mean_log_probs(outputs, kind)
                cross = -tf.reduce_sum(tf.cast(ctx["p0"], tf.float64) * log_p, axis=1)
                loss = loss + s.prediction_weight * tf.cast(cross, tf.float32)
            return loss
        return row_loss

    def _loss(self, kind, k):
        """One loss function per (kind, k) and configuration, so each compiles once; a change
        of the explainer's settings, weights, decoder or classifier makes a new one."""
        key = (kind, k, self.settings, self.diversity_weight, self.diversity,
               id(self.decoder), id(self.model_function))
        if key in self._losses:
            return self._losses[key]
        row_loss, m_lambda, div = self._row_loss_fn(), self.diversity_weight, self.diversity

        def per_set(z):
            return tf.reshape(z, [-1, k, tf.shape(z)[1]])

        if kind == "independent":
            def loss(z, ctx):
                return row_loss(z, ctx)
        elif kind == "simultaneous":
            def loss(z, ctx):
                d = set_diversity(per_set(z), div)
                return row_loss(z, ctx) - m_lambda * tf.repeat(d, k)
        elif kind == "diversity":
            def loss(z, ctx):
                return -tf.repeat(set_diversity(per_set(z), div), k)
        elif kind == "sequential":
            def loss(z, ctx):
                members = tf.concat([ctx["previous"], z[:, None, :]], axis=1)
                mask = tf.concat([ctx["previous_mask"], tf.ones_like(z[:, :1])], axis=1)
                return row_loss(z, ctx) - m_lambda * set_diversity(members, div, mask)
        else:                                                     # penalty
            def loss(z, ctx):
                gap = tf.sqrt(tf.reduce_sum(tf.square(z[:, None, :] - ctx["previous"]), -1)
                              + _EPS)
                repulsion = tf.reduce_sum(ctx["previous_mask"] / gap, axis=1)
                return row_loss(z, ctx) + m_lambda * repulsion
        # losses of an earlier configuration are dropped (their compiled loops go with them)
        self._losses = {old: fn for old, fn in self._losses.items() if old[2:] == key[2:]}
        self._losses[key] = loss
        return loss

    def _probe(self, z):
        decoded = keras_utils.call_inference(self.decoder, z)
        log_p = search_lib.mean_log_probs(
            self.model_function.call_model(tf.cast(decoded, tf.float32)),
            self.model_function.output_kind)
        return tf.exp(log_p)

    def _scores(self, x):
        """(weighted uncertainty, total, aleatoric, epistemic, p̄) of a batch, NumPy."""
        parts, p = measures.batched_predictive(self.model_function, x, self.settings.batch_size)
        weighted = sum(w * v for w, v in zip(self.settings.uncertainty_weights, parts))
        return [weighted, *parts, p]

    def _check(self, x, z_original):
        x = validation.check_array(x, "x", min_rank=2)
        try:
            self.model_function.check_outputs(x[:1])
        except (ValueError, TypeError, tf.errors.InvalidArgumentError) as e:
            raise ValueError(f"model: the classifier fails on inputs of shape {x.shape[1:]} "
                             f"({e})") from e
        if z_original is None:
            z0 = fiducial_lib.encode_mean(self.encoder, x)
        else:
            z0 = validation.check_array(z_original, "z_original", min_rank=1)
            z0 = search_lib.check_latents(z0, x.shape[0], z0.shape[-1], "z_original")
        search_lib.check_decoder(self.decoder, x, z0)
        return x, z0

    # ------------------------------------------------------------------ explain
    def explain(self, x, z_original=None, progress=None) -> CLUEResult:
        """The k CEs of each input of a batch.

        Args:
          x: uncertain inputs ``[B, ...]`` (the classifier's and the decoder's shape).
          z_original: None (z0 = the encoder's mean) or latents ``[B, m]``.
          progress: a bar over the k rounds of the sequential / penalty modes on stderr: None
            (on a terminal only), True, False (the simultaneous search is one compiled loop).

        Returns:
          :class:`CLUEResult`.

        Raises:
          ValueError / TypeError naming the argument: bad ``x`` or ``z_original`` (NaN
          included), a classifier (``model``) that fails on ``x``, a decoder (``decoder``)
          whose output is not ``x``'s shape or that fails on the encoder's latents, an encoder
          returning NaN.
        """
        wall, cpu = time.perf_counter(), time.process_time()
        x, z0 = self._check(x, z_original)
        b, m = z0.shape
        k = self.k
        rng = np.random.default_rng(self.seed)
        start = self.scheme.starts(z0, self.radius, k, rng, self._probe)
        start = np.asarray(start, np.float32)
        if start.shape != (b, k, m):
            raise ValueError(f"scheme: returned starts of shape {start.shape}, expected "
                             f"{(b, k, m)}")
        if not np.all(np.isfinite(start)):
            raise ValueError("scheme: returned NaN or inf start points")
        self._check_stopping()
        if k > 1 and (self._coupled() or self.diversity_steps > 0):
            spread = np.abs(start - start[:, :1]).max(axis=(1, 2))
            if np.any(spread == 0):
                raise ValueError(
                    "radius: the k chains of an input start at one point (r = 0 or the "
                    "'centre' scheme), where the diversity term has no gradient, so "
                    "diversity_weight / diversity_steps would do nothing; give radius > 0 or "
                    "a random scheme")
        original = self._scores(x)
        p0 = original[4]
        rows = lambda a: np.repeat(a, k, axis=0)   # noqa: E731 (input-major rows)
        ctx = {"x": rows(x), "p0": rows(p0.astype(np.float32)), "centre": rows(z0),
               "radius": np.full(b * k, self.delta if math.isfinite(self.delta) else 0.0,
                                 np.float32)}
        projection = Ball("centre", "radius") if math.isfinite(self.delta) else None
        s = self.settings
        z = start.reshape(b * k, m)
        if self.diversity_steps > 0 and k > 1:
            z = minimize_latent(self._loss("diversity", k), z, context=ctx,
                                optimizer=s.optimizer, max_steps=self.diversity_steps,
                                projection=projection).z
        if self.mode == "simultaneous" or k == 1 and self.mode == "sequential":
            kind = "simultaneous" if self.diversity_weight > 0 and k > 1 else "independent"
            result = minimize_latent(self._loss(kind, k), z, context=ctx,
                                     optimizer=s.optimizer, stopping=s.stopping,
                                     max_steps=s.steps, projection=projection)
            z, loss = result.z.reshape(b, k, m), result.loss.reshape(b, k)
        else:
            z, loss = self._one_by_one(z.reshape(b, k, m), x, z0, p0, projection, progress)
        return self._result(x, z0, z, loss, original, wall, cpu)

    def _one_by_one(self, start, x, z0, p0, projection, progress):
        """Sequential ∇-CLUE: chain t minimises against the CEs 0..t-1 already found."""
        b, k, m = start.shape
        s = self.settings
        found = np.zeros((b, max(k - 1, 1), m), np.float32)
        mask = np.zeros((b, max(k - 1, 1)), np.float32)
        z_out, loss_out = np.zeros_like(start), np.zeros((b, k))
        loss_fn = self._loss(self.mode, k)
        radius = np.full(b, self.delta if math.isfinite(self.delta) else 0.0, np.float32)
        bar = progress_lib.Progress(k, f"{type(self).__name__} ({self.mode})", enabled=progress,
                                    unit="CE")
        for t in range(k):
            bar.update(1 if t else 0)
            ctx = {"x": x, "p0": p0.astype(np.float32), "centre": z0, "radius": radius,
                   "previous": found, "previous_mask": mask}
            result = minimize_latent(loss_fn, start[:, t], context=ctx, optimizer=s.optimizer,
                                     stopping=s.stopping, max_steps=s.steps,
                                     projection=projection)
            z_out[:, t], loss_out[:, t] = result.z, result.loss
            if t < k - 1:
                found[:, t], mask[:, t] = result.z, 1.0
        bar.update(1)
        bar.close()
        return z_out, loss_out

    def _result(self, x, z0, z, loss, original, wall, cpu) -> CLUEResult:
        b, k, m = z.shape
        decoded = search_lib.decode(self.decoder, z.reshape(b * k, m), self.settings.batch_size)
        weighted, total, aleatoric, epistemic, p = self._scores(decoded)
        w0, t0, _, _, p0 = original
        shape = (b, k)
        x_ce = decoded.reshape((b, k) + x.shape[1:])
        uncertainty = weighted.reshape(shape)
        accepted = (np.ones(shape, bool) if self.threshold is None
                    else uncertainty < self.threshold)
        diff = (x_ce - x[:, None]).reshape(b, k, -1)
        return CLUEResult(
            z=z, x=x_ce, z_original=z0, x_original=x, uncertainty=uncertainty,
            entropy=total.reshape(shape), aleatoric=aleatoric.reshape(shape),
            epistemic=epistemic.reshape(shape), original_uncertainty=w0, original_entropy=t0,
            probabilities=p.reshape(shape + p.shape[-1:]),
            labels=p.argmax(axis=1).reshape(shape), original_probabilities=p0,
            original_label=p0.argmax(axis=1),
            input_distance=np.abs(diff).sum(axis=2),
            latent_distance=np.linalg.norm(z - z0[:, None], axis=2), loss=loss,
            accepted=accepted, delta=self.delta, seconds=time.perf_counter() - wall,
            cpu_seconds=time.process_time() - cpu)


class DeltaCLUE(NablaCLUE):
    """δ-CLUE (Ley, Bhatt and Weller, AAAI 2022, Algorithm 3): k CEs per input, each the CLUE
    of a chain started by ``scheme`` and projected onto ‖z − z0‖₂ ≤ δ after every step; CEs at
    or above ``threshold`` are not accepted. ∇-CLUE with λD = 0.

    ``DeltaCLUE(bnn, vae, delta=2.0, k=100).explain(x)``; arguments as :class:`NablaCLUE`.

    Raises:
      ValueError / TypeError naming the argument: δ <= 0, k < 1, ...
    """

    def __init__(self, model, vae=None, *, encoder=None, decoder=None, delta: float,
                 k: int = 10, scheme="S1", radius: Optional[float] = None,
                 threshold: Optional[float] = None, settings: CLUESettings = CLUESettings(),
                 seed: int = 0, output: str = "auto"):
        super().__init__(model, vae, encoder=encoder, decoder=decoder, delta=delta, k=k,
                         scheme=scheme, radius=radius, threshold=threshold, settings=settings,
                         seed=seed, output=output)


class CLUE(NablaCLUE):
    """CLUE (Antorán et al., ICLR 2021; Ley et al., AAAI 2022, Eq. 1): one CE per input, the
    unconstrained descent of ``H(y|ψ(z)) + λx ‖ψ(z) − x0‖₁ + λy d_y`` from z0 = φ(x0).
    δ-CLUE with δ = ∞, r = 0 and k = 1.

    ``CLUE(bnn, vae, settings=CLUESettings(distance_weight=0.03)).explain(x)``; arguments as
    :class:`NablaCLUE`. The result's arrays have k = 1 (``result.x[:, 0]`` is the CE).
    """

    def __init__(self, model, vae=None, *, encoder=None, decoder=None,
                 threshold: Optional[float] = None, settings: CLUESettings = CLUESettings(),
                 output: str = "auto"):
        super().__init__(model, vae, encoder=encoder, decoder=decoder, delta=math.inf, k=1,
                         scheme="centre", radius=0.0, threshold=threshold, settings=settings,
                         output=output)
