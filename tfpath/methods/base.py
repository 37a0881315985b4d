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
"""
from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Optional

import numpy as np
import saliency.core as pair_core
import tensorflow as tf

from tfpath import engine
from tfpath import integrate
from tfpath.core import validation
from tfpath.core.model_function import ModelFunction


@dataclass
class PathDetails:
    """What a path method computed, beyond the mask.

    Attributes:
      mask: the attribution, the input's shape (``[B, ...]`` for batches), float32.
      convergence_delta: ``Σ mask - (F(x) - F(x'))`` per input (float64; scalar for one input),
        where x' is the path's start (the baseline, or the fully blurred image for Blur IG).
        ``None`` for methods without a path (plain gradients).
      path_values: target values F at the evaluated path nodes, in path order (baseline
        first): ``[K]`` (``[B, K]`` for batches).
      start_value, end_value: F(x') and F(x).
      idgi_residual: with IDGI, the part of ``F(x) - F(x')`` on steps whose gradient was exactly
        zero (skipped; spec_004 §3.7); 0 otherwise.
    """

    mask: np.ndarray
    convergence_delta: Optional[np.ndarray]
    path_values: Optional[np.ndarray]
    start_value: Optional[np.ndarray]
    end_value: Optional[np.ndarray]
    idgi_residual: Optional[np.ndarray]

    def item(self, i: int) -> "PathDetails":
        """The details of input ``i`` of a batch."""
        pick = lambda a: None if a is None else a[i]
        return PathDetails(self.mask[i], pick(self.convergence_delta), pick(self.path_values),
                           pick(self.start_value), pick(self.end_value),
                           pick(self.idgi_residual))


@dataclass
class _Prepared:
    x: np.ndarray
    evaluator: object
    class_idx: Optional[np.ndarray]


class TFPathSaliency(pair_core.CoreSaliency):
    """Base class: validation, evaluators, batching, details and batched SmoothGrad.

    Subclasses implement ``_attribute(prep, need_values, **kwargs) -> (attr, residual,
    values, (start, end))`` on a prepared batch.
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
        """SmoothGrad (Smilkov et al. 2017) over this method, with the noise samples batched.

        Same noise and averaging as PAIR's ``CoreSaliency.GetSmoothedMask``: Gaussian noise of
        standard deviation ``stdev_spread * (max(x) - min(x))``; the mean of the masks, or of
        their squares if ``magnitude``. The ``nsamples`` noisy inputs go through
        :meth:`GetMaskBatch` together instead of one ``GetMask`` call each.

        Args:
          seed: seed of a private NumPy generator; None uses ``np.random`` as PAIR does.

        Raises:
          ValueError / TypeError: bad ``x_value``, ``nsamples < 1``, negative ``stdev_spread``.
        """
        x_value = validation.check_array(x_value, "x_value")
        nsamples = validation.check_positive_int(nsamples, "nsamples")
        stdev_spread = validation.check_nonnegative(stdev_spread, "stdev_spread")
        stdev = stdev_spread * (np.max(x_value) - np.min(x_value))
        normal = np.random.normal if seed is None else np.random.default_rng(seed).normal
        noisy = np.stack([x_value + normal(0, stdev, x_value.shape) for _ in range(nsamples)])
        masks = self.GetMaskBatch(noisy.astype(np.float32), call_model_function,
                                  call_model_args, **kwargs).astype(np.float64)
        return np.mean(masks * masks if magnitude else masks, axis=0).astype(np.float32)

    # ------------------------------------------------------------------ shared machinery
    def _bind(self, args, kwargs):
        """Maps PAIR-style positional method arguments to their names (subclass order)."""
        if not args:
            return kwargs
        names = list(inspect.signature(self._attribute).parameters)[2:]
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

    def _prepare(self, x_batch, call_model_function, call_model_args, need_values):
        x = validation.check_array(x_batch, "x_batch", min_rank=1)
        n = x.shape[0]
        if call_model_args is not None and not isinstance(call_model_args, dict):
            raise TypeError("call_model_args: expected a dict (e.g. {'class_idx': 3}), received "
                            f"{type(call_model_args).__name__}")
        if isinstance(call_model_function, ModelFunction):
            mf = call_model_function
            _check_model_input_shape(mf, x)
            class_idx = mf.class_indices(call_model_args, n)
            mf.check_outputs(x, class_idx)
            return _Prepared(x, engine.ModelEvaluator(mf), class_idx)
        if not callable(call_model_function):
            raise TypeError("call_model_function: expected a tfpath.ModelFunction or a PAIR "
                            "call_model_function(x_batch, call_model_args, expected_keys), "
                            f"received {type(call_model_function).__name__}")
        args = call_model_args
        if args and "class_idx" in args and np.ndim(args["class_idx"]) == 1:
            classes = validation.check_class_indices(args["class_idx"], n,
                                                     "call_model_args['class_idx']")
            args = [dict(call_model_args, class_idx=int(c)) for c in classes]
        evaluator = engine.CallbackEvaluator.for_function(call_model_function, args, need_values)
        evaluator.evaluate_numpy(x[:1], None)   # fails early, with the contract's message
        return _Prepared(x, evaluator, None)

    def _explain(self, x_batch, call_model_function, call_model_args, details, kwargs):
        need_values = details or kwargs.get("integrator") == "idgi"
        prep = self._prepare(x_batch, call_model_function, call_model_args, need_values)
        attr, residual, values, ends = self._attribute(prep, need_values, **kwargs)
        if not np.all(np.isfinite(attr)):
            raise ValueError(
                "call_model_function: the attribution contains NaN or inf because the target's "
                "gradient is not finite somewhere on the path (e.g. sqrt or log at 0, or a "
                "call_model_function returning NaN); choose another baseline or a finite "
                "model.")
        mask = attr.astype(np.float32)
        if not details:
            return PathDetails(mask, None, None, None, None, None)
        if ends is None:
            return PathDetails(mask, None, None, None, None, None)
        start, end = ends
        f, _ = engine.evaluate_points(prep.evaluator, np.concatenate([start, end]),
                                      _twice(prep.class_idx))
        n = prep.x.shape[0]
        f_start, f_end = f[:n], f[n:]
        delta = attr.reshape(n, -1).sum(axis=1) - (f_end - f_start)
        path_values = None if values is None else np.asarray(values, np.float64).T
        return PathDetails(mask, delta, path_values, f_start, f_end, residual)

    def _attribute(self, prep, need_values, **kwargs):  # pragma: no cover - interface
        raise NotImplementedError

    @staticmethod
    def _baseline(x_baseline, x):
        """Broadcasts ``x_baseline`` (None: zeros; one input's shape; or a batch) to ``x``."""
        if x_baseline is None:
            return np.zeros_like(x)
        b = validation.check_array(x_baseline, "x_baseline")
        if b.shape == x.shape[1:]:
            return np.broadcast_to(b, x.shape).copy()
        validation.check_same_shape(b, x.shape, "x_baseline", "x_value")
        return b

    @staticmethod
    def _run_path(prep, path, integrator, steps, baseline, batch_size, idgi_side="left",
                  idgi_nodes=None, need_values=True):
        """Rule or IDGI along a parametric path; returns (attr, residual, values, ends)."""
        if integrator == "idgi":
            params = path.grid(idgi_nodes or steps)
            weights = np.zeros_like(params)
        else:
            params, weights = integrate.rule_points(integrator, path.grid, steps)
        acc = integrate.make_accumulator(integrator, idgi_side)
        attr, residual, values = engine.integrate_path(
            prep.evaluator, path, acc, prep.x, baseline, params, weights, prep.class_idx,
            batch_size)
        start, end = path.endpoints(tf.constant(prep.x),
                                    None if baseline is None else tf.constant(baseline))
        return attr, residual, values, (np.asarray(start), np.asarray(end))


def _twice(class_idx):
    return None if class_idx is None else np.concatenate([class_idx, class_idx])


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
