"""Batched scoring of (perturbed) images: :class:`Scorer`."""
from __future__ import annotations

import numpy as np

from tfpath.core import memo, validation
from tfpath.core import progress as progress_lib
from tfpath.core.keras_utils import is_keras_model
from tfpath.core.model_function import ModelFunction
from tfpath.core.output_checks import predicted_classes

#: the :mod:`tfpath.core.memo` namespace of the ModelFunctions built for Keras models
MEMO_NAMESPACE = "metrics.scorer"


def target_key(target):
    """The memo key of a target: names case-insensitively, other targets by identity.

    Args:
      target: a target name, :class:`tfpath.targets.Target` or callable.

    Returns:
      ``("name", lower-case name)`` or ``("id", id(target))``.

    Raises:
      Nothing: any object has an identity.
    """
    return ("name", target.lower()) if isinstance(target, str) else ("id", id(target))


def keras_model_function(model, target):
    """The :class:`tfpath.ModelFunction` of a Keras ``model`` with ``target``, built once.

    It is memoised on ``model`` (:func:`tfpath.core.memo.memoized`, namespace
    :data:`MEMO_NAMESPACE`), so repeated metric calls on the same Keras model reuse its
    compiled calls instead of tracing them again; the entry lives as long as ``model``. The
    entry also holds ``target``, so an identity key cannot be reused by another object.

    Args:
      model: a Keras 3 or tf_keras model.
      target: a target name, :class:`tfpath.targets.Target` or callable.

    Returns:
      The :class:`tfpath.ModelFunction`.

    Raises:
      ValueError: a target that cannot read the model's outputs.
    """
    entry = memo.memoized(model, MEMO_NAMESPACE, target_key(target),
                          lambda: (target, ModelFunction(model, target=target)))
    return entry[1]


class Scorer:
    """Evaluates a model (no gradient) on many images in chunks of ``batch_size``.

    Args:
      model: a :class:`tfpath.ModelFunction` (its target is used, or ``target`` if given, via
        :meth:`tfpath.ModelFunction.with_target`, memoised); a Keras model (wrapped once in a
        ModelFunction with ``target``, default ``"score"``: the model's own output column, see
        :func:`keras_model_function`); or any callable ``fn(images) -> [n]`` or ``[n, K]``
        NumPy outputs (e.g. an uncertainty function); for ``[n, K]`` outputs column
        ``class_idx`` is the score and the argmax the predicted class.
      target: optional target for Keras models and ModelFunctions (``"probability"`` ...).
      batch_size: images per model call.
      default_target: the metric's target when ``target`` is None (e.g. SIC's
        ``"probability"``); plain callables ignore it (their outputs are the scores).
      progress: a bar over the model calls of long scorings (8 calls or more) on stderr: None
        (default) when stderr is a terminal, True, False.

    Calling it, ``scorer(x, class_idx) -> (values [n] float64, predicted [n] int or None)``.

    Raises:
      TypeError: ``model`` is none of the above. ValueError: a ``target`` other than
      ``"score"`` for a plain callable; a bad ``batch_size``.
    """

    def __init__(self, model, target=None, batch_size=256, default_target=None, progress=None):
        self.batch_size = validation.check_positive_int(batch_size, "batch_size")
        self.progress = progress_lib.wanted(progress)
        self.model_function = None
        self._fn = None
        if isinstance(model, ModelFunction):
            target = target if target is not None else default_target
            self.model_function = model if target is None else model.with_target(target)
        elif is_keras_model(model):
            target = target if target is not None else default_target
            self.model_function = keras_model_function(model, "score" if target is None
                                                       else target)
        elif callable(model):
            if target not in (None, "score"):
                raise ValueError(
                    f"target: a plain callable model gives NumPy scores; target {target!r} needs "
                    "tfpath.ModelFunction(model, output=...) to know what the outputs are")
            self._fn = model
        else:
            raise TypeError("model: expected a tfpath.ModelFunction, a Keras model or a callable "
                            f"fn(images) -> scores, received {type(model).__name__}")
        self._checked = False

    @property
    def needs_class(self):
        """True if the model function's target needs a class per input."""
        return self.model_function is not None and self.model_function.target.needs_class

    def _chunk(self, x, c):
        mf = self.model_function
        if mf is not None:
            if not self._checked:
                mf.check_outputs(x[:1], None if c is None else c[:1])
                self._checked = True
            values, out = mf.compiled("values_and_outputs", x, c)
            return values.numpy(), out.numpy()
        out = np.asarray(self._fn(x), np.float64)
        if out.shape[:1] != (x.shape[0],):
            raise ValueError(f"model: expected outputs with one row per image ({x.shape[0]}), "
                             f"received shape {out.shape}")
        if not np.all(np.isfinite(out)):
            raise ValueError("model: produced NaN or inf outputs")
        if out.ndim == 1 or (out.ndim == 2 and out.shape[1] == 1 and c is None):
            return out.reshape(-1), out
        if c is None:
            raise ValueError("class_idx: the model outputs one score per class (shape "
                             f"{out.shape}); pass the class to score")
        return out[np.arange(out.shape[0]), c], out

    def __call__(self, x, class_idx=None):
        """Scores ``x`` in chunks of ``batch_size``.

        Args:
          x: images ``[n, ...]`` (cast to float32).
          class_idx: int array ``[n]`` or None.

        Returns:
          ``(values [n] float64, predicted [n] int or None)``: the target (or the callable's
          class column) per image, and the argmax class when the model has class outputs.

        Raises:
          ValueError: NaN/inf outputs, outputs without one row per image, class outputs
          without ``class_idx``, or the ModelFunction's output checks.
        """
        n = x.shape[0]
        values, predicted = [], []
        calls = -(-n // self.batch_size)
        with progress_lib.Progress(calls, "scoring", enabled=self.progress and calls >= 8,
                                   unit="call") as bar:
            for s in range(0, n, self.batch_size):
                c = None if class_idx is None else class_idx[s:s + self.batch_size]
                v, out = self._chunk(np.ascontiguousarray(x[s:s + self.batch_size], np.float32),
                                     c)
                values.append(np.asarray(v, np.float64).reshape(-1))
                predicted.append(predicted_classes(out))
                bar.update(1)
        pred = None if any(p is None for p in predicted) else np.concatenate(predicted)
        return np.concatenate(values), pred
