"""The PAIR face: ``saliency.core.CoreSaliency`` subclasses on tfpath's engine.

Every method has PAIR's method and argument names and defaults::

    GetMask(x_value, call_model_function, call_model_args=None, <method args>) -> mask [...]
    GetSmoothedMask(x_value, call_model_function, call_model_args=None,
                    stdev_spread=.15, nsamples=25, magnitude=True, **kwargs)  -> mask [...]

where ``<method args>`` are each class's explicit keywords with defaults, in PAIR's positional
order (e.g. ``x_baseline=None, x_steps=25, batch_size=None, ...`` for IG), and tfpath's
additions::

    GetMaskBatch(x_batch, call_model_function, call_model_args=None, ...) -> masks [B, ...]
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
import difflib
import functools
import inspect
import warnings
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Optional, TypeVar

import numpy as np
import saliency.core as pair_core

from tfpath import baselines as baselines_lib
from tfpath import engine
from tfpath import integrate
from tfpath.core import progress as progress_lib
from tfpath.core import validation
from tfpath.core.model_function import NO_GRADIENT_MESSAGE, ModelFunction
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
    """A validated batch: inputs, evaluator, classes, the model function (if any), its raw
    outputs on the inputs and the target's values F(x) there (computed by the boundary
    check)."""

    x: np.ndarray
    evaluator: Any
    class_idx: Optional[np.ndarray]
    model_function: Optional[ModelFunction]
    outputs: Optional[np.ndarray] = None
    input_values: Optional[np.ndarray] = None
    #: the model has not run on the inputs yet: the engine's loop computes their outputs,
    #: which are checked after it (see :meth:`TFPathSaliency._defers_check`)
    deferred: bool = False


@dataclass
class Plan:
    """A method's composition, run by the engine.

    Attributes:
      path, integrator: the parts (frozen dataclasses).
      schedule: the nodes and weights.
      baselines: the baseline set.
      context: per-input arrays for the path and the evaluator.
      batch_size: the method's ``batch_size`` (None, ``"auto"`` or an int; see
        :data:`BATCH_SIZE_DOC`).
      extras: what the method's ``_report`` needs beyond the engine's result (e.g. the
        results of Generative IG's latent searches).
    """

    path: Any
    integrator: Any
    schedule: Schedule
    baselines: BaselineSet
    context: Mapping[str, np.ndarray] = field(default_factory=dict)
    batch_size: Any = None
    extras: Mapping[str, Any] = field(default_factory=dict)


BATCH_SIZE_DOC = (
    "batch_size: the most points per model call. None (the default): PAIR's default for a "
    "PAIR call_model_function (1 point per call for the methods PAIR has, so the function "
    "sees PAIR's calls), chosen automatically for a tfpath.ModelFunction; \"auto\": chosen "
    "automatically for any function (the fast path for a plain function that handles "
    "batches); an int: at most that many. Results do not depend on it.")
"""What ``batch_size`` means in every path method."""

PUBLIC_METHODS = ("GetMask", "GetMaskBatch", "GetMaskWithDetails", "GetMaskBatchWithDetails")
"""The four explained entry points each method class spells out with its explicit arguments."""

# the parameters of every public method before the method's own arguments
_CALL_PARAMETERS = ("self", "x_value", "x_batch", "call_model_function", "call_model_args")

DEGENERATE_RTOL = 1e-6
"""An input's attribution is degenerate when, for every baseline b of nonzero weight,
``|F(x) - F(b)| <= DEGENERATE_RTOL * max(|F(x)|, DEGENERATE_ATOL)``."""
DEGENERATE_ATOL = 1e-12


F = TypeVar("F", bound=Callable[..., Any])


def keyword_checked(fn: F) -> F:
    """Wraps a public method so that an unknown keyword raises ``TypeError`` naming the public
    method (``IntegratedGradients.GetMask``), the closest valid name and all valid arguments.

    The wrapper keeps the method's explicit signature (``inspect.signature`` and IDEs read
    ``fn``'s); any other binding error is Python's own, which names ``fn`` by its qualname.
    Methods with ``**kwargs`` are returned unchanged.
    """
    parameters = inspect.signature(fn).parameters
    if any(p.kind is p.VAR_KEYWORD for p in parameters.values()) or getattr(
            fn, "__wrapped__", None) is not None:
        return fn
    names = [n for n in parameters if n != "self"]
    valid = frozenset(names)

    @functools.wraps(fn)
    def checked(self, *args, **kwargs):
        for key in kwargs:
            if key not in valid:
                raise TypeError(unexpected_keyword_message(
                    f"{type(self).__name__}.{fn.__name__}", key, names))
        return fn(self, *args, **kwargs)
    return checked  # type: ignore[return-value]


def unexpected_keyword_message(owner: str, key: str, names) -> str:
    """``"IntegratedGradients.GetMask: unexpected keyword argument 'x_step' (did you mean
    'x_steps'?); valid arguments: x_value, ..."``."""
    close = difflib.get_close_matches(key, list(names), n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return (f"{owner}: unexpected keyword argument {key!r}{hint}; valid arguments: "
            f"{', '.join(names)}")


class TFPathSaliency(pair_core.CoreSaliency):
    """Base class: validation, evaluators, batching, details and noise averaging.

    A method class implements ``_plan(prep, *, <method arguments>) -> Plan`` and spells out
    the four public methods (:data:`PUBLIC_METHODS`) with its explicit arguments and
    defaults, in PAIR's positional order, each a one-line delegation::

        def GetMask(self, x_value, call_model_function, call_model_args=None,
                    x_baseline=None, x_steps=25, ...):
            \"\"\"docstring\"\"\"
            return self._run(locals(), batch=False, details=False)

    ``_run`` validates the input (one input or a batch), runs ``_plan`` and the engine, turns
    a model without gradient path into an error naming ``call_model_function``, and warns
    when an attribution is degenerate (``F(x) ≈ F(x')``). Every public method a subclass
    defines is wrapped (:func:`keyword_checked`) so that a misspelled keyword names it.

    The generic versions below (``*args, **kwargs``) serve subclasses that define only
    ``_plan`` (with defaults): their arguments are ``_plan``'s.
    """

    #: the rank of one input when the method fixes it (Blur IG: images [H, W, C]); else the
    #: model's declared input shape decides
    input_rank: Optional[int] = None
    #: points per call of a PAIR call_model_function when ``batch_size=None``: PAIR's default
    #: for the methods PAIR has (1), None (automatic) for tfpath's own
    pair_batch_size: Optional[int] = None

    def __init__(self, progress: Optional[bool] = None):
        """Args:
          progress: a progress bar of the model calls on stderr for long calls: None (default)
            when stderr is a terminal, True always, False never.

        Raises:
          TypeError naming ``progress``: not None or a bool.
        """
        progress_lib.wanted(progress)
        self.progress = progress

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        for name in PUBLIC_METHODS + ("GetSmoothedMask",):
            fn = cls.__dict__.get(name)
            if callable(fn):
                setattr(cls, name, keyword_checked(fn))

    def GetMask(self, x_value, call_model_function, call_model_args=None, *args, **kwargs):
        """Returns the attribution mask of one input (PAIR's contract); see the subclass.

        Method arguments may be given by keyword or, as in PAIR, by position after
        ``call_model_args``.
        """
        return self._run(dict(x_value=x_value, call_model_function=call_model_function,
                              call_model_args=call_model_args,
                              **self._bind(args, kwargs, "GetMask")), batch=False,
                         details=False)

    def GetMaskBatch(self, x_batch, call_model_function, call_model_args=None, *args,
                     **kwargs):
        """Masks of a batch of inputs ``[B, ...]``, all computed together.

        Returns:
          float32 array of ``x_batch``'s shape.
        """
        return self._run(dict(x_batch=x_batch, call_model_function=call_model_function,
                              call_model_args=call_model_args,
                              **self._bind(args, kwargs, "GetMaskBatch")), batch=True,
                         details=False)

    def GetMaskWithDetails(self, x_value, call_model_function, call_model_args=None, *args,
                           **kwargs):
        """Mask, convergence delta and target values along the path for one input.

        Returns:
          :class:`PathDetails`.
        """
        return self._run(dict(x_value=x_value, call_model_function=call_model_function,
                              call_model_args=call_model_args,
                              **self._bind(args, kwargs, "GetMaskWithDetails")), batch=False,
                         details=True)

    def GetMaskBatchWithDetails(self, x_batch, call_model_function, call_model_args=None,
                                *args, **kwargs):
        """:meth:`GetMaskWithDetails` for a batch; arrays gain a leading batch axis."""
        return self._run(dict(x_batch=x_batch, call_model_function=call_model_function,
                              call_model_args=call_model_args,
                              **self._bind(args, kwargs, "GetMaskBatchWithDetails")),
                         batch=True, details=True)

    def GetSmoothedMask(self, x_value, call_model_function, call_model_args=None,
                        stdev_spread=.15, nsamples=25, magnitude=True, seed=None, **kwargs):
        """SmoothGrad (Smilkov et al., "SmoothGrad: removing noise by adding noise", 2017) over
        this method: PAIR's ``GetSmoothedMask``, as :class:`tfpath.NoiseTunnel`.

        Same noise and averaging as PAIR: Gaussian noise of standard deviation
        ``stdev_spread * (max(x) - min(x))``; the mean of the masks, or of their squares if
        ``magnitude`` (SmoothGrad²). The ``nsamples`` noisy inputs are explained together.

        Args:
          x_value: one input.
          call_model_function, call_model_args: as :meth:`GetMask`.
          stdev_spread: noise standard deviation as a fraction of the input's value range.
          nsamples: noisy copies (>= 1).
          magnitude: average the squared masks (SmoothGrad²; PAIR's default).
          seed: an int, a ``numpy.random.Generator`` or ``RandomState``, or None (a fresh
            private generator; tfpath never draws from NumPy's global generator). PAIR draws
            from ``np.random``: ``seed=np.random.RandomState(s)`` gives PAIR's noise after
            ``np.random.seed(s)``.
          kwargs: the method's :meth:`GetMask` arguments (e.g. ``x_steps=``).

        Returns:
          The smoothed mask, float32, the input's shape.

        Raises:
          ValueError / TypeError: bad ``x_value``, ``nsamples < 1``, negative ``stdev_spread``,
          an unknown keyword (naming ``GetSmoothedMask``), and the method's errors.
        """
        from tfpath.methods.noise import NoiseTunnel
        names = self._method_arguments()
        for key in kwargs:
            if key not in names:
                raise TypeError(unexpected_keyword_message(
                    f"{type(self).__name__}.GetSmoothedMask", key,
                    ["x_value", "call_model_function", "call_model_args", "stdev_spread",
                     "nsamples", "magnitude", "seed"] + names))
        kind = "smoothgrad_sq" if magnitude else "smoothgrad"
        return NoiseTunnel(self, kind).GetMask(x_value, call_model_function, call_model_args,
                                               nsamples=nsamples, stdev_spread=stdev_spread,
                                               seed=seed, **kwargs)

    # ------------------------------------------------------------------ arguments
    def _method_arguments(self):
        """The method's own argument names, in order (GetMask's after ``call_model_args``)."""
        fn = type(self).GetMask
        fn = getattr(fn, "__wrapped__", fn)
        if fn is not TFPathSaliency.GetMask:
            return [n for n, p in inspect.signature(fn).parameters.items()
                    if n not in _CALL_PARAMETERS
                    and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
        return [n for n in inspect.signature(self._plan).parameters if n != "prep"]

    def _bind(self, args, kwargs, public="GetMask"):
        """Maps PAIR-style positional method arguments to their names; refuses unknown ones."""
        names = self._method_arguments()
        owner = f"{type(self).__name__}.{public}"
        for key in kwargs:
            if key not in names:
                raise TypeError(unexpected_keyword_message(owner, key, names))
        if not args:
            return dict(kwargs)
        if len(args) > len(names):
            raise TypeError(f"{owner}: takes at most {len(names)} method arguments after "
                            f"call_model_args ({', '.join(names)}); received {len(args)}")
        bound = dict(zip(names, args))
        twice = set(bound) & set(kwargs)
        if twice:
            raise TypeError(f"{owner}: got multiple values for {sorted(twice)}")
        return {**bound, **kwargs}

    def _run(self, arguments: Mapping[str, Any], batch: bool, details: bool):
        """The shared body of the public methods: ``arguments`` are their ``locals()``.

        Returns the mask (``details=False``) or the details, of one input or of the batch.
        """
        kwargs = {k: v for k, v in arguments.items()
                  if k not in _CALL_PARAMETERS and not k.startswith("__")}
        public = ("GetMaskBatch" if batch else "GetMask") + ("WithDetails" if details else "")
        cmf = arguments["call_model_function"]
        if batch:
            x = validation.check_array(arguments["x_batch"], "x_batch", min_rank=1,
                                       allow_integer=True)
            self._check_batch_rank(x, cmf, public)
            out = self._explain(x, cmf, arguments["call_model_args"], details, kwargs,
                                "x_batch")
            return out if details else out.mask
        x = validation.check_array(arguments["x_value"], "x_value", allow_integer=True)
        self._check_single_rank(x, cmf, public)
        out = self._explain(x[None], cmf, arguments["call_model_args"], details, kwargs,
                            "x_value", batch=False)
        return out.item(0) if details else out.mask[0]

    def _one_input_rank(self, call_model_function) -> Optional[int]:
        """The rank of one input, when the method or the model declares it."""
        if self.input_rank is not None:
            return self.input_rank
        shape = _declared_input_shape(call_model_function)
        return None if shape is None else len(shape)

    def _check_batch_rank(self, x, call_model_function, public):
        rank = self._one_input_rank(call_model_function)
        if rank is None or x.ndim != rank:
            return
        owner = type(self).__name__
        single = public.replace("Batch", "")
        if rank == 3:
            expected, one = "a batch [B, H, W, C]", "one image [H, W, C]"
        else:
            expected, one = f"a batch of rank {rank + 1} [B, ...]", f"one input of rank {rank}"
        raise ValueError(
            f"x_batch: {owner}.{public} expects {expected}; received shape {x.shape}, the rank "
            f"of one input. {owner}.{single} takes {one}; or add the batch axis "
            "(x[None]).")

    def _check_single_rank(self, x, call_model_function, public):
        rank = self._one_input_rank(call_model_function)
        if rank is None or x.ndim != rank + 1:
            return
        owner = type(self).__name__
        batched = public.replace("GetMask", "GetMaskBatch")
        raise ValueError(
            f"x_value: {owner}.{public} takes one input of rank {rank}; received shape "
            f"{x.shape}, a batch? {owner}.{batched} takes a batch.")

    # ------------------------------------------------------------------ the run
    def _prepare(self, x_batch, call_model_function, call_model_args, name="x_batch",
                 batch=True, defer=False):
        """The evaluator of ``call_model_function`` for the inputs ``x_batch`` ``[B, ...]``.

        A :class:`tfpath.ModelFunction` is checked on the inputs (shape, classes, outputs:
        one forward pass), or with ``defer``, once its class count is known from an earlier
        call, on shape and classes only (``Prepared.deferred``: the engine's loop computes the
        outputs, and :meth:`_compute` checks them). A PAIR ``call_model_function`` is not
        called here: its outputs are checked on every call the path makes, as PAIR checks
        them. ``call_model_args`` is passed to it untouched (any object), except in a batch
        whose dict holds one ``class_idx`` per input: each input's rows then get a copy with
        its own class.
        """
        x = validation.check_array(x_batch, "x_batch", min_rank=1)
        n = x.shape[0]
        if isinstance(call_model_function, ModelFunction):
            if call_model_args is not None and not isinstance(call_model_args, dict):
                raise TypeError("call_model_args: a tfpath.ModelFunction takes a dict (e.g. "
                                "{'class_idx': 3}) or None, received "
                                f"{type(call_model_args).__name__}")
            mf = call_model_function
            _check_model_input_shape(mf, x, name)
            class_idx = mf.class_indices(call_model_args, n)
            if defer and mf.check_classes_only(class_idx):
                return Prepared(x, engine.ModelEvaluator(mf), class_idx, mf, deferred=True)
            outputs, values = mf.checked_outputs_and_values(x, class_idx)
            return Prepared(x, engine.ModelEvaluator(mf), class_idx, mf, outputs, values)
        if not callable(call_model_function):
            raise TypeError("call_model_function: expected a tfpath.ModelFunction or a PAIR "
                            "call_model_function(x_batch, call_model_args, expected_keys), "
                            f"received {type(call_model_function).__name__}")
        per_input = None
        args = call_model_args
        if (batch and isinstance(args, dict) and "class_idx" in args
                and np.ndim(args["class_idx"]) == 1):
            classes = validation.check_class_indices(args["class_idx"], n,
                                                     "call_model_args['class_idx']")
            per_input = [dict(args, class_idx=int(c)) for c in classes]
        evaluator = engine.CallbackEvaluator.for_function(call_model_function, args, False,
                                                          per_input)
        return Prepared(x, evaluator, None, None)

    def _explain(self, x_batch, call_model_function, call_model_args, details, kwargs,
                 name="x_batch", batch=True):
        prep = self._prepare(x_batch, call_model_function, call_model_args, name, batch,
                             defer=self._defers_check(call_model_function, kwargs))
        try:
            return self._compute(prep, details, **kwargs)
        except ValueError as e:
            if NO_GRADIENT_MESSAGE not in str(e):
                raise
            # the engine's error arrives wrapped in autograph's traceback: say it plainly
            raise ValueError(NO_GRADIENT_PATH) from None

    def _compute(self, prep: Prepared, details: bool, **kwargs) -> PathDetails:
        plan = self._plan(prep, **kwargs)
        evaluator = prep.evaluator.with_auxiliary(getattr(plan.path, "auxiliary", ()))
        if isinstance(evaluator, engine.CallbackEvaluator):
            evaluator.configure(evaluator.args, details or plan.integrator.needs_values,
                                evaluator.per_input_args)
        result = engine.integrate(evaluator, plan.path, plan.integrator, prep.x, plan.baselines,
                                  plan.schedule, prep.class_idx, plan.context,
                                  self._points_per_call(plan.batch_size, evaluator), details,
                                  progress=progress_lib.wanted(getattr(self, "progress", None)),
                                  label=type(self).__name__, input_values=prep.input_values)
        if prep.deferred:
            prep.model_function.check_computed_outputs(result.outputs, prep.class_idx)
        warn_if_degenerate(result, type(self).__name__)
        return self._report(prep, plan, result, details)

    def _points_per_call(self, batch_size, evaluator) -> Optional[int]:
        """Points per model call for ``batch_size`` (see :data:`BATCH_SIZE_DOC`): an int as
        given; ``"auto"`` automatic (None); None: the method's PAIR default
        (:attr:`pair_batch_size`) for a PAIR ``call_model_function``, automatic for a
        :class:`tfpath.ModelFunction`."""
        if batch_size == "auto":
            return None
        if batch_size is None:
            return (self.pair_batch_size if isinstance(evaluator, engine.CallbackEvaluator)
                    else None)
        return batch_size

    def _report(self, prep: Prepared, plan: Plan, result, details: bool) -> PathDetails:
        """The method's :class:`PathDetails` from the engine's :class:`~tfpath.engine.
        PathResult` (a method with more to report overrides it)."""
        return _details(result, details)

    def _plan(self, prep, **kwargs) -> Plan:  # pragma: no cover - interface
        raise NotImplementedError

    def _defers_check(self, call_model_function, kwargs) -> bool:
        """Whether the plan for ``call_model_function`` and these method arguments can take a
        deferred :class:`Prepared` (no model call before the engine's; its baselines are
        chosen inside the loop, see :class:`~tfpath.protocols.ChosenBaselines`). The default:
        no."""
        return False

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


def _declared_input_shape(call_model_function):
    """One input's shape as the Keras model of a ModelFunction declares it, or None (PAIR
    callbacks, plain callables, unbuilt or multi-input models)."""
    if not isinstance(call_model_function, ModelFunction):
        return None
    return call_model_function.declared_input_shape


def _check_model_input_shape(mf, x, name="x_value"):
    """Raises ValueError naming ``name`` if a Keras model declares another input shape."""
    expected = _declared_input_shape(mf)
    if expected is None:
        return
    got = tuple(x.shape[1:])
    if not validation.fits_declared_shape(got, expected):
        what = "an input" if name == "x_value" else "inputs [B, ...] with one input"
        raise ValueError(f"{name}: expected {what} of shape {expected} (the model's "
                         f"input shape, batch axis excluded), received {got}")


NO_GRADIENT_PATH = (
    "call_model_function: the model has no gradient path from the input to the target (its "
    "gradient with respect to the input is None), so no gradient attribution exists. Typical "
    "causes: tf.round, tf.argmax, integer casts, tf.stop_gradient or a NumPy round-trip "
    "between input and output, or an output that does not depend on the input. (The model "
    f"function's check: {NO_GRADIENT_MESSAGE})")


def warn_if_degenerate(result, owner: str) -> None:
    """Warns (UserWarning, once) naming the inputs whose attribution is degenerate.

    An input is degenerate when ``|F(x) - F(x')|`` is negligible against ``|F(x)|`` for every
    path start x' of nonzero weight (see :data:`DEGENERATE_RTOL`): the path integral is then
    ~0, and an all-zero or meaningless map is expected (e.g. untrained or constant models).
    Checked on every call of a path method with a :class:`tfpath.ModelFunction` (the engine
    returns F at both ends of every path), and on ``...WithDetails`` calls with a PAIR
    callback (plain calls of a callback make exactly PAIR's model calls, none at the ends).
    Where the engine did not evaluate F at the baselines (a straight path whose random or
    one-sided nodes miss them, without details: Expected Gradients, LPI), a row counts as
    degenerate when F at every node of its path is that close to F(x).
    """
    base, inp = result.baseline_values, result.input_values
    if inp is None or (base is None and result.value_range is None):
        return
    w = np.asarray(result.weights)
    inp = np.asarray(inp, np.float64)
    if base is not None:
        base = np.asarray(base, np.float64)
        gap = np.abs(inp - base)
        compared = "F(x')"
    else:
        lo, hi = np.moveaxis(np.asarray(result.value_range, np.float64), -1, 0)
        gap = np.maximum(np.abs(inp - lo), np.abs(hi - inp))
        compared = "F on the path"
    small = gap <= DEGENERATE_RTOL * np.maximum(np.abs(inp), DEGENERATE_ATOL)
    degenerate = np.all(small | (w == 0), axis=1) & np.any(w != 0, axis=1)
    if not degenerate.any():
        return

    def compared_values(i):
        used = w[i] != 0
        if base is not None:
            return np.array2string(base[i][used], precision=6, separator=", ")
        return "within " + np.array2string(np.array([lo[i][used].min(), hi[i][used].max()]),
                                           precision=6, separator=", ")

    idx = np.flatnonzero(degenerate)
    shown = idx[:5]
    values = "; ".join(f"input {i}: F(x) = {inp[i][w[i] != 0][0]:.6g}, {compared} = "
                       f"{compared_values(i)}" for i in shown)
    more = f" (and {idx.size - shown.size} more)" if idx.size > shown.size else ""
    warnings.warn(
        f"{owner}: degenerate attribution for input{'s' if idx.size > 1 else ''} "
        f"{idx.tolist()}: F(x) - {compared} is negligible against F(x) for every baseline "
        f"(|F(x) - {compared}| <= {DEGENERATE_RTOL:g}·|F(x)|), so the attributions sum to ~0 "
        f"and an all-zero or meaningless map is expected ({values}{more}). Typical causes: an "
        "untrained model or one whose target does not vary between the baseline and x; choose "
        "another baseline or target, or check the model.", UserWarning,
        stacklevel=_user_stacklevel())


def _user_stacklevel() -> int:
    """The ``stacklevel`` of the first caller outside tfpath (for warnings)."""
    frame = inspect.currentframe()
    level = 0
    while frame is not None and frame.f_globals.get("__name__", "").startswith("tfpath"):
        frame = frame.f_back
        level += 1
    return max(level, 1)
