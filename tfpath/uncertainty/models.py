"""Bayesian classifiers as S probability samples per input, with randomness frozen along a path.

A *Bayesian wrapper* is a TensorFlow-traceable callable ``model(x [n, ...]) -> [n, S, K]``
(S samples of class logits or probabilities per input) with attributes ``output_kind``,
``num_samples`` and ``input_shape``, and a method :meth:`BayesianModel.resample`. Pass it to
:class:`tfpath.ModelFunction` with an uncertainty target::

    mf = tfpath.ModelFunction(MCDropout(model, num_samples=16), target=Epistemic())
    mask = tfpath.GuidedIG().GetMask(x, mf, integrator="idgi")

Frozen randomness (common random numbers): the S draws are the same at every point of every
path, for every row of every chunk, until :meth:`resample` is called. So the target is a
deterministic function of the input, its gradient is that function's gradient, and
completeness (convergence delta → 0) holds.
How each kind freezes is documented on its class:

* :class:`Deterministic` — S = 1, no randomness.
* :class:`DeepEnsemble` — S = members, no randomness (members in inference mode).
* :class:`tfpath.uncertainty.MCDropout` — S dropout masks from a seed variable.
* :class:`tfpath.uncertainty.TFPVariational` — S weight draws of ``tfp.layers``.
* :class:`tfpath.uncertainty.KerasVariational` — S weight draws of tfpath's Keras 3
  variational layers.
"""
from __future__ import annotations


import tensorflow as tf

from tfpath.core import validation
from tfpath.core.keras_utils import call_inference, infer_output_kind
from tfpath.uncertainty import _frozen
from tfpath.uncertainty.measures import UNCERTAINTY_KINDS


def _check_output(output, model):
    """The wrapper's output kind: ``output`` or, for "auto", the wrapped model's."""
    if output == "auto":
        output = infer_output_kind(model)
        if output == "scores":
            raise ValueError(
                f"output: cannot tell whether {type(model).__name__} outputs logits or "
                "probabilities (it is not a Keras model and has no `output_kind` attribute); "
                "pass output='logits' or output='probabilities'")
    if output not in UNCERTAINTY_KINDS:
        raise ValueError(f"output: expected 'auto', 'logits' or 'probabilities', received "
                         f"{output!r}")
    return output


def _check_seed(seed):
    return validation.check_positive_int(seed, "seed", minimum=0) % (2 ** 31 - 1)


class BayesianModel:
    """Base class of Bayesian wrappers: ``__call__(x) -> [n, S, K]`` with frozen draws.

    Attributes:
      model: the wrapped model (or list of members).
      num_samples: S.
      output_kind: ``"logits"`` or ``"probabilities"`` (read by :class:`tfpath.ModelFunction`).
      seed: the current seed of the frozen draws (None if the kind has no randomness).
    """

    freezing = ""

    def __init__(self, model, num_samples, output="auto", seed=None):
        self.model = model
        self.num_samples = validation.check_positive_int(num_samples, "num_samples")
        self.output_kind = _check_output(output, model[0] if isinstance(model, list) else model)
        self._seed = None
        if seed is not None:
            self._seed = tf.Variable([_check_seed(seed), 0], dtype=tf.int32, trainable=False,
                                     name="frozen_sample_seed")

    @property
    def seed(self):
        return None if self._seed is None else int(self._seed.numpy()[0])

    @property
    def input_shape(self):
        """The wrapped model's input shape (used by tfpath's input checks)."""
        first = self.model[0] if isinstance(self.model, list) else self.model
        return getattr(first, "input_shape", None)

    def resample(self, seed=None):
        """Draws new frozen samples: assigns a new seed (no retracing).

        Args:
          seed: integer >= 0; None uses the current seed + 1.

        Returns:
          self.

        Raises:
          TypeError: a seed that is not a non-negative integer.
        """
        if self._seed is not None:
            seed = self.seed + 1 if seed is None else _check_seed(seed)
            self._seed.assign([seed, 0])
        return self

    def __call__(self, x):
        """S samples of class outputs: float tensor ``[n, S, K]`` for ``x [n, ...]``."""
        return self.call(tf.convert_to_tensor(x, tf.float32))

    def call(self, x):  # pragma: no cover - interface
        raise NotImplementedError

    def __repr__(self):
        return (f"{type(self).__name__}(num_samples={self.num_samples}, "
                f"output_kind={self.output_kind!r})")


class Deterministic(BayesianModel):
    """A deterministic classifier as a Bayesian model with S = 1 (``[n, 1, K]`` outputs).

    Freezing: nothing to freeze; the model is called in inference mode (Dropout off,
    BatchNorm on its moving statistics). Its epistemic uncertainty is 0:
    :class:`~tfpath.uncertainty.Epistemic` raises on it, :func:`predictive_uncertainty`
    reports 0. Passing the bare model to :class:`tfpath.ModelFunction` is equivalent.

    Args:
      model: a Keras classifier or a callable ``x -> [n, K]``.
      output: ``"auto"``, ``"logits"`` or ``"probabilities"``.
    """

    freezing = "no randomness (S = 1)"

    def __init__(self, model, output="auto"):
        if not callable(model):
            raise TypeError(f"model: expected a callable model, received {type(model).__name__}")
        super().__init__(model, 1, output)

    def call(self, x):
        return call_inference(self.model, x)[:, None, :]


class DeepEnsemble(BayesianModel):
    """A deep ensemble (Lakshminarayanan et al. 2017): member m is sample s = m.

    Ley, Bhatt and Weller ("Diverse, Global and Amortised Counterfactual Explanations for
    Uncertainty Estimates", AAAI 2022) explain a resnet deep ensemble on Synbols, its members
    in place of posterior samples. ``p̄`` is the members' mean prediction.

    Freezing: there is no randomness; each member is called with ``training=False`` (its own
    Dropout off, BatchNorm on moving statistics), so S = number of members and
    :meth:`resample` does nothing.

    Args:
      members: list of Keras classifiers (Keras 3 or tf_keras, mixed allowed) or callables
        ``x -> [n, K]``, all with the same output kind and number of classes.
      output: ``"auto"`` (inferred from the members; they must agree), ``"logits"`` or
        ``"probabilities"``.

    Raises:
      ValueError: no members (S < 1); members whose inferred output kinds differ.
      TypeError: ``members`` is not a list/tuple of callables.
    """

    freezing = "no randomness: S = ensemble members, each in inference mode"

    def __init__(self, members, output="auto"):
        if not isinstance(members, (list, tuple)):
            raise TypeError(f"members: expected a list of models, received "
                            f"{type(members).__name__}")
        members = list(members)
        if not members:
            raise ValueError("members: expected at least 1 model (S >= 1), received an empty "
                             "list")
        for i, m in enumerate(members):
            if not callable(m):
                raise TypeError(f"members[{i}]: expected a callable model, received "
                                f"{type(m).__name__}")
        if output == "auto":
            kinds = {infer_output_kind(m) for m in members}
            if len(kinds) > 1:
                raise ValueError(f"members: the members output different kinds {sorted(kinds)} "
                                 "(some end in softmax, some not); make them agree or pass "
                                 "output= explicitly")
        super().__init__(members, len(members), output)

    def call(self, x):
        return tf.stack([tf.cast(call_inference(m, x), tf.float32) for m in self.model], axis=1)


class SampledModel(BayesianModel):
    """Base of wrappers whose S draws are layer-level randomness (dropout masks, weights).

    The model is cloned once, sharing every layer (and weight) with the user's model, and its
    stochastic layers are replaced by frozen views; one call evaluates all S samples on the
    sample-major tiled batch ``[S·n, ...]`` (see :mod:`tfpath.uncertainty._frozen`). The clone
    is called with ``training=False``, so every other layer stays in inference mode.
    The user's model is not modified and keeps training normally; draws read its current
    weights at every call.

    Subclasses implement ``_make_view(layer, index) -> view layer or None``.
    """

    keras_module_name = "keras"
    layer_kind = "stochastic"

    def __init__(self, model, num_samples, seed, output):
        keras_module = __import__(self.keras_module_name)
        if not isinstance(model, keras_module.Model):
            raise TypeError(f"model: {type(self).__name__} expects a {self.keras_module_name} "
                            f"Model, received {type(model).__name__}")
        super().__init__(model, num_samples, output, seed=0 if seed is None else seed)
        self.frozen_model, self.stochastic_layers = _frozen.clone_with_views(
            model, keras_module, self._make_view)
        if not self.stochastic_layers:
            raise ValueError(
                f"model: {getattr(model, 'name', type(model).__name__)!r} has no "
                f"{self.layer_kind} layers, so its {self.num_samples} samples would all be "
                "equal; use Deterministic(model) for a deterministic classifier")

    def _make_view(self, layer, index):  # pragma: no cover - interface
        raise NotImplementedError

    def layer_seed(self, index):
        """The stateless seed of stochastic layer ``index`` (read inside the traced graph)."""
        return _frozen.layer_seed(self._seed, index)

    def call(self, x):
        tiled = _frozen.tile_samples(x, self.num_samples)
        y = tf.cast(self.frozen_model(tiled, training=False), tf.float32)
        return _frozen.outputs_by_input(y, self.num_samples)
