"""Noise averaging over any method: SmoothGrad, SmoothGrad² and VarGrad (cf. Captum's
``NoiseTunnel``).

* SmoothGrad (Smilkov et al., "SmoothGrad: removing noise by adding noise", 2017): the mean of
  the masks of ``nsamples`` noisy copies of the input;
* SmoothGrad² (PAIR's ``magnitude=True``): the mean of their squares;
* VarGrad (Adebayo et al., "Local Explanation Methods for Deep Neural Networks Lack
  Sensitivity to Parameter Values", ICLR workshop 2018): their variance.

The noise is PAIR's: Gaussian, standard deviation ``stdev_spread · (max(x) - min(x))`` per
input. All ``B · nsamples`` noisy inputs are explained in one batched call of the wrapped
method, so they share its compiled loops.
"""
from __future__ import annotations

import numpy as np

from tfpath.core import validation
from tfpath.methods.base import unexpected_keyword_message

KINDS = ("smoothgrad", "smoothgrad_sq", "vargrad")


def _generator(seed):
    """A private generator: ints, Generators and RandomStates are used as given."""
    if isinstance(seed, (np.random.Generator, np.random.RandomState)):
        return seed
    if seed is not None:
        seed = validation.check_positive_int(seed, "seed", minimum=0)
    return np.random.default_rng(seed)


class NoiseTunnel:
    """Wraps a tfpath method so that its masks are averaged over noisy copies of the input.

    ``NoiseTunnel(method, kind="smoothgrad").GetMask(x_value, call_model_function,
    call_model_args=None, nsamples=25, stdev_spread=0.15, seed=None, **method_kwargs)``:
    ``method_kwargs`` are the wrapped method's own arguments (checked against them).

    Args:
      method: a tfpath method instance (``tfpath.IntegratedGradients()``, ...).
      kind: ``"smoothgrad"`` (mean), ``"smoothgrad_sq"`` (mean of squares) or ``"vargrad"``
        (variance, ``ddof=0``).

    Raises:
      TypeError: ``method`` is not a tfpath method. ValueError: unknown ``kind``.
    """

    def __init__(self, method, kind: str = "smoothgrad"):
        if not hasattr(method, "GetMaskBatch"):
            raise TypeError(f"method: expected a tfpath method (e.g. tfpath.IntegratedGradients()"
                            f"), received {type(method).__name__}")
        if kind not in KINDS:
            raise ValueError(f"kind: expected one of {KINDS}, received {kind!r}")
        self.method = method
        self.kind = kind

    def GetMaskBatch(self, x_batch, call_model_function, call_model_args=None, nsamples=25,
                     stdev_spread=0.15, seed=None, **method_kwargs):
        """Noise-averaged masks of a batch ``[B, ...]``.

        Args:
          x_batch: the inputs.
          call_model_function, call_model_args: as the wrapped method's. A per-input
            ``class_idx`` list is repeated for each input's noisy copies, and so are the
            method's ``per_input_arguments`` given with one value per input (e.g. Generative
            IG's ``z_baseline`` / ``z_input``).
          nsamples: noisy copies per input (>= 1).
          stdev_spread: noise standard deviation as a fraction of each input's value range.
          seed: an int, a ``numpy.random.Generator`` / ``RandomState`` (used as given), or
            None (a fresh private generator; NumPy's global generator is never used).
          method_kwargs: the wrapped method's ``GetMask`` arguments (e.g. ``x_steps=`` for
            IntegratedGradients).

        Returns:
          float32 masks, ``x_batch``'s shape.

        Raises:
          ValueError / TypeError: bad ``x_batch``, ``nsamples < 1``, negative
          ``stdev_spread``, a bad seed, a keyword that is neither NoiseTunnel's nor the
          wrapped method's (naming ``NoiseTunnel.GetMaskBatch``), and the wrapped method's
          errors.
        """
        kwargs = self._check_keywords("GetMaskBatch", method_kwargs)
        x = validation.check_array(x_batch, "x_batch", min_rank=1)
        nsamples = validation.check_positive_int(nsamples, "nsamples")
        stdev_spread = validation.check_nonnegative(stdev_spread, "stdev_spread")
        rng = _generator(seed)
        n = x.shape[0]
        axes = tuple(range(1, x.ndim))
        stdev = stdev_spread * (x.max(axis=axes) - x.min(axis=axes))        # [B]
        noisy = np.stack([np.stack([x[i] + rng.normal(0, stdev[i], x.shape[1:])
                                    for _ in range(nsamples)]) for i in range(n)])
        args = call_model_args
        if args and "class_idx" in args and np.ndim(args["class_idx"]) == 1:
            args = dict(args, class_idx=np.repeat(np.asarray(args["class_idx"]), nsamples))
        for name in getattr(self.method, "per_input_arguments", ()):
            # one value per input (e.g. Generative IG's latents): repeated for its copies
            value = kwargs.get(name)
            if value is not None and np.ndim(value) >= 1 and np.shape(value)[0] == n:
                kwargs[name] = np.repeat(np.asarray(value), nsamples, axis=0)
        masks = self.method.GetMaskBatch(
            noisy.reshape((n * nsamples,) + x.shape[1:]).astype(np.float32),
            call_model_function, args, **kwargs).astype(np.float64)
        masks = masks.reshape((n, nsamples) + x.shape[1:])
        if self.kind == "smoothgrad":
            out = masks.mean(axis=1)
        elif self.kind == "smoothgrad_sq":
            out = (masks * masks).mean(axis=1)
        else:
            out = masks.var(axis=1)
        return out.astype(np.float32)

    def GetMask(self, x_value, call_model_function, call_model_args=None, nsamples=25,
                stdev_spread=0.15, seed=None, **method_kwargs):
        """The noise-averaged mask of one input.

        Args:
          x_value: one input.
          call_model_function, call_model_args: as the wrapped method's.
          nsamples: noisy copies (>= 1).
          stdev_spread: noise standard deviation as a fraction of the input's value range.
          seed: an int, a ``numpy.random.Generator`` / ``RandomState``, or None (fresh).
          method_kwargs: the wrapped method's ``GetMask`` arguments.

        Returns:
          The float32 mask, the input's shape.

        Raises:
          As :meth:`GetMaskBatch`, naming ``NoiseTunnel.GetMask``.
        """
        kwargs = self._check_keywords("GetMask", method_kwargs)
        x_value = validation.check_array(x_value, "x_value")
        for name in getattr(self.method, "per_input_arguments", ()):
            if kwargs.get(name) is not None and np.ndim(kwargs[name]) >= 1:
                kwargs[name] = np.asarray(kwargs[name])[None]      # one input's value
        return self.GetMaskBatch(x_value[None], call_model_function, call_model_args,
                                 nsamples, stdev_spread, seed, **kwargs)[0]

    def _check_keywords(self, public, method_kwargs):
        """``method_kwargs`` as a new dict; raises TypeError naming ``NoiseTunnel.<public>``
        for a keyword the wrapped method does not take."""
        names = getattr(self.method, "_method_arguments", None)
        if names is not None:
            valid = names()
            for key in method_kwargs:
                if key not in valid:
                    raise TypeError(unexpected_keyword_message(
                        f"NoiseTunnel.{public}", key,
                        ["x_value" if public == "GetMask" else "x_batch", "call_model_function",
                         "call_model_args", "nsamples", "stdev_spread", "seed"] + valid))
        return dict(method_kwargs)
