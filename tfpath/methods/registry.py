"""One table of tfpath's methods, shared by the command line and the demo.

It names classes (strings) and resolves them only when a method is built, so the table itself
imports nothing.
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
      init_needs: data the constructor takes (LPI's ``"distribution"``).
      call_needs: data ``GetMask`` takes beyond a model and an input (EG's ``"references"``).
      sources: the resource that supplies each call need, where its name differs
        (``{"references": "counterfactual_references"}`` for IG²).
      seeded: the method draws random numbers and takes ``seed=``.
    """

    key: str
    title: str
    class_name: str
    steps_argument: Optional[str] = None
    default_steps: Optional[int] = None
    quick_steps: Optional[int] = None
    idgi: bool = True
    init_needs: tuple = field(default=())
    call_needs: tuple = field(default=())
    sources: tuple = field(default=())
    seeded: bool = False

    def source(self, need: str) -> str:
        """The resource name that supplies the call need ``need``."""
        return dict(self.sources).get(need, need)

    @property
    def needs(self) -> tuple:
        """Every resource the method needs beyond a model and an input."""
        return self.init_needs + tuple(self.source(n) for n in self.call_needs)

    def build(self, **resources):
        """An instance of the method (imports tfpath); ``resources`` supply its init needs."""
        import tfpath
        missing = [n for n in self.needs if n not in resources]
        if missing:
            raise ValueError(f"{self.key}: needs {', '.join(missing)}")
        return getattr(tfpath, self.class_name)(*(resources[n] for n in self.init_needs))

    def kwargs(self, quick: bool = False, idgi: bool = False, steps: Optional[int] = None,
               seed: Optional[int] = None, **resources):
        """GetMask keywords for a run: its steps, integrator, seed and call needs."""
        out = {n: resources[self.source(n)] for n in self.call_needs
               if self.source(n) in resources}
        if self.seeded and seed is not None:
            out["seed"] = seed
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
    MethodInfo("eg", "EG", "ExpectedGradients", "nsamples", 128, 16,
               call_needs=("references",), seeded=True),
    MethodInfo("lpi", "LPI", "LPI", "k", 1, 1, init_needs=("distribution",), seeded=True),
    MethodInfo("agi", "AGI", "AGI", "steps", 20, 10, seeded=True),
    MethodInfo("ig2", "IG²", "IG2", "steps", 201, 32, call_needs=("references",),
               sources=(("references", "counterfactual_references"),)),
)}


def get(key: str) -> MethodInfo:
    """The :class:`MethodInfo` of ``key``; raises ValueError listing the known keys."""
    try:
        return METHODS[key]
    except KeyError:
        raise ValueError(f"method: unknown method {key!r}; expected one of "
                         f"{sorted(METHODS)}") from None
