"""Adversarial Gradient Integration (Pan, Li and Zhu, "Explaining Deep Neural Network Models
with Adversarial Gradient Integration", IJCAI 2021), the comparator of Yang et al. (AAAI 2023,
Table 1), on the engine's adaptive adversarial path."""
import numpy as np

from tfpath.core import validation
from tfpath.methods.base import Plan, TFPathSaliency
from tfpath.paths import AdversarialPath
from tfpath.paths.adversarial import CONTEXT_KEY
from tfpath.protocols import BaselineSet

VARIANTS = ("paper", "code")


class AGI(TFPathSaliency):
    """AGI: ``Σ_t -Σ_k ∇F_c(x_k^t) ⊙ (x_{k+1}^t - x_k^t)`` along adversarial paths toward
    classes t ≠ c (see :class:`tfpath.paths.AdversarialPath`).


    Every (input, adversarial class) pair is a row; all rows step together, one model call per
    step, and the adversarial class's gradient comes from the same forward pass as the
    explained target's. The attributions of an input's classes are summed (the paper's
    Σ over false classes), so completeness reads ``Σ mask = Σ_t (F(x) - F(x_adv^t))``.

    The method arguments are :meth:`GetMask`'s (PAIR's positional order after
    ``call_model_args``).
    """

    def GetMask(self, x_value, call_model_function, call_model_args=None, epsilon=0.05,
                steps=20, n_targets=1, targets=None, value_range=(0.0, 1.0), early_stop=True,
                variant="paper", integrator="left", seed=None, batch_size=None):
        """The attribution mask of one input.

        Args:
          x_value: one input (``GetMaskBatch``: a batch ``[B, ...]``).
          call_model_args: ``{"class_idx": c}`` for a :class:`tfpath.ModelFunction`; for a PAIR
            call_model_function any object, passed to every call untouched.
          call_model_function: a :class:`tfpath.ModelFunction` with a class target (the
            adversarial classes' gradients need the model itself).
          epsilon: step size ε (Yang et al.'s setting 0.05 for inputs in [0, 1]).
          steps: most steps per path (their setting 20).
          n_targets: adversarial classes per input, drawn at random among the other classes (their
            setting 1); ignored when ``targets`` is given.
          targets: explicit adversarial classes, ``[M]`` (shared) or ``[B, M]``.
          value_range: ``(low, high)`` the path is clipped to (None: no clipping).
          early_stop: stop a path once its class is predicted (Algorithm 1).
          variant: ``"paper"`` (cumulative steps) or ``"code"`` (each step from the original
            input, the code Yang et al. compared against; see the path's docstring).
          integrator: ``"left"`` or ``"idgi"`` (IDGI along the adversarial path).
          seed: seed of a private NumPy generator for the classes (None: fresh).
          batch_size: most rows stepped together: None or ``"auto"`` (automatic) or an int.

        Returns:
          The mask, float32. ``GetMaskWithDetails(...).path_end`` holds the adversarial examples.

        Raises:
          ValueError / TypeError: a PAIR callback or a class-free target, ``steps < 1``,
          ``epsilon <= 0``, ``n_targets`` not in [1, K-1], targets equal to the explained class
          or out of range, inputs outside ``value_range``, and the common input errors.
        """
        return self._run(locals(), batch=False, details=False)

    def GetMaskBatch(self, x_batch, call_model_function, call_model_args=None, epsilon=0.05,
                     steps=20, n_targets=1, targets=None, value_range=(0.0, 1.0),
                     early_stop=True, variant="paper", integrator="left", seed=None,
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
                           epsilon=0.05, steps=20, n_targets=1, targets=None, value_range=(0.0,
                           1.0), early_stop=True, variant="paper", integrator="left",
                           seed=None, batch_size=None):
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
                                epsilon=0.05, steps=20, n_targets=1, targets=None,
                                value_range=(0.0, 1.0), early_stop=True, variant="paper",
                                integrator="left", seed=None, batch_size=None):
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

    def _plan(self, prep, *, epsilon, steps, n_targets, targets, value_range, early_stop,
              variant, integrator, seed, batch_size):
        mf = prep.model_function
        if mf is None:
            raise TypeError("call_model_function: AGI needs a tfpath.ModelFunction (it takes "
                            "the gradients of other classes from the same forward pass)")
        if not mf.target.needs_class or prep.class_idx is None or not mf.num_classes:
            raise ValueError("call_model_args['class_idx']: AGI explains a class score against "
                             "adversarial classes; give the class to explain and a class "
                             "target (e.g. 'logit')")
        epsilon = validation.check_positive(epsilon, "epsilon")
        steps = validation.check_positive_int(steps, "steps")
        early_stop = validation.check_bool(early_stop, "early_stop")
        if variant not in VARIANTS:
            raise ValueError(f"variant: expected one of {VARIANTS}, received {variant!r}")
        integ = self._integrator(integrator, "left", adaptive=True)
        batch_size = validation.check_batch_size(batch_size)
        low = high = None
        if value_range is not None:
            low, high = validation.check_range(value_range, "value_range", finite=False)
            validation.check_within(prep.x, low, high, "value_range")
        classes = self._targets(prep, mf.num_classes, n_targets, targets, seed)
        n, m = classes.shape
        base = BaselineSet(prep.x, np.repeat(np.arange(n)[:, None], m, 1), np.ones((n, m)),
                           {CONTEXT_KEY: classes.astype(np.int32)})
        path = AdversarialPath(epsilon, low, high, early_stop, variant == "code")
        return Plan(path, integ, integ.schedule(path, steps, "left"), base,
                    batch_size=batch_size)

    @staticmethod
    def _targets(prep, num_classes, n_targets, targets, seed):
        n = prep.x.shape[0]
        explained = prep.class_idx
        if targets is not None:
            t = np.asarray(targets)
            if t.dtype == bool or not np.issubdtype(t.dtype, np.integer):
                raise TypeError(f"targets: expected integer classes, received dtype {t.dtype}")
            t = np.broadcast_to(t, (n, t.shape[-1])) if t.ndim == 1 else t
            if t.ndim != 2 or t.shape[0] != n or t.shape[1] < 1:
                raise ValueError(f"targets: expected [M] or [{n}, M] classes, received shape "
                                 f"{np.shape(targets)}")
            validation.check_class_idx(t, num_classes, "targets")
            if np.any(t == explained[:, None]):
                raise ValueError("targets: an adversarial class equals the explained class")
            return t
        m = validation.check_positive_int(n_targets, "n_targets")
        if m > num_classes - 1:
            raise ValueError(f"n_targets: at most {num_classes - 1} other classes exist; "
                             f"received {m}")
        rng = np.random.default_rng(seed)
        out = np.empty((n, m), np.int64)
        for i in range(n):
            others = np.delete(np.arange(num_classes), explained[i])
            out[i] = rng.choice(others, size=m, replace=False)
        return out
