"""Local Path Integration (Yang, Akhtar, Wen and Mian, "Local Path Integration for
Attribution", AAAI 2023, Eqs. 4–6): Expected Gradients over each input's local distribution of
references, weighted by their densities."""
import dataclasses

import numpy as np

from tfpath.baselines import LocalReferences
from tfpath.core import validation
from tfpath.core.model_function import ModelFunction
from tfpath.methods.base import Plan, TFPathSaliency
from tfpath.methods.expected_gradients import check_alpha_range, random_alpha_schedule
from tfpath.paths import StraightPath

ESTIMATORS = ("expectation", "code")


class LPI(TFPathSaliency):
    """LPI: ``φ(x) = Σ_j p_j (x - x'_j) ⊙ E_α ∇F(x'_j + α(x - x'_j))`` over the references
    x'_j of x's neighbourhood, with densities p_j (Eq. 6).

    Each reference's path takes ``k`` random α (the paper: one, "a single random step"), so an
    input costs ``m·k`` gradients; all references of all inputs are rows of one batched loop.

    Estimators (the paper's text and the authors' code differ):

    * ``"expectation"`` (default, the paper's Eq. 4/6 read as an expectation): weights p_j,
      which sum to 1, and α ~ U(0, 1); then ``E[Σ mask] = F(x) - Σ_j p_j F(x'_j)``
      (completeness in expectation);
    * ``"code"`` (ypeiyu/LPI ``saliency_methods/LPI.py``): an extra factor 1/m
      (``(1/m) Σ_j p_j ...``) and α ~ U(0.01, 0.99). Maps differ from the default by the
      factor 1/m only in expectation, so rank-based metrics agree; completeness does not hold.

    Args:
      distribution: a fitted :class:`tfpath.LocalDistribution`.
      model: the model whose logits assign inputs to neighbourhoods (default: the
        distribution's own, else the model of a :class:`tfpath.ModelFunction` passed as
        ``call_model_function``).
      progress: a progress bar of the model calls: None (on a terminal), True, False.

    Raises:
      TypeError: ``distribution`` is not a :class:`tfpath.LocalDistribution`.

    The method arguments are :meth:`GetMask`'s.
    """

    def __init__(self, distribution, model=None, progress=None):
        super().__init__(progress)
        if not hasattr(distribution, "baseline_set"):
            raise TypeError(f"distribution: expected a tfpath.LocalDistribution, received "
                            f"{type(distribution).__name__}")
        self.distribution = distribution
        self.model = model

    def GetMask(self, x_value, call_model_function, call_model_args=None, k=1,
                estimator="expectation", alpha_range=None, references="weighted",
                integrator="monte_carlo", seed=None, batch_size=None):
        """The attribution mask of one input.

        Args:
          x_value: one input (``GetMaskBatch``: a batch ``[B, ...]``).
          call_model_function: a :class:`tfpath.ModelFunction` or a PAIR call_model_function.
          call_model_args: ``{"class_idx": c}`` for a :class:`tfpath.ModelFunction`; for a PAIR
            call_model_function any object, passed to every call untouched.
          k: α samples per reference (>= 1).
          estimator: ``"expectation"`` or ``"code"``.
          alpha_range: overrides the estimator's α range.
          references: ``"weighted"`` (all m references with weights p_j: Eq. 6 and the code) or
            ``"sampled"`` (m draws from Categorical(p) with equal weights: the text's "sampling
            from clusters using the corresponding densities").
          integrator: ``"monte_carlo"`` or ``"idgi"`` (IDGI on random nodes, see
            :class:`tfpath.integrate.IDGI`).
          seed: seed of a private NumPy generator (α and sampled references; None: fresh).
          batch_size: most points per model call: None or ``"auto"`` (automatic) or an int.

        Returns:
          The mask, float32, the input's shape (signed, per channel, like the authors').

        Raises:
          ValueError / TypeError: a distribution fitted for another class count or input shape,
          no model to assign neighbourhoods, ``k < 1``, unknown estimator / references /
          integrator, and the common input errors.
        """
        return self._run(locals(), batch=False, details=False)

    def GetMaskBatch(self, x_batch, call_model_function, call_model_args=None, k=1,
                     estimator="expectation", alpha_range=None, references="weighted",
                     integrator="monte_carlo", seed=None, batch_size=None):
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

    def GetMaskWithDetails(self, x_value, call_model_function, call_model_args=None, k=1,
                           estimator="expectation", alpha_range=None, references="weighted",
                           integrator="monte_carlo", seed=None, batch_size=None):
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

    def GetMaskBatchWithDetails(self, x_batch, call_model_function, call_model_args=None, k=1,
                                estimator="expectation", alpha_range=None,
                                references="weighted", integrator="monte_carlo", seed=None,
                                batch_size=None):
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

    def _plan(self, prep, *, k, estimator, alpha_range, references, integrator, seed,
              batch_size):
        k = validation.check_positive_int(k, "k")
        if estimator not in ESTIMATORS:
            raise ValueError(f"estimator: expected one of {ESTIMATORS}, received {estimator!r}")
        if alpha_range is None:
            alpha_range = (0.0, 1.0) if estimator == "expectation" else (0.01, 0.99)
        alpha_range = check_alpha_range(alpha_range)
        integ = self._integrator(integrator, "monte_carlo")
        batch_size = validation.check_batch_size(batch_size)
        rng = np.random.default_rng(seed)
        reference_seed = int(rng.integers(2 ** 31))
        if prep.deferred:
            # the neighbourhoods are chosen inside the engine's call, from the same logits the
            # boundary check would give (see _defers_check); the same baselines and α
            self.distribution.check_assignable(prep.x.shape, prep.model_function.num_classes)
            base = self.distribution.candidates()
            rows = prep.x.shape[0] * base.size
        else:
            model = self._assigning_model(prep.model_function)
            base = LocalReferences(self.distribution, model, references, reference_seed,
                                   _known_logits(prep, model)).resolve(prep.x)
            rows = base.index.size
        if estimator == "code":
            base = dataclasses.replace(base,
                                       weights=base.weights / self.distribution.n_references)
        schedule = random_alpha_schedule(rng, k, rows, alpha_range)
        return Plan(StraightPath(), integ, schedule, base, batch_size=batch_size)

    def _assigning_model(self, model_function):
        """The model whose logits assign inputs to neighbourhoods (see the class)."""
        return next((m for m in (self.model, self.distribution.model, model_function)
                     if m is not None), None)

    def _defers_check(self, call_model_function, kwargs):
        """The weighted references of a :class:`tfpath.ModelFunction` whose outputs are the
        assigning model's logits are chosen inside the engine's call (no model call before
        it): the boundary check's forward pass would only give those logits."""
        mf = call_model_function
        return (kwargs.get("references", "weighted") == "weighted"
                and isinstance(mf, ModelFunction)
                and _outputs_are_logits_of(mf, self._assigning_model(mf)))


def _outputs_are_logits_of(mf, model):
    """Whether the outputs of the model function ``mf`` are the logits ``model`` gives."""
    return mf.output_kind == "logits" and (model is mf or model is mf.model)


def _known_logits(prep, model):
    """The inputs' logits from the boundary check, when ``model`` gives exactly those."""
    mf = prep.model_function
    if mf is None or prep.outputs is None or not _outputs_are_logits_of(mf, model):
        return None
    return prep.outputs
