"""One table of tfpath's methods, shared by the command line and the demo.

It names classes (strings) rather than importing them, so reading it costs no TensorFlow
import: the CLI can list methods and check arguments before loading anything heavy.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, Optional


@dataclass(frozen=True)
class MethodInfo:
    """A method as the CLI and the demo present it.

    Attributes:
      key: the command-line name (``"ig"``).
      title: the display name (``"IG"``).
      class_name: the class in the ``tfpath`` namespace.
      steps_argument: the keyword that sets its number of steps (None: no steps).
      default_steps: PAIR's (or the paper's) default for it.
      quick_steps: fewer steps for quick runs (tests, ``--quick``).
      idgi: IDGI applies (``integrator="idgi"``).
      needs: extra data the method needs beyond a model and an input (e.g. ``"references"``).
    """

    key: str
    title: str
    class_name: str
    steps_argument: Optional[str] = None
    default_steps: Optional[int] = None
    quick_steps: Optional[int] = None
    idgi: bool = True
    needs: tuple = field(default=())

    def load(self):
        """The method class (imports tfpath)."""
        import tfpath
        return getattr(tfpath, self.class_name)

    def kwargs(self, quick: bool = False, idgi: bool = False, steps: Optional[int] = None):
        """GetMask keywords for a run: its steps and integrator."""
        out = {}
        if self.steps_argument is not None:
            out[self.steps_argument] = steps or (self.quick_steps if quick else self.default_steps)
        if idgi:
            out["integrator"] = "idgi"
        return out


METHODS: Mapping[str, MethodInfo] = {m.key: m for m in (
    MethodInfo("gradient", "Gradient", "GradientSaliency", idgi=False),
    MethodInfo("ig", "IG", "IntegratedGradients", "x_steps", 25, 16),
    MethodInfo("blur-ig", "Blur IG", "BlurIG", "steps", 100, 32),
    MethodInfo("guided-ig", "Guided IG", "GuidedIG", "x_steps", 200, 32),
    MethodInfo("agi", "AGI", "AGI", "steps", 20, 10),
    MethodInfo("eg", "EG", "ExpectedGradients", "nsamples", 128, 16, needs=("references",)),
)}


def get(key: str) -> MethodInfo:
    """The :class:`MethodInfo` of ``key``; raises ValueError listing the known keys."""
    try:
        return METHODS[key]
    except KeyError:
        raise ValueError(f"method: unknown method {key!r}; expected one of "
                         f"{sorted(METHODS)}") from None
