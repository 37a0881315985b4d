"""Expected Gradients (Erion, Janizek, Sturmfels, Lundberg and Lee, "Improving performance of
deep learning models with axiomatic attribution priors and expected gradients", Nature Machine
Intelligence 2021, Eq. 4), batched: every (reference, α) sample of every input in one loop."""
import numpy as np

from tfpath import baselines as baselines_lib
from tfpath.core import validation
from tfpath.methods.base import Plan, TFPathSaliency
from tfpath.paths import StraightPath
from tfpath.protocols import Schedule


def check_alpha_range(alpha_range):
    """``(a, b)`` with ``0 <= a < b <= 1``; raises ValueError naming ``alpha_range``."""
    try:
        a, b = (float(v) for v in alpha_range)
    except (TypeError, ValueError):
        raise ValueError(f"alpha_range: expected (low, high), received {alpha_range!r}") from None
    if not 0.0 <= a < b <= 1.0:
        raise ValueError(f"alpha_range: expected 0 <= low < high <= 1, received {alpha_range!r}")
    return a, b


def random_alpha_schedule(rng, k: int, rows: int, alpha_range) -> Schedule:
    """``k`` random α ~ U(alpha_range) per row (sorted), each with weight 1/k."""
    a, b = alpha_range
    alphas = np.sort(rng.uniform(a, b, size=(k, rows)), axis=0)
    return Schedule(alphas, np.full((k, rows), 1.0 / k), False, False)


class ExpectedGradients(TFPathSaliency):
    """Expected Gradients: ``E_{x'~D, α~U(0,1)} (x - x') ⊙ ∇F(x' + α(x - x'))``.


    Each of the ``nsamples`` samples of an input draws a reference uniformly (with
    replacement) from the pool and an α ~ U(alpha_range); all samples of all inputs are rows of
    one batched loop (one gradient each). The estimate is unbiased for the expectation over the
    pool, so on a linear model it converges to ``w ⊙ (x - mean(pool))`` as nsamples grows.

    The method arguments are :meth:`GetMask`'s (PAIR's positional order after
    ``call_model_args``).
    """

    def GetMask(self, x_value, call_model_function, call_model_args=None, references=None,
                nsamples=128, seed=None, alpha_range=(0.0, 1.0), integrator="monte_carlo",
                batch_size=None):
        """The attribution mask of one input.

        Args:
          x_value: one input (``GetMaskBatch``: a batch ``[B, ...]``).
          call_model_function: a :class:`tfpath.ModelFunction` or a PAIR call_model_function.
          call_model_args: ``{"class_idx": c}`` for a :class:`tfpath.ModelFunction`; for a PAIR
            call_model_function any object, passed to every call untouched.
          references: the pool ``[N, ...]`` (e.g. training inputs), required.
          nsamples: samples per input (>= 1); the default 128 is a choice of tfpath (the paper of
            Erion et al. leaves it to the user; Yang et al. (AAAI 2023) use 20).
          seed: seed of a private NumPy generator for the references and α (None: fresh entropy).
          alpha_range: the α distribution's support (the authors': (0, 1)).
          integrator: ``"monte_carlo"`` (the estimator above) or ``"idgi"``: IDGI on random nodes
            (:class:`tfpath.integrate.IDGI` with ``segments="whole"``, a tfpath extension): each
            sample gives its path's ``F(x) - F(x')`` to the features in proportion to its squared
            gradient; it evaluates F at both ends of every sample's path as well (forward passes).
          batch_size: most points per model call: None or ``"auto"`` (automatic) or an int.

        Returns:
          The mask, float32, the input's shape. ``GetMaskWithDetails`` reports the delta against
          ``Σ_s (F(x) - F(x'_s)) / nsamples``.

        Raises:
          ValueError / TypeError: no or badly shaped references, ``nsamples < 1``, a bad
          ``alpha_range`` or integrator, and the common input errors.
        """
        return self._run(locals(), batch=False, details=False)

    def GetMaskBatch(self, x_batch, call_model_function, call_model_args=None, references=None,
                     nsamples=128, seed=None, alpha_range=(0.0, 1.0), integrator="monte_carlo",
                     batch_size=None):
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

    def GetMaskWithDetails(self, x_value, call_model_function, call_model_args=None,
                           references=None, nsamples=128, seed=None, alpha_range=(0.0, 1.0),
                           integrator="monte_carlo", batch_size=None):
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
                                references=None, nsamples=128, seed=None, alpha_range=(0.0,
                                1.0), integrator="monte_carlo", batch_size=None):
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

    def _plan(self, prep, *, references, nsamples, seed, alpha_range, integrator, batch_size):
        if references is None:
            raise ValueError("references: Expected Gradients draws its baselines from a pool "
                             "[N, ...]; pass references= (e.g. training inputs)")
        nsamples = validation.check_positive_int(nsamples, "nsamples")
        alpha_range = check_alpha_range(alpha_range)
        integ = self._integrator(integrator, "monte_carlo")
        batch_size = validation.check_batch_size(batch_size)
        rng = np.random.default_rng(seed)
        draws = baselines_lib.DatasetSamples(references, nsamples, int(rng.integers(2 ** 31)))
        base = draws.resolve(prep.x)
        schedule = random_alpha_schedule(rng, 1, base.index.size, alpha_range)
        return Plan(StraightPath(), integ, schedule, base, batch_size=batch_size)

