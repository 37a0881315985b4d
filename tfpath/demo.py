"""``tfpath demo``: path methods with and without IDGI on a small CNN, offline.

:func:`run_demo` trains (once; cached by :func:`tfpath.zoo.digits_cnn` in the user's cache
directory, ``$TFPATH_CACHE`` or ``~/.cache/tfpath``) a small CNN on scikit-learn's 8×8 digits
resized to 16×16, explains a few test digits with every method of
:mod:`tfpath.methods.registry` (Gradient, Integrated Gradients, Blur IG, Guided IG, Expected
Gradients from the training digits, LPI on a local distribution fitted to them, AGI), each path
method with its default integrator and with IDGI, and writes

* ``methods_gallery.png``: magnitudes (PAIR's grayscale visualisation), one column per method,
  with each cell's convergence delta;
* ``methods_gallery_signed.png``: the same masks as signed (diverging) maps;
* ``methods_table.txt`` and ``methods_table.json``: the convergence deltas and times.

It also writes ``uncertainty_gallery.png`` (:func:`tfpath.demo_uncertainty.uncertainty_gallery`):
Generative IG of the total, aleatoric and epistemic uncertainty of an MC-dropout CNN, from
counterfactual fiducials found with a VAE (both trained once and cached).
Nothing is downloaded.
"""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np

TABLE_COLUMNS = ("method", "integrator", "steps", "mean |delta|", "max |delta|",
                 "mean rel |delta|", "first call s", "warm s", "ms/image")


def _log(progress, message):
    if progress:
        print(message, file=sys.stderr, flush=True)


def _pick_examples(x, y, count):
    """Indices of the first test example of classes 0, 1, ... (distinct digits), then others."""
    picked = []
    for c in range(int(y.max()) + 1):
        hits = np.flatnonzero(y == c)
        if hits.size:
            picked.append(int(hits[0]))
        if len(picked) == count:
            break
    for i in range(len(y)):
        if len(picked) == count:
            break
        if i not in picked:
            picked.append(i)
    return np.asarray(picked[:count])


def _fmt(value):
    if value is None:
        return "-"
    if isinstance(value, float):
        if value == 0.0:
            return "0"
        if abs(value) < 1e-3 or abs(value) >= 1e4:
            return f"{value:.2e}"
        return f"{value:.4g}"
    return str(value)


def format_table(rows, columns=None) -> str:
    """Formats a list of dict rows as an aligned plain-text table.

    Args:
      rows: list of dicts (e.g. ``run_demo(...)["rows"]``).
      columns: the keys to show, in order; default: the keys of the first row.

    Returns:
      The table as a string (header, rule, one line per row).

    Raises:
      ValueError: ``rows`` is empty and no ``columns`` were given.
    """
    if columns is None:
        if not rows:
            raise ValueError("rows: empty, and no columns given")
        columns = list(rows[0].keys())
    cells = [[str(c) for c in columns]] + [[_fmt(r.get(c)) for c in columns] for r in rows]
    widths = [max(len(row[j]) for row in cells) for j in range(len(columns))]
    lines = ["  ".join(cell.ljust(w) if j == 0 else cell.rjust(w)
                       for j, (cell, w) in enumerate(zip(row, widths))) for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def run_demo(out_dir, quick: bool = False, progress: bool = True) -> dict:
    """Compares tfpath's methods, with and without IDGI, on a digits CNN.

    Args:
      out_dir: directory for the PNG galleries and the tables (created if missing).
      quick: 3 digits and each method's ``quick_steps`` (IG 16, Blur IG 32, Guided IG 32, EG 16
        samples, AGI 10 steps) instead of 6 digits and the defaults (IG 25, Blur IG 100, Guided
        IG 200, EG 128, AGI 20); for tests and smoke runs.
      progress: print progress lines to stderr.

    Returns:
      dict with ``rows`` (one dict per method, keys :data:`TABLE_COLUMNS`), ``paths`` (name ->
      written file, including ``uncertainty_gallery``), ``uncertainty_rows`` (the rows
      returned by :func:`tfpath.demo_uncertainty.uncertainty_gallery`), ``test_accuracy``, ``examples`` (indices of the explained test digits),
      ``classes`` (their predicted classes) and ``seconds`` (total wall time).

    Raises:
      TypeError: ``out_dir`` is not a path. OSError: ``out_dir`` cannot be created.
    """
    import tfpath
    from tfpath import viz, zoo
    from tfpath.methods import registry

    if not isinstance(out_dir, (str, Path)):
        raise TypeError(f"out_dir: expected a directory path, received {type(out_dir).__name__}")
    t_start = time.perf_counter()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)

    _log(progress, f"[demo] model: small CNN on scikit-learn digits 16x16 (trained once, ~10 s; "
                   f"cached in {zoo.cache_dir()})")
    t = time.perf_counter()
    model, split = zoo.digits_cnn(size=16, epochs=30)
    logits = np.asarray(model.predict(split.x_test, verbose=0))
    accuracy = float(np.mean(logits.argmax(axis=1) == split.y_test))
    _log(progress, f"[demo] model ready in {time.perf_counter() - t:.1f} s; test accuracy "
                   f"{accuracy:.3f} on {len(split.y_test)} digits")

    count = 3 if quick else 6
    idx = _pick_examples(split.x_test, split.y_test, count)
    x = split.x_test[idx]
    classes = logits[idx].argmax(axis=1).astype(np.int32)
    labels = [f"digit {int(split.y_test[i])}\npred {int(c)}" for i, c in zip(idx, classes)]
    mf = tfpath.ModelFunction(model, target="logit")
    args = {"class_idx": classes}

    _log(progress, "[demo] LPI's local distribution: 10 neighbourhoods of the training logits, "
                   "20 references each ...")
    resources = {"references": split.x_train,
                 "distribution": tfpath.LocalDistribution.fit(model, split.x_train, 10, 20,
                                                              seed=0),
                 "counterfactual_references": tfpath.baselines.OtherClassSamples(
                     split.x_train, split.y_train, count=2 if quick else 4, seed=0)}
    runs = [(info, idgi) for info in registry.METHODS.values()
            for idgi in ((False, True) if info.idgi else (False,))]
    rows, masks, notes = [], {}, {}
    for k, (info, idgi) in enumerate(runs, start=1):
        title = info.title + (" + IDGI" if idgi else "")
        kwargs = info.kwargs(quick=quick, idgi=idgi, seed=0, **resources)
        method = info.build(**resources)
        _log(progress, f"[demo] {k}/{len(runs)} {title} ...")
        t = time.perf_counter()
        details = method.GetMaskBatchWithDetails(x, mf, args, **kwargs)
        first = time.perf_counter() - t
        t = time.perf_counter()
        method.GetMaskBatch(x, mf, args, **kwargs)          # warm: no tracing
        warm = time.perf_counter() - t
        masks[title] = details.mask
        steps = kwargs.get(info.steps_argument) if info.steps_argument else None
        row = {"method": title,
               "integrator": kwargs.get("integrator", "-" if steps is None else "default"),
               "steps": steps}
        if details.convergence_delta is not None:
            delta = np.abs(np.asarray(details.convergence_delta, np.float64))
            gap = np.abs(np.asarray(details.end_value, np.float64)
                         - np.asarray(details.start_value, np.float64))
            row.update({"mean |delta|": float(delta.mean()), "max |delta|": float(delta.max()),
                        "mean rel |delta|": float(np.mean(delta / np.maximum(gap, 1e-12)))})
            notes[title] = [f"δ={d:+.2g}" for d in np.asarray(details.convergence_delta)]
        else:
            row.update({"mean |delta|": None, "max |delta|": None, "mean rel |delta|": None})
        row.update({"first call s": first, "warm s": warm, "ms/image": 1e3 * warm / len(x)})
        rows.append(row)
        _log(progress, f"[demo]     first call {first:.2f} s (incl. tracing), warm {warm:.2f} s")

    what = (f"{len(x)} test digits, logit of the predicted class; baselines: black (IG, Guided IG), "
            "blurred (Blur IG), training digits (EG, LPI), adversarial (AGI), GradCF of "
            "other-class digits (IG²)")
    paths = {
        "gallery": viz.save_gallery(
            x, masks, out / "methods_gallery.png", row_labels=labels, notes=notes,
            title=f"tfpath path methods ± IDGI — |attribution| (PAIR grayscale, 99th pct)\n"
                  f"{what}; δ = Σ mask − (F(x) − F(x'))"),
        "gallery_signed": viz.save_gallery(
            x, masks, out / "methods_gallery_signed.png", row_labels=labels, notes=notes,
            signed=True,
            title=f"tfpath path methods ± IDGI — signed attribution (red > 0, blue < 0)\n{what}"),
    }
    table = format_table(rows, TABLE_COLUMNS)
    paths["table"] = out / "methods_table.txt"
    paths["table"].write_text(table + "\n", encoding="utf-8")
    paths["json"] = out / "methods_table.json"
    paths["json"].write_text(json.dumps({"rows": rows, "test_accuracy": accuracy,
                                         "examples": idx.tolist(),
                                         "classes": classes.tolist(), "quick": quick},
                                        indent=2), encoding="utf-8")

    from tfpath.demo_uncertainty import uncertainty_gallery
    _log(progress, "[demo] uncertainty gallery ...")
    target = out / "uncertainty_gallery.png"
    report = (lambda message: _log(True, f"[demo]     {message}")) if progress else None
    uncertainty_rows = list(uncertainty_gallery(target, progress=report, quick=quick))
    paths["uncertainty_gallery"] = target
    seconds = time.perf_counter() - t_start
    _log(progress, f"[demo] done in {seconds:.1f} s; wrote {out}")
    return {"rows": rows, "paths": paths, "uncertainty_rows": uncertainty_rows,
            "test_accuracy": accuracy, "examples": idx.tolist(), "classes": classes.tolist(),
            "seconds": seconds}
