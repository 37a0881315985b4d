"""Evaluation runner: named attribution methods × metrics → a table of mean ± standard error.

    table = tfpath.evaluation.evaluate(
        mf, images, labels,
        methods={"IG": (tfpath.IntegratedGradients(), {"x_steps": 64}),
                 "IG+IDGI": (tfpath.IntegratedGradients(), {"x_steps": 64, "integrator": "idgi"})},
        metrics=["insertion", "deletion", "diffid", "aic", "sic"])
    print(table.to_markdown()); table.to_csv("faithfulness.csv")

Attributions are computed in batches (``GetMaskBatch``) with a progress line on stderr; each
metric scores all perturbed images of all inputs in large batches.
"""
from __future__ import annotations

import csv
import sys
import time
from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from tfpath import metrics as metrics_lib
from tfpath.core import validation
from tfpath.core.progress import Progress
from tfpath.metrics.checks import check_class_idx
from tfpath.metrics.results import MetricResult


def _score_metric(fn, **defaults):
    def run(model_function, images, attributions, class_idx, masks=None, **kwargs):
        return fn(model_function, images, attributions, class_idx, **{**defaults, **kwargs})
    return run


def _mask_metric(fn):
    def run(model_function, images, attributions, class_idx, masks=None, **kwargs):
        if masks is None:
            raise ValueError(f"masks: metric {fn.__name__!r} needs ground-truth masks; pass "
                             "evaluate(..., masks=...)")
        return fn(attributions, masks, **kwargs)
    return run


def _uncertainty_metric(key):
    def run(model_function, images, attributions, class_idx, masks=None, **kwargs):
        return metrics_lib.uncertainty_curves(model_function, images, attributions,
                                              **kwargs)[key]
    run.uncertainty_key = key            # lets evaluate() share one removal pass (see there)
    return run


def _shared_uncertainty(model_function, images, attributions, metric_fns, metric_kwargs):
    """Runs :func:`tfpath.metrics.uncertainty_curves` once per distinct keyword set for all the
    requested named uncertainty metrics: with the same keywords (e.g. none), "eic", "urc@1%"
    and "urc@5%" share one removal pass. Metrics with different keywords (``urc_at``, ``steps``
    ...) get their own pass, since the grid of fractions, and so every value, depends on them:
    each result is exactly what the direct call with that metric's keywords returns.

    Returns:
      dict metric name → ``(MetricResult, seconds)``, the seconds being the metric's equal
      share of its pass.
    """
    groups = {}
    for metric, fn in metric_fns.items():
        key = getattr(fn, "uncertainty_key", None)
        if key is None:
            continue
        kwargs = dict(metric_kwargs.get(metric, {}))
        with np.printoptions(threshold=sys.maxsize):
            signature = repr(sorted(kwargs.items(), key=lambda kv: kv[0]))
        groups.setdefault(signature, (kwargs, []))[1].append((metric, key))
    out = {}
    for kwargs, members in groups.values():
        start = time.perf_counter()
        results = metrics_lib.uncertainty_curves(model_function, images, attributions, **kwargs)
        share = (time.perf_counter() - start) / len(members)
        for metric, key in members:
            out[metric] = (results[key], share)
    return out


#: name -> ``fn(model_function, images, attributions, class_idx, masks=None, **kw)``
METRICS = {
    "insertion": _score_metric(metrics_lib.insertion),
    "deletion": _score_metric(metrics_lib.deletion),
    "diffid": _score_metric(metrics_lib.diffid),
    "aic": _score_metric(metrics_lib.aic),
    "sic": _score_metric(metrics_lib.sic),
    "pointing_game": _mask_metric(metrics_lib.pointing_game),
    "mask_auc": _mask_metric(metrics_lib.mask_auc),
    "mask_mass": _mask_metric(metrics_lib.mask_mass),
    "eic": _uncertainty_metric("eic"),
    "urc@1%": _uncertainty_metric("urc@1%"),
    "urc@5%": _uncertainty_metric("urc@5%"),
}


@dataclass
class EvaluationTable:
    """Results of :func:`evaluate`.

    Attributes:
      methods, metrics: row and column names.
      results: ``results[method][metric]`` → :class:`tfpath.metrics.MetricResult`.
      seconds: attribution time per method; ``metric_seconds[method]`` metric time.
    """

    methods: list
    metrics: list
    results: dict
    seconds: dict
    metric_seconds: dict = field(default_factory=dict)

    def value(self, method, metric):
        """The aggregate value of one cell of the table.

        Args:
          method: a row name (a key of ``methods`` given to :func:`evaluate`).
          metric: a column name (a metric name given to :func:`evaluate`).

        Returns:
          float: ``results[method][metric].value``.

        Raises:
          KeyError: an unknown method or metric name.
        """
        return self.results[method][metric].value

    def _header(self):
        arrows = []
        for m in self.metrics:
            first = self.results[self.methods[0]][m]
            arrows.append(f"{m} {'↑' if first.higher_is_better else '↓'}")
        return ["method"] + arrows + ["attribution s"]

    def _rows(self, digits):
        rows = []
        for name in self.methods:
            cells = [name]
            for m in self.metrics:
                r = self.results[name][m]
                cells.append(f"{r.value:.{digits}f} ± {r.standard_error:.{digits}f}")
            cells.append(f"{self.seconds[name]:.1f}")
            rows.append(cells)
        return rows

    def to_text(self, digits=3) -> str:
        """A fixed-width text table (mean ± standard error; ↑ higher is better)."""
        header, rows = self._header(), self._rows(digits)
        widths = [max(len(r[i]) for r in [header] + rows) for i in range(len(header))]
        fmt = lambda r: "  ".join(c.ljust(w) for c, w in zip(r, widths))  # noqa: E731
        return "\n".join([fmt(header), "  ".join("-" * w for w in widths)] +
                         [fmt(r) for r in rows])

    def to_markdown(self, digits=3) -> str:
        """A GitHub-markdown table."""
        header, rows = self._header(), self._rows(digits)
        lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows])

    def to_csv(self, path) -> None:
        """One row per (method, metric): value, standard_error, n, higher_is_better, seconds."""
        with open(path, "w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["method", "metric", "value", "standard_error", "n",
                             "higher_is_better", "attribution_seconds", "metric_seconds"])
            for name in self.methods:
                for m in self.metrics:
                    r = self.results[name][m]
                    writer.writerow([name, m, repr(float(r.value)),
                                     repr(float(r.standard_error)),
                                     int(np.sum(np.isfinite(r.per_image))),
                                     r.higher_is_better, f"{self.seconds[name]:.3f}",
                                     f"{self.metric_seconds[name][m]:.3f}"])

    def __str__(self):
        return self.to_text()


def _attributor(name, spec):
    """``fn(images, class_idx) -> attributions`` from a method spec."""
    if isinstance(spec, tuple) and len(spec) == 2 and isinstance(spec[1], dict):
        method, kwargs = spec
    else:
        method, kwargs = spec, {}
    if hasattr(method, "GetMaskBatch"):
        def run(mf, x, c):
            return method.GetMaskBatch(x, mf, None if c is None else {"class_idx": c}, **kwargs)
        return run
    if callable(method):
        return lambda mf, x, c: method(x, c, **kwargs)
    raise TypeError(f"methods[{name!r}]: expected a method with GetMaskBatch, (method, kwargs) "
                    f"or a callable fn(images, class_idx), received {type(method).__name__}")


def evaluate(model_function, images, class_idx, methods, metrics=("insertion", "deletion"), *,
             metric_kwargs: Optional[dict] = None, masks=None, batch_size=16,
             progress=None, csv_path=None) -> EvaluationTable:
    """Computes every metric for every method's attributions.

    Args:
      model_function: the :class:`tfpath.ModelFunction` that is explained (its target is what
        the methods attribute and what score metrics measure; PIC's SIC re-targets to the
        softmax probability, see :func:`tfpath.metrics.pic`).
      images: ``[n, H, W, C]`` inputs.
      class_idx: the explained class per input (int or ``[n]``), or None for class-free targets.
      methods: dict name → a tfpath/PAIR method (``GetMaskBatch``), a ``(method, kwargs)``
        pair, or a callable ``fn(images, class_idx, **kwargs) -> attributions``.
      metrics: names from :data:`METRICS`, or a dict name → either such a name's keyword
        arguments or a callable ``fn(model_function, images, attributions, class_idx,
        masks=None) -> MetricResult``.
      metric_kwargs: dict metric name → keyword arguments (for named metrics).
      masks: ground-truth masks ``[n, H, W]`` for the mask metrics.
      batch_size: inputs per ``GetMaskBatch`` call.
      progress: a progress bar on stderr: None (default) on a terminal only, True, False.
      csv_path: also save the table as CSV there.

    Returns:
      :class:`EvaluationTable`.

    Raises:
      ValueError / TypeError naming the argument: unknown metric, bad method spec, bad inputs.
    """
    x = validation.check_array(images, "images", min_rank=2)
    n = x.shape[0]
    c = check_class_idx(class_idx, n)
    batch_size = validation.check_positive_int(batch_size, "batch_size")
    if not isinstance(methods, dict) or not methods:
        raise TypeError("methods: expected a non-empty dict name -> method")
    metric_kwargs = dict(metric_kwargs or {})
    metric_fns = {}
    items = metrics.items() if isinstance(metrics, dict) else [(m, None) for m in metrics]
    for name, spec in items:
        if callable(spec):
            metric_fns[name] = spec
            continue
        if name not in METRICS:
            raise ValueError(f"metrics: unknown metric {name!r}; expected one of "
                             f"{sorted(METRICS)} or a callable")
        if isinstance(spec, dict):
            metric_kwargs[name] = {**spec, **metric_kwargs.get(name, {})}
        metric_fns[name] = METRICS[name]
    attributors = {name: _attributor(name, spec) for name, spec in methods.items()}
    chunks = -(-n // batch_size)
    bar = Progress(len(methods) * (chunks + len(metric_fns)), "evaluate", progress)
    results, seconds, metric_seconds = {}, {}, {}
    for name, attribute in attributors.items():
        start = time.perf_counter()
        parts = []
        for s in range(0, n, batch_size):
            parts.append(np.asarray(attribute(model_function, x[s:s + batch_size],
                                              None if c is None else c[s:s + batch_size])))
            bar.update(note=f"{name}: attributions")
        attributions = np.concatenate(parts).astype(np.float32)
        seconds[name] = time.perf_counter() - start
        results[name], metric_seconds[name] = {}, {}
        shared = None                    # the uncertainty metrics' common removal pass(es)
        for metric, fn in metric_fns.items():
            start = time.perf_counter()
            if getattr(fn, "uncertainty_key", None) is not None:
                if shared is None:
                    shared = _shared_uncertainty(model_function, x, attributions, metric_fns,
                                                 metric_kwargs)
                result, spent = shared[metric]
                start = time.perf_counter() - spent
            else:
                result = fn(model_function, x, attributions, c, masks=masks,
                            **metric_kwargs.get(metric, {}))
            if not isinstance(result, MetricResult):
                raise TypeError(f"metrics[{metric!r}]: returned {type(result).__name__}, "
                                "expected a tfpath.metrics.MetricResult")
            results[name][metric] = result
            metric_seconds[name][metric] = time.perf_counter() - start
            bar.update(note=f"{name}: {metric}")
    bar.close()
    table = EvaluationTable(list(methods), list(metric_fns), results, seconds, metric_seconds)
    if csv_path is not None:
        table.to_csv(csv_path)
    return table
