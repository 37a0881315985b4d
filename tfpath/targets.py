"""Targets: the scalar F(x) per example that a path method attributes.

A target turns a model's output into one number per example. Every path method of tfpath
integrates the gradient of a target, so choosing a target is choosing *what* is explained:
the logit of a class, its probability, or (in :mod:`tfpath.uncertainty`) the predictive
entropy and its aleatoric / epistemic parts.

Contract (what :class:`Target` subclasses implement)::

    target(outputs, class_idx, output_kind) -> tf.Tensor of shape [n]

* ``outputs``: the model's output for a batch of ``n`` inputs (``[n]``, ``[n, K]``, or for
  Bayesian models ``[n, S, K]``);
* ``class_idx``: an int32 tensor of shape ``[n]`` (one class per row) or ``None`` when the
  target needs no class (``needs_class = False``);
* ``output_kind``: what the outputs are, one of :data:`OUTPUT_KINDS` — ``"logits"``,
  ``"probabilities"`` or ``"scores"`` (any other real outputs, e.g. an analytic function).

Targets are plain Python objects with TensorFlow-traceable ``__call__`` so they run inside the
engine's compiled loops.
"""
from __future__ import annotations

from typing import Callable, Optional

import tensorflow as tf

OUTPUT_KINDS = ("logits", "probabilities", "scores")


class Target:
    """Base class of targets. Subclasses set ``name`` and ``needs_class`` and implement ``__call__``.

    Attributes:
      name: short name used in tables and error messages.
      needs_class: True if the target reads one class per example (``class_idx``).
      accepted_kinds: the ``output_kind`` values this target accepts.
    """

    name = "target"
    needs_class = False
    accepted_kinds = OUTPUT_KINDS

    def __call__(self, outputs, class_idx, output_kind):  # pragma: no cover - interface
        raise NotImplementedError

    def check_output_kind(self, output_kind: str) -> None:
        """Raises ValueError if this target cannot be computed from ``output_kind`` outputs."""
        if output_kind not in self.accepted_kinds:
            raise ValueError(
                f"target {self.name!r} needs model outputs of kind {self.accepted_kinds}, but the "
                f"model function declares output={output_kind!r}. Pass the matching `output=` to "
                "ModelFunction, or choose another target.")

    def __repr__(self):
        return f"{type(self).__name__}()"


def _select_class(outputs, class_idx, name):
    """outputs[i, class_idx[i]] for a rank-2 ``outputs``; ValueError naming ``target`` otherwise."""
    if outputs.shape.rank != 2:
        raise ValueError(
            f"target: {name!r} reads one column of outputs of shape [n, K]; the model returns "
            f"shape {outputs.shape}. For a Bayesian model ([n, S, K], S samples) use "
            "'probability' (the mean predictive probability) or an uncertainty target "
            "('entropy', 'aleatoric', 'epistemic').")
    return tf.gather(outputs, class_idx, axis=1, batch_dims=1)


class Score(Target):
    """The model's raw output: ``outputs[i]`` for ``[n]`` outputs, ``outputs[i, c_i]`` for ``[n, K]``.

    Use it for analytic functions and regression models (``output_kind="scores"``), or to explain
    whatever a classifier outputs without conversion (the PAIR-notebook convention: the gradient
    of the model's own output column).
    """

    name = "score"
    needs_class = True  # only when the output has a class axis; see __call__

    def __call__(self, outputs, class_idx, output_kind):
        if outputs.shape.rank == 1:
            return outputs
        if outputs.shape.rank == 2 and outputs.shape[1] == 1 and class_idx is None:
            return outputs[:, 0]
        if class_idx is None:
            raise ValueError(
                "target 'score' on outputs of shape [n, K] needs a class: pass "
                "call_model_args={'class_idx': c}.")
        return _select_class(outputs, class_idx, self.name)


class Logit(Target):
    """Logit of class c: ``outputs[i, c_i]`` of a model that outputs logits (pre-softmax).

    Raises (at call time) ValueError via :meth:`check_output_kind` if the model outputs
    probabilities: a log-probability differs from the logit by the per-example log-sum-exp,
    so the gradients would differ silently.
    """

    name = "logit"
    needs_class = True
    accepted_kinds = ("logits", "scores")

    def __call__(self, outputs, class_idx, output_kind):
        return _select_class(outputs, class_idx, self.name)


class Probability(Target):
    """Softmax probability of class c (softmax applied when the model outputs logits).

    This is the ``f_c`` of the IDGI paper (Yang, Wang and Bilgic, CVPR 2023, §2.1: "the
    confidence score (e.g., probability)") and what PAIR's Keras examples differentiate
    (models ending in ``softmax``). For a Bayesian model's ``[n, S, K]`` outputs it is the
    mean predictive probability ``p̄_c = (1/S) Σ_s p_s,c`` (the distribution whose entropy is
    the total uncertainty).
    """

    name = "probability"
    needs_class = True
    accepted_kinds = ("logits", "probabilities")

    def __call__(self, outputs, class_idx, output_kind):
        probs = tf.nn.softmax(outputs, axis=-1) if output_kind == "logits" else outputs
        if probs.shape.rank == 3:
            probs = tf.reduce_mean(probs, axis=1)
        return _select_class(probs, class_idx, self.name)


class CallableTarget(Target):
    """Wraps a user function ``fn(outputs, class_idx) -> [n]`` (TensorFlow-differentiable)."""

    def __init__(self, fn: Callable, needs_class: bool = False, name: Optional[str] = None):
        if not callable(fn):
            raise TypeError(f"target: expected a callable, received {type(fn).__name__}")
        self.fn = fn
        self.needs_class = bool(needs_class)
        self.name = name or getattr(fn, "__name__", "callable")

    def __call__(self, outputs, class_idx, output_kind):
        return self.fn(outputs, class_idx)

    def __repr__(self):
        return f"CallableTarget({self.name})"


_NAMED = {"score": Score, "output": Score, "logit": Logit, "probability": Probability,
          "prob": Probability}


def register_target(name: str, factory: Callable[[], Target]) -> None:
    """Makes ``get_target(name)`` return ``factory()`` (used by tfpath.uncertainty)."""
    _NAMED[name] = factory


# modules whose import registers more names (``import tfpath`` no longer imports them eagerly)
_PLUGIN_MODULES = ("tfpath.uncertainty.targets",)


def _register_plugins() -> None:
    """Imports the modules that register targets ("entropy", "aleatoric", "epistemic", ...)."""
    import importlib
    for module in _PLUGIN_MODULES:
        importlib.import_module(module)


def get_target(target) -> Target:
    """Resolves a target given as a :class:`Target`, a name or a callable.

    Args:
      target: a Target instance; a name (``"logit"``, ``"probability"``, ``"score"``, and the
        names registered with :func:`register_target`, e.g. ``"entropy"``); or a callable
        ``fn(outputs, class_idx) -> [n]`` (wrapped in :class:`CallableTarget` with
        ``needs_class=False``).

    Returns:
      A :class:`Target`.

    Raises:
      ValueError: unknown name. TypeError: anything else.
    """
    if isinstance(target, Target):
        return target
    if isinstance(target, str):
        if target.lower() not in _NAMED:
            _register_plugins()
        try:
            return _NAMED[target.lower()]()
        except KeyError:
            raise ValueError(
                f"target: unknown name {target!r}; expected one of {sorted(_NAMED)}, a Target "
                "instance or a callable") from None
    if callable(target):
        return CallableTarget(target)
    raise TypeError(f"target: expected a Target, a name or a callable, received {target!r}")
