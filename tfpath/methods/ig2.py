"""IG² (Zhuo and Ge, "IG²: Integrated Gradient on Iterative Gradient Path for Feature
Attribution", IEEE TPAMI 2024, Definition 1 / Eq. 3 and 8, Algorithm 1, Expected IG² Eq. 19):
the target's gradient integrated along GradPath, from the input down the representation
distance to counterfactual references; the path's end, GradCF, is the baseline."""
from __future__ import annotations

import dataclasses
import warnings
from dataclasses import dataclass
from typing import Optional

import numpy as np
import tensorflow as tf

from tfpath import baselines as baselines_lib
from tfpath.core import validation
from tfpath.core.output_checks import predicted_classes
from tfpath.core.representation import as_representation
from tfpath.engine import auto_rows
from tfpath.methods.base import PathDetails, Plan, TFPathSaliency, _details
from tfpath.paths.gradient import DISTANCES, NORMS, REFERENCE_KEY, STEP_KEY, GradPath, distance
from tfpath.protocols import BaselineSet


@dataclass
class IG2Details(PathDetails):
    """:class:`~tfpath.methods.base.PathDetails` of IG², plus its counterfactuals.

    With M references per input (batch axes ``[B, ...]`` in batches, dropped for one input):

    Attributes:
      counterfactual: the GradCF of every reference, ``[M, ...]`` (always with the M axis).
      counterfactual_explanation: GradCFE (Eq. 6), ``x - Σ_b w_b GradCF_b``.
      completeness_gap: ``Σ mask - Σ_b w_b (F(x) - F(GradCF_b))`` (= ``convergence_delta``): the
        Riemann error of the discrete path; O(η) on smooth models, up to O(1) on
        piecewise-linear ones whose path zig-zags along a kink.
      counterfactual_values: F(GradCF) per reference ``[M]`` (= ``baseline_values``).
      counterfactual_class: the model's predicted class at each GradCF ``[M]`` (None for
        models without class outputs): whether the counterfactual is valid.
      final_distance: the representation distance left at each GradCF ``[M]``.
      reference_distance: the representation distance from x to each reference ``[M]``.
      path_length: the length of each GradPath ``[M]`` (``steps · η`` without clipping).
    """

    counterfactual: Optional[np.ndarray] = None
    counterfactual_explanation: Optional[np.ndarray] = None
    counterfactual_class: Optional[np.ndarray] = None
    final_distance: Optional[np.ndarray] = None
    reference_distance: Optional[np.ndarray] = None
    path_length: Optional[np.ndarray] = None

    @property
    def completeness_gap(self):
        return self.convergence_delta

    @property
    def counterfactual_values(self):
        return self.baseline_values


def check_percentile(value) -> float:
    """A sparsity percentile in [0, 100); raises ValueError naming ``percentile``."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.number)):
        raise TypeError(f"percentile: expected a number in [0, 100), received "
                        f"{type(value).__name__}")
    if not 0.0 <= float(value) < 100.0:
        raise ValueError(f"percentile: expected a number in [0, 100) (the share of features "
                         f"that stay), received {value!r}")
    return float(value)


class IG2(TFPathSaliency):
    """IG² and Expected IG²: ``φ = Σ_b w_b Σ_{j<k} ∇F(p_j^b) ⊙ (p_j^b - p_{j+1}^b)`` along the
    GradPath ``p^b`` toward each reference x^r_b (see :class:`tfpath.paths.GradPath`).


    Every (input, reference) pair is a row; all rows step together in one compiled loop, one
    forward pass per step giving the target, its gradient and the representation distance's
    gradient (the authors' code takes two passes per step and stores the whole path; here the
    attribution is accumulated online). The paper makes "no distinction between IG² and
    Expected IG²": with M references the mask is their weighted mean (uniform by default).

    The method arguments are :meth:`GetMask`'s (PAIR's positional order after
    ``call_model_args``).
    """

    def GetMask(self, x_value, call_model_function, call_model_args=None, references=None,
                representation=None, steps=201, step_size=None, clip=None, norm="l2",
                distance="sqeuclidean", percentile=95.0, reference_weights=None,
                integrator="left", batch_size=None):
        """The attribution mask of one input.

        Args:
          x_value: one input (``GetMaskBatch``: a batch ``[B, ...]``).
          call_model_function: a :class:`tfpath.ModelFunction` (the representation is read from
            its model in the same forward pass as the target).
          call_model_args: ``{"class_idx": c}`` (one class or one per input); the paper explains
            the pre-softmax logit of the predicted (or true) class.
          references: the counterfactual references x^r: an array ``[M, ...]`` (shared),
            ``[B, M, ...]`` (per input), or a :mod:`tfpath.baselines` object, e.g.
            :class:`~tfpath.baselines.OtherClassSamples` (the paper's default: other classes
            only), :class:`~tfpath.baselines.ClassSamples` (anomaly detection: the normal class),
            :class:`~tfpath.baselines.RelevantClassSamples` (the "relevant" trick). Required.
          representation: the representation layer f̃: None (the penultimate layer of a Keras
            model, the paper's choice), a layer name or index (its output), ``"input"`` (the
            identity) or a callable ``x -> features`` (see :mod:`tfpath.core.representation`).
          steps: the number of steps k (= gradient evaluations per reference). Default 201, the
            authors' code's default.
          step_size: η, > 0; None (default) takes ``η = ‖x - x^r‖₂ / steps`` per (input,
            reference), so each GradPath is as long as the straight line to its reference (tfpath's default:
            scale-free; the paper tunes η per dataset, Table A.1, e.g. 1024 for ImageNet in
            [0, 255], and the code's notebooks 512 / 0.05 / 0.01).
          clip: None, or ``(low, high)``: every step is clipped to the inputs' valid range (the
            authors' code does; Algorithm 1 does not).
          norm: ``"l2"`` (Algorithm 1 and the code) or ``"l1_sparse"`` (Eq. 21).
          distance: ``"sqeuclidean"`` (Eq. 4), ``"cosine"`` or ``"l1"`` (§7.3).
          percentile: the sparsity of ``"l1_sparse"`` (top ``100 - percentile`` % of features).
          reference_weights: relative weights ``[M]`` or ``[B, M]`` (default uniform).
          integrator: ``"left"`` (the code's rule: the gradient at the start of each step) or
            ``"idgi"`` (IDGI along GradPath: Yang, Wang and Bilgic, CVPR 2023, Algorithm 1).
          batch_size: most rows stepped together: None or ``"auto"`` (automatic) or an int.

        Returns:
          The mask, float32, the input's shape. ``GetMaskWithDetails`` returns
          :class:`IG2Details` (GradCF per reference, GradCFE, the completeness gap).

        Raises:
          ValueError / TypeError naming the argument: no references or references of another
          shape, a representation layer that does not exist or does not depend on the input,
          ``steps < 1``, ``step_size <= 0``, a bad ``clip`` (or inputs outside it), ``norm``,
          ``distance`` or ``percentile``, a PAIR callback as ``call_model_function``, and the
          common input errors. Warns (UserWarning) when references are predicted as the explained
          class: same-class references flip attributions (the paper's Fig. 12).
        """
        return self._run(locals(), batch=False, details=False)

    def GetMaskBatch(self, x_batch, call_model_function, call_model_args=None, references=None,
                     representation=None, steps=201, step_size=None, clip=None, norm="l2",
                     distance="sqeuclidean", percentile=95.0, reference_weights=None,
                     integrator="left", batch_size=None):
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
                           references=None, representation=None, steps=201, step_size=None,
                           clip=None, norm="l2", distance="sqeuclidean", percentile=95.0,
                           reference_weights=None, integrator="left", batch_size=None):
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
                                references=None, representation=None, steps=201,
                                step_size=None, clip=None, norm="l2", distance="sqeuclidean",
                                percentile=95.0, reference_weights=None, integrator="left",
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

    def _plan(self, prep, *, references, representation, steps, step_size, clip, norm,
              distance, percentile, reference_weights, integrator, batch_size):
        mf = prep.model_function
        if mf is None:
            raise TypeError("call_model_function: IG² reads the representation layer in the "
                            "same forward pass as the target; pass a tfpath.ModelFunction")
        if references is None:
            raise ValueError("references: IG² needs counterfactual references [M, ...] (e.g. "
                             "samples of other classes: tfpath.baselines.OtherClassSamples)")
        steps = validation.check_positive_int(steps, "steps")
        if step_size is not None:
            step_size = validation.check_positive(step_size, "step_size")
        if norm not in NORMS:
            raise ValueError(f"norm: expected one of {NORMS}, received {norm!r}")
        if distance not in DISTANCES:
            raise ValueError(f"distance: expected one of {DISTANCES}, received {distance!r}")
        percentile = check_percentile(percentile)
        low = high = None
        if clip is not None:
            low, high = validation.check_range(clip, "clip", finite=False)
            validation.check_within(prep.x, low, high, "clip")
        integ = self._integrator(integrator, "left", adaptive=True)
        batch_size = validation.check_batch_size(batch_size)
        rep = as_representation(representation)
        refs = baselines_lib.baseline_set(prep.x, None, references, reference_weights, mf,
                                          prep.class_idx, "references", "reference_weights")
        refs = refs.compact()               # features of the drawn references only
        features, outputs = mf.features_numpy(refs.pool, rep, _rows(prep.x, batch_size))
        self._warn_same_class(prep, refs, predicted_classes(outputs))
        if step_size is None:
            diff = (prep.x[:, None] - refs.pool[refs.index]).reshape(refs.index.shape + (-1,))
            eta = np.linalg.norm(diff.astype(np.float64), axis=-1) / steps
        else:
            eta = np.full(refs.index.shape, step_size)
        context = dict(refs.context)
        context[REFERENCE_KEY] = features[refs.index]
        context[STEP_KEY] = eta.astype(np.float32)
        path = GradPath(rep, distance, norm, float(percentile), low, high)
        return Plan(path, integ, integ.schedule(path, steps, "left"),
                    BaselineSet(refs.pool, refs.index, refs.weights, context),
                    batch_size=batch_size)

    @staticmethod
    def _warn_same_class(prep, refs, predicted):
        if prep.class_idx is None or predicted is None:   # no class, or one output only
            return
        same = predicted[refs.index] == prep.class_idx[:, None]
        same &= refs.weights > 0
        if same.any():
            warnings.warn(
                f"references: {int(same.sum())} of {same.size} references are predicted as the "
                "explained class; IG² needs counterfactual references of other classes "
                "(same-class references flip attributions). Use e.g. "
                "tfpath.baselines.OtherClassSamples(pool, labels).", UserWarning, stacklevel=5)

    def _report(self, prep, plan, result, details):
        base = _details(result, details)
        if not details:
            return base
        reference = plan.baselines.context[REFERENCE_KEY]                # [B, M, ...]
        gradcf = result.path_end                                     # [B, M, ...]
        w = result.weights
        n, m = w.shape
        rows = _rows(prep.x, plan.batch_size)
        mf, rep, kind = prep.model_function, plan.path.representation, plan.path.distance
        features, outputs = mf.features_numpy(gradcf.reshape((n * m,) + gradcf.shape[2:]), rep,
                                              rows)
        start, _ = mf.features_numpy(prep.x, rep, rows)
        flat = reference.reshape((n * m,) + reference.shape[2:])
        final = distance(tf.constant(features), tf.constant(flat), kind)
        initial = distance(tf.constant(np.repeat(start, m, axis=0)), tf.constant(flat), kind)
        predicted = predicted_classes(outputs)
        mean_cf = np.einsum("bm,bm...->b...", w, gradcf.astype(np.float64))
        return IG2Details(
            **{f.name: getattr(base, f.name) for f in dataclasses.fields(PathDetails)},
            counterfactual=gradcf,
            counterfactual_explanation=(prep.x - mean_cf).astype(np.float32),
            counterfactual_class=None if predicted is None else predicted.reshape(n, m),
            final_distance=final.numpy().reshape(n, m).astype(np.float64),
            reference_distance=initial.numpy().reshape(n, m).astype(np.float64),
            path_length=result.path_summary["path_length"])


def _rows(x, batch_size):
    """Rows per forward pass of the boundary computations (as the engine's chunks)."""
    return batch_size or auto_rows(int(np.prod(x.shape[1:])))
