"""Guided IG (Kapishnikov et al. 2021): IG along an adaptive path, all inputs stepped together."""
import numpy as np

from tfpath import engine
from tfpath import integrate
from tfpath.core import validation
from tfpath.methods.base import TFPathSaliency
from tfpath.paths import GuidedPath


class GuidedIG(TFPathSaliency):
    """Guided IG; PAIR's ``GuidedIG`` algorithm in TensorFlow, one compiled loop per batch.

    ``GetMask(x_value, call_model_function, call_model_args=None, x_baseline=None,
    x_steps=200, fraction=0.25, max_dist=0.02, batch_size=None, integrator="left")``

    Args:
      x_baseline: start of the path; None means zeros (PAIR's default).
      x_steps, fraction, max_dist: PAIR's arguments and defaults (see
        :class:`tfpath.paths.GuidedPath`).
      batch_size: most inputs stepped together (each step is one model call on them).
      integrator: ``"left"`` (PAIR's sum of ``g(x_j) ⊙ (x_{j+1} - x_j)``) or ``"idgi"``: IDGI on
        the nodes x_0 = baseline … x_steps = end point (spec_004 §3.5b), which evaluates the
        end point once more.

    Returns:
      The mask, float32, the input's shape.

    Raises:
      ValueError / TypeError: ``x_steps < 1``, ``fraction`` outside (0, 1], ``max_dist``
      outside [0, 1], an integrator other than left/idgi, and the common input errors.
    """

    def _attribute(self, prep, need_values, x_baseline=None, x_steps=200, fraction=0.25,
                   max_dist=0.02, batch_size=None, integrator="left"):
        integrator = integrate.check_integrator(integrator, ("left", "idgi"))
        x_steps = validation.check_positive_int(x_steps, "x_steps")
        fraction = validation.check_fraction(fraction, "fraction", low_open=True)
        max_dist = validation.check_fraction(max_dist, "max_dist")
        batch_size = validation.check_optional_positive_int(batch_size, "batch_size")
        baseline = self._baseline(x_baseline, prep.x)
        path = GuidedPath(x_steps, fraction, max_dist)
        nodes = x_steps + 1 if need_values else x_steps
        params = np.arange(nodes, dtype=np.float64)
        acc = integrate.make_accumulator(integrator, "left")
        attr, residual, values = engine.integrate_path(
            prep.evaluator, path, acc, prep.x, baseline, params, np.zeros_like(params),
            prep.class_idx, batch_size)
        return attr, residual, values, (baseline, prep.x)
