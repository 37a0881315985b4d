"""The adversarial path of AGI (Pan, Li and Zhu, "Explaining Deep Neural Network Models with
Adversarial Gradient Integration", IJCAI 2021, Algorithm 1).

From the input x, each row climbs the score of one *adversarial* class t by signed gradient
steps until the model predicts t (or ``steps`` steps are taken)::

    x_0 = x,   x_{k+1} = clip(x_k + ε · sign(∇_x F_t(x_k)), low, high)

and AGI integrates the explained class's gradient back along that path:
``AGI = -Σ_k ∇F_c(x_k) ⊙ (x_{k+1} - x_k)``, which sums to ``F_c(x) - F_c(x_K)``. In tfpath's
terms the path is adaptive and *reversed*: it starts at the input and its final state is the
baseline it found (the adversarial example), so integrators flip the orientation
(:attr:`reverse`) and completeness reads ``Σ mask = F(x) - F(x_adv)`` per row.

The score of class t and whether t is predicted come from the same forward pass as the
explained target, as auxiliary quantities of the evaluator (:class:`AdversaryScore`,
:class:`AdversaryReached`); the adversarial class of each row is the row context
``"adversary_class"``.

``from_input=True`` reproduces the code that Yang et al. ("Local Path Integration for
Attribution", AAAI 2023) compared against (ypeiyu/LPI ``adv_grad_integration.py``, from the
AGI authors' code): every step is taken from the *original* input, ``x_{k+1} = clip(x + ε · sign(∇F_t(x_k)))``, and each term
multiplies ``x_{k+1} - x`` instead of ``x_{k+1} - x_k``, so the "path" never leaves an
ε-ball around x and completeness does not hold. It is offered for parity only.
"""
from dataclasses import dataclass
from typing import Optional

import numpy as np
import tensorflow as tf

from tfpath.paths import ranges

CONTEXT_KEY = "adversary_class"


@dataclass(frozen=True)
class AdversaryScore:
    """The explained target applied to each row's adversarial class, with its gradient."""

    name: str = "adversary"
    gradient: bool = True
    representation = None

    def __call__(self, outputs, context, model_function, features=None):
        return model_function.target_values(outputs, tf.cast(context[CONTEXT_KEY], tf.int32))


@dataclass(frozen=True)
class AdversaryReached:
    """1.0 where the model predicts the row's adversarial class (argmax of the mean output)."""

    name: str = "adversary_reached"
    gradient: bool = False
    representation = None

    def __call__(self, outputs, context, model_function, features=None):
        out = tf.convert_to_tensor(outputs)
        if out.shape.rank == 3:                       # Bayesian [n, S, K]: mean prediction
            out = tf.reduce_mean(out, axis=1)
        predicted = tf.argmax(out, axis=-1, output_type=tf.int32)
        return tf.cast(tf.equal(predicted, tf.cast(context[CONTEXT_KEY], tf.int32)),
                       tf.float32)


@dataclass(frozen=True)
class AdversarialPath:
    """AGI's path: signed-gradient ascent of an adversarial class, from the input.

    Args:
      epsilon: the step size ε (in input units; the LPI paper's setting 0.05).
      low, high: the clip range of the inputs (None: no clipping on that side).
      early_stop: stop a row when the model predicts its adversarial class (Algorithm 1).
      from_input: the compared code's variant (see the module docstring).
    """

    epsilon: float = 0.05
    low: Optional[float] = 0.0
    high: Optional[float] = 1.0
    early_stop: bool = True
    from_input: bool = False
    adaptive = True
    reverse = True
    auxiliary = (AdversaryScore(), AdversaryReached())

    def grid(self, n):
        return np.arange(n, dtype=np.float64)

    def init(self, rows):
        return {"input": rows.x}, {"x": rows.x, "done": tf.zeros(tf.shape(rows.x)[:1], tf.bool)}

    def points(self, constants, state, params, with_tangents):
        return state["x"][None], None

    def advance(self, constants, state, points, evaluation, params):
        adv_grad = evaluation.aux["adversary"][1][0]                        # [G, ...]
        reached = evaluation.aux["adversary_reached"][0][0] > 0.5           # [G]
        done = state["done"] | reached if self.early_stop else state["done"]
        x = state["x"]
        origin = constants["input"] if self.from_input else x
        stepped = ranges.clip(origin + self.epsilon * tf.sign(adv_grad), self.low, self.high)
        mask = done[(...,) + (None,) * (x.shape.rank - 1)]
        x_new = tf.where(mask, x, stepped)
        displacement = tf.where(mask, tf.zeros_like(x), x_new - origin)
        return displacement[None], {"x": x_new, "done": done}

    def start(self, rows):
        return rows.x

    def end(self, constants, state):
        return state["x"]
