"""The PAIR face: ``saliency.core.CoreSaliency`` subclasses on tfpath's engine.

Every method has PAIR's method and argument names and defaults::

    GetMask(x_value, call_model_function, call_model_args=None, **kwargs)      -> mask [...]
    GetSmoothedMask(x_value, call_model_function, call_model_args=None,
                    stdev_spread=.15, nsamples=25, magnitude=True, **kwargs)  -> mask [...]

and tfpath's additions::

    GetMaskBatch(x_batch, call_model_function, call_model_args=None, **kwargs) -> masks [B, ...]
    GetMaskWithDetails(x_value, ...)            -> PathDetails (mask, convergence delta, values)
    GetMaskBatchWithDetails(x_batch, ...)       -> PathDetails with a leading batch axis

``call_model_function`` is either a :class:`tfpath.ModelFunction` (the fast path: the model is
compiled into the engine's loop) or any PAIR ``call_model_function``. In a batch,
``call_model_args["class_idx"]`` may hold one class per input.

A method is a composition: its ``_plan`` turns its arguments into a :class:`Plan` (path,
integrator, node schedule, baseline set, context), and the base class runs the plan on the
engine (:func:`tfpath.engine.integrate`) and reports the result.
"""
from __future__ import annotations

import dataclasses
import inspect
from dataclasses import dataclass, field
from typing import Any, Mapping, Optional

import numpy as np
import saliency.core as pair_core

from tfpath import baselines as baselines_lib
from tfpath import engine
from tfpath import integrate
from tfpath.core import validation
from tfpath.core.model_function import ModelFunction
from tfpath.protocols import BaselineSet, Schedule


@dataclass
class PathDetails:
    """What a path method computed, beyond the mask.

    With M baselines per input (a baseline set), ``Σ mask ≈ Σ_b w_b (F(x) - F(b))``.

    Attributes:
      mask: the attribution, the input's shape (``[B, ...]`` for batches), float32.
      convergence_delta: ``Σ mask - Σ_b w_b (F(x) - F(b))`` per input (float64; a scalar for
        one input), where b is each path's start (the baseline, the fully blurred image for
        Blur IG, the adversarial example for AGI). ``None`` for methods without a path.
      path_values: target values F at the evaluated nodes, in loop order: ``[K]`` for one
        input and one baseline, ``[B, K]`` for a batch, ``[B, M, K]`` with M > 1 baselines.
      start_value: the weighted mean of F at the path starts, ``Σ_b w_b F(b) / Σ_b w_b``.
      end_value: F(x).
      idgi_residual: with IDGI, the part of the integral on steps whose gradient was exactly
        zero (skipped, never NaN); 0 otherwise.
      baseline_values: F at each path start, ``[B, M]`` (``[M]`` for one input).
      baseline_weights: the weights w_b, ``[B, M]`` (``[M]`` for one input).
      path_end: the final state of an adaptive path (Guided IG's end point, AGI's adversarial
        example), the inputs' shape (with an M axis when M > 1); None for parametric paths,
        whose paths end at x.
    """

    mask: np.ndarray
    convergence_delta: Optional[np.ndarray]
    path_values: Optional[np.ndarray]
    start_value: Optional[np.ndarray]
    end_value: Optional[np.ndarray]
    idgi_residual: Optional[np.ndarray]
    baseline_values: Optional[np.ndarray] = None
    baseline_weights: Optional[np.ndarray] = None
    path_end: Optional[np.ndarray] = None

    def item(self, i: int) -> "PathDetails":
        """The details of input ``i`` of a batch (every array field loses its batch axis)."""
        return dataclasses.replace(self, **{
            f.name: getattr(self, f.name)[i] for f in dataclasses.fields(self)
            if isinstance(getattr(self, f.name), np.ndarray)})


@dataclass
class Prepared:
    """A validated batch: inputs, evaluator, classes, the model function (if any) and its raw
    outputs on the inputs (computed by the boundary check)."""

    x: np.ndarray
    evaluator: Any
    class_idx: Optional[np.ndarray]
    model_function: Optional[ModelFunction]
    outputs: Optional[np.ndarray] = None


@dataclass
class Plan:
    """A method's composition, run by the engine.

    Attributes:
      path, integrator: the parts (frozen dataclasses).
      schedule: the nodes and weights.
      baselines: the baseline set.
      context: per-input arrays for the path and the evaluator.
      batch_size: most points per model call (None: automatic).
      extras: what the method's ``_report`` needs beyond the engine's result (e.g. the
        results of Generative IG's latent searches).
    """

    path: Any
    integrator: Any
    schedule: Schedule
    baselines: BaselineSet
    context: Mapping[str, np.ndarray] = field(default_factory=dict)
    batch_size: Optional[int] = None
    extras: Mapping[str, Any] = field(default_factory=dict)


class TFPathSaliency(pair_core.CoreSaliency):
    """Base class: validation, evaluators, batching, details and noise averaging.

    Subclasses implement ``_plan(prep, <method arguments>) -> Plan``; the method arguments'
    names and defaults are the GetMask keywords (and PAIR's positional order).
    """

    def GetMask(self, x_value, call_model_function, call_model_args=None, *args, **kwargs):
        """Returns the attribution mask of one input (PAIR's contract); see the subclass.

        Method arguments may be given by keyword or, as in PAIR, by position after
        ``call_model_args`` (e.g. ``GetMask(x, f, args, x_baseline, x_steps)`` for IG).
        """
        x_value = validation.check_array(x_value, "x_value")
        return self.GetMaskBatch(x_value[None], call_model_function, call_model_args,
                                 *args, **kwargs)[0]

    def GetMaskBatch(self, x_batch, call_model_function, call_model_args=None, *args,
                     **kwargs):
        """Masks of a batch of inputs ``[B, ...]``, all computed together.

        ``call_model_args["class_idx"]`` may be one int or one int per input. Other keyword
        arguments are the subclass's GetMask arguments.

        Returns:
          float32 array of ``x_batch``'s shape.
        """
        return self._explain(x_batch, call_model_function, call_model_args, False,
                             self._bind(args, kwargs)).mask

    def GetMaskWithDetails(self, x_value, call_model_function, call_model_args=None, *args,
                           **kwargs):
        """Mask, convergence delta and target values along the path for one input.

        Returns:
          :class:`PathDetails`.
        """
        x_value = validation.check_array(x_value, "x_value")
        return self.GetMaskBatchWithDetails(x_value[None], call_model_function,
                                            call_model_args, *args, **kwargs).item(0)

    def GetMaskBatchWithDetails(self, x_batch, call_model_function, call_model_args=None,
                                *args, **kwargs):
        """:meth:`GetMaskWithDetails` for a batch; arrays gain a leading batch axis."""
        return self._explain(x_batch, call_model_function, call_model_args, True,
                             self._bind(args, kwargs))

    def GetSmoothedMask(self, x_value, call_model_function, call_model_args=None,
                        stdev_spread=.15, nsamples=25, magnitude=True, seed=None, **kwargs):
        """SmoothGrad (Smilkov et al., "SmoothGrad: removing noise by adding noise", 2017) over
        this method: PAIR's ``GetSmoothedMask``, as :class:`tfpath.NoiseTunnel`.

        Same noise and averaging as PAIR: Gaussian noise of standard deviation
        ``stdev_spread * (max(x) - min(x))``; the mean of the masks, or of their squares if
        ``magnitude`` (SmoothGrad²). The ``nsamples`` noisy inputs are explained together.

        Args:
          seed: an int, a ``numpy.random.Generator`` or ``RandomState``, or None (a fresh
            private generator; tfpath never draws from NumPy's global generator). PAIR draws
            from ``np.random``: ``seed=np.random.RandomState(s)`` gives PAIR's noise after
            ``np.random.seed(s)``.

        Raises:
          ValueError / TypeError: bad ``x_value``, ``nsamples < 1``, negative ``stdev_spread``.
        """
        from tfpath.methods.noise import NoiseTunnel
        kind = "smoothgrad_sq" if magnitude else "smoothgrad"
        return NoiseTunnel(self, kind).GetMask(x_value, call_model_function, call_model_args,
                                               nsamples=nsamples, stdev_spread=stdev_spread,
                                               seed=seed, **kwargs)

    # ------------------------------------------------------------------ arguments
    def _method_arguments(self):
        return list(inspect.signature(self._plan).parameters)[1:]

    def _bind(self, args, kwargs):
        """Maps PAIR-style positional method arguments to their names; refuses unknown ones."""
        names = self._method_arguments()
        unknown = sorted(set(kwargs) - set(names))
        if unknown:
            raise TypeError(f"{type(self).__name__}.GetMask: unexpected keyword argument"
                            f"{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))}; "
                            f"its arguments are {', '.join(names)}")
        if not args:
            return kwargs
        if len(args) > len(names):
            raise TypeError(f"{type(self).__name__}.GetMask: takes at most {len(names)} method "
                            f"arguments after call_model_args ({', '.join(names)}); received "
                            f"{len(args)}")
        bound = dict(zip(names, args))
        twice = set(bound) & set(kwargs)
        if twice:
            raise TypeError(f"{type(self).__name__}.GetMask: got multiple values for "
                            f"{sorted(twice)}")
        return {**bound, **kwargs}

    # ------------------------------------------------------------------ the run
    def _prepare(self, x_batch, call_model_function, call_model_args):
        x = validation.check_array(x_batch, "x_batch", min_rank=1)
        n = x.shape[0]
        if call_model_args is not None and not isinstance(call_model_args, dict):
            raise TypeError("call_model_args: expected a dict (e.g. {'class_idx': 3}), received "
                            f"{type(call_model_args).__name__}")
        if isinstance(call_model_function, ModelFunction):
            mf = call_model_function
            _check_model_input_shape(mf, x)
            class_idx = mf.class_indices(call_model_args, n)
            outputs = mf.check_outputs(x, class_idx)
            return Prepared(x, engine.ModelEvaluator(mf), class_idx, mf, outputs)
        if not callable(call_model_function):
            raise TypeError("call_model_function: expected a tfpath.ModelFunction or a PAIR "
                            "call_model_function(x_batch, call_model_args, expected_keys), "
                            f"received {type(call_model_function).__name__}")
        args = call_model_args
        if args and "class_idx" in args and np.ndim(args["class_idx"]) == 1:
            classes = validation.check_class_indices(args["class_idx"], n,
                                                     "call_model_args['class_idx']")
            args = [dict(call_model_args, class_idx=int(c)) for c in classes]
        evaluator = engine.CallbackEvaluator.for_function(call_model_function, args, False)
        evaluator.evaluate_numpy(x[:1], None)   # fails early, with the contract's message
        return Prepared(x, evaluator, None, None)

    def _explain(self, x_batch, call_model_function, call_model_args, details, kwargs):
        prep = self._prepare(x_batch, call_model_function, call_model_args)
        return self._compute(prep, details, **kwargs)

    def _compute(self, prep: Prepared, details: bool, **kwargs) -> PathDetails:
        plan = self._plan(prep, **kwargs)
        evaluator = prep.evaluator.with_auxiliary(getattr(plan.path, "auxiliary", ()))
        if isinstance(evaluator, engine.CallbackEvaluator):
            evaluator.configure(evaluator.args, details or plan.integrator.needs_values)
        result = engine.integrate(evaluator, plan.path, plan.integrator, prep.x, plan.baselines,
                                  plan.schedule, prep.class_idx, plan.context, plan.batch_size,
                                  details)
        return self._report(prep, plan, result, details)

    def _report(self, prep: Prepared, plan: Plan, result, details: bool) -> PathDetails:
        """The method's :class:`PathDetails` from the engine's :class:`~tfpath.engine.
        PathResult` (a method with more to report overrides it)."""
        return _details(result, details)

    def _plan(self, prep, **kwargs) -> Plan:  # pragma: no cover - interface
        raise NotImplementedError

    # ------------------------------------------------------------------ helpers for _plan
    @staticmethod
    def _baseline_set(prep, x_baseline=None, baselines=None, baseline_weights=None):
        """The baseline set of PAIR's ``x_baseline`` or tfpath's ``baselines=``."""
        return baselines_lib.baseline_set(prep.x, x_baseline, baselines, baseline_weights,
                                          prep.model_function, prep.class_idx)

    @staticmethod
    def _integrator(integrator, reference_rule, adaptive=False):
        """Resolves ``integrator`` (see :func:`tfpath.integrate.get_integrator`) against the
        method's reference rule. On adaptive paths only integrators whose gradient multiplies
        the step it guided are allowed; on random nodes (reference ``"monte_carlo"``) only
        those meant for them; on fixed grids, only those with a schedule."""
        integ = integrate.get_integrator(integrator, reference_rule)
        if adaptive and not integ.adaptive_ok:
            raise ValueError(f"integrator: an adaptive path takes 'left' or 'idgi' (the "
                             f"gradient at x_j multiplies the step x_j -> x_j+1 it guided); "
                             f"received {integrator!r}")
        random = reference_rule == "monte_carlo"
        if integ.random_nodes != random:
            expected = ("random α nodes take 'monte_carlo' or 'idgi' (a rule needs a fixed "
                        "grid: use IntegratedGradients with baselines= for one)" if random
                        else "a fixed node grid takes a rule or 'idgi'")
            raise ValueError(f"integrator: {expected}; received {integrator!r}")
        return integ


def check_finite(attr):
    """Raises ValueError if an attribution is not finite (a gradient was NaN or inf)."""
    if not np.all(np.isfinite(attr)):
        raise ValueError(
            "call_model_function: the attribution contains NaN or inf because the target's "
            "gradient is not finite somewhere on the path (e.g. sqrt or log at 0, or a "
            "call_model_function returning NaN); choose another baseline or a finite model.")
    return attr


def _details(result, details: bool) -> PathDetails:
    attr = check_finite(result.attribution)
    mask = attr.astype(np.float32)
    if not details:
        return PathDetails(mask, None, None, None, None, None)
    w = result.weights
    n, m = w.shape
    used = w != 0
    base = np.where(used, result.baseline_values, 0.0)
    inp = np.where(used, result.input_values, 0.0)
    total = w.sum(axis=1)
    delta = attr.reshape(n, -1).sum(axis=1) - (w * (inp - base)).sum(axis=1)
    squeeze = (lambda a: a[:, 0]) if m == 1 else (lambda a: a)
    return PathDetails(
        mask, delta, squeeze(result.path_values), (w * base).sum(axis=1) / total,
        (w * inp).sum(axis=1) / total, result.residual, result.baseline_values, w,
        None if result.path_end is None else squeeze(result.path_end))


def _check_model_input_shape(mf, x):
    """Raises ValueError naming x_value if a Keras model declares another input shape."""
    try:
        shape = mf.model.input_shape
    except (AttributeError, ValueError):      # callables, unbuilt or multi-input models
        return
    if isinstance(shape, tuple) and len(shape) >= 1 and all(
            isinstance(d, (int, type(None))) for d in shape):
        expected = tuple(shape[1:])
        got = tuple(x.shape[1:])
        if len(expected) != len(got) or any(e is not None and e != g
                                            for e, g in zip(expected, got)):
            raise ValueError(f"x_value: expected an input of shape {expected} (the model's "
                             f"input shape, batch axis excluded), received {got}")
