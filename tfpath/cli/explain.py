"""``tfpath explain``: one image through a saved Keras classifier, written as a heatmap PNG.

::

    tfpath explain --model M.keras --image I.png --method ig|blur-ig|guided-ig|agi [--idgi]
                   [--class N] [--steps N] [--target logit|probability]
                   [--preprocess NAME|LOW,HIGH | --input-range LOW,HIGH] --out heat.png

The image is converted to the model's input (channels, height, width) and the chosen class
(default: the predicted one) attributed. Pixel values are either scaled to ``--input-range``
(default [0, 1]) and explained in that range, or, with ``--preprocess NAME|LOW,HIGH``, kept in
[0, 255] and passed through the preprocessing inside the explained function
(:mod:`tfpath.preprocessing`: a ``keras.applications`` family or a linear range), so the map is
in pixel space. It writes the heatmap as a PNG of the original image's size and prints the
class, the convergence delta Σ mask − (F(x) − F(x')) and the time; when F(x) = F(x') it warns
on stderr that the map is expected to be all zero.
"""
from __future__ import annotations

import sys
import time
import warnings
from pathlib import Path

from tfpath import preprocessing
from tfpath.cli.common import (DEGENERATE_RTOL, METHODS, TARGETS, CLIError, Status,
                               add_progress_options, check_model_file, check_steps,
                               import_tensorflow, input_settings, is_degenerate_warning,
                               load_image, load_model, model_function_for, one_line,
                               open_image, progress_enabled)


def explain(args):
    """Runs ``tfpath explain``; returns the result dict (also printed).

    Args:
      args: the parsed ``argparse.Namespace`` of the ``explain`` subcommand.

    Returns:
      dict with ``class``, ``predicted``, ``convergence_delta``, ``degenerate``, ``seconds``,
      ``out``.

    Raises:
      CLIError: bad arguments (reported by :func:`main`).
    """
    # everything that can be checked without TensorFlow first
    preprocess, input_range = input_settings(args)
    check_steps(args)
    out = Path(args.out)
    if out.suffix.lower() != ".png":
        raise CLIError("--out", f"expected a .png file, received {out}")
    open_image(args.image)
    check_model_file(args.model)

    status = Status(progress_enabled(args), label="tfpath explain")
    try:
        with warnings.catch_warnings():
            # Keras 3 warns when a functional model is called on a tensor instead of a list
            warnings.filterwarnings("ignore", message=r"The structure of `inputs` doesn't")
            return _explain(args, out, preprocess, input_range, status)
    finally:
        status.close()


def _explain(args, out, preprocess, input_range, status):
    status.stage("loading TensorFlow")
    import_tensorflow()
    import numpy as np

    from tfpath import viz

    status.stage(f"loading {Path(args.model).name}")
    model = load_model(args.model)
    x, original_size = load_image(args.image, tuple(model.input_shape[1:]), input_range)

    status.stage("checking the model")
    mf, target = model_function_for(model, args.target, preprocess, x)
    try:
        outputs = np.asarray(mf.call_model(x[None]))
    except ValueError as e:
        raise CLIError("--model", one_line(e)) from None
    if outputs.ndim != 2:
        raise CLIError("--model", f"outputs shape {outputs.shape}; tfpath explain needs a "
                                  "classifier with outputs (batch, classes)")
    num_classes = outputs.shape[1]
    predicted = int(outputs[0].argmax())
    class_idx = predicted if args.class_idx is None else args.class_idx
    if not 0 <= class_idx < num_classes:
        raise CLIError("--class", f"{class_idx} is out of range; the model has {num_classes} "
                                  f"classes (valid: 0..{num_classes - 1})")

    info = METHODS[args.method]
    kwargs = info.kwargs(idgi=args.idgi, steps=args.steps)
    steps = kwargs[info.steps_argument]
    method = info.build()
    integrator = "IDGI" if args.idgi else "PAIR rule"
    status.stage(f"computing {info.title} ({integrator}, {steps} steps; the first call traces "
                 "the model)")
    start = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        warnings.filterwarnings("ignore", message=r"The structure of `inputs` doesn't")
        try:
            details = method.GetMaskWithDetails(x, mf, {"class_idx": class_idx}, **kwargs)
        except (ValueError, TypeError) as e:
            raise CLIError(f"--method {args.method}", str(e).splitlines()[0]) from None
    seconds = time.perf_counter() - start
    status.stage("writing the heatmap")
    low, high = input_range
    display = (x - low) / (high - low)
    viz.save_heatmap(details.mask, out, image=display if args.overlay else None,
                     signed=args.signed, size=original_size)
    if args.save_mask:
        np.save(args.save_mask, details.mask)
    status.close()

    end_value, start_value = float(details.end_value), float(details.start_value)
    degenerate = abs(end_value - start_value) <= DEGENERATE_RTOL * max(1.0, abs(end_value))
    for w in caught:                  # the API's own degenerate warning is said once, below
        if not (degenerate and is_degenerate_warning(w.message)):
            sys.stderr.write(f"tfpath explain: warning: {one_line(w.message)}\n")
    delta = float(details.convergence_delta)
    chosen = "predicted" if args.class_idx is None else f"given; predicted {predicted}"
    shown = f"preprocess: {preprocess}" if preprocess else f"input range: {low:g},{high:g}"
    print(f"method: {info.title} ({integrator}, {steps} steps), target: {target}, {shown}")
    print(f"class: {class_idx} ({chosen})")
    print(f"F(x) = {end_value:.6g}, F(x') = {start_value:.6g}")
    print(f"convergence delta: {delta:+.3e}  (sum of mask - (F(x) - F(x')))")
    print(f"time: {seconds:.2f} s")
    print(f"wrote {out} ({original_size[1]}x{original_size[0]})")
    if degenerate:
        sys.stderr.write(
            f"tfpath explain: warning: F(x) = F(x') = {end_value:.6g} (|F(x) - F(x')| <= "
            f"{DEGENERATE_RTOL:g}·max(1, |F(x)|)): the {target} of class {class_idx} does not "
            "change between the baseline and the image, so the attributions sum to ~0 and the "
            "map is expected to be all zero (a blank heatmap); the convergence delta of ~0 does "
            "not mean success. Typical causes: an untrained model, or a model whose output does "
            "not depend on the input; check the model's predictions, or try another --class "
            "or --target.\n")
    sys.stderr.flush()
    return {"class": class_idx, "predicted": predicted, "convergence_delta": delta,
            "degenerate": degenerate, "seconds": seconds, "out": out}


def add_parser(sub):
    """Adds the ``explain`` subcommand to ``sub`` (argparse subparsers)."""
    ex = sub.add_parser("explain", help="attribute a saved Keras model's class on one image",
                        description="Attribute a saved Keras classifier's output on one image "
                                    "and write the heatmap as PNG.")
    ex.add_argument("--model", required=True, help="saved Keras model (.keras or .h5)")
    ex.add_argument("--image", required=True, help="image file (PNG, JPEG, ...); converted to "
                                                   "the model's input size and channels")
    ex.add_argument("--method", required=True, choices=sorted(METHODS),
                    help="path method")
    ex.add_argument("--idgi", action="store_true", help="IDGI integrator instead of the "
                                                        "method's PAIR rule")
    ex.add_argument("--class", dest="class_idx", type=int, default=None,
                    help="class to explain (default: the predicted class)")
    ex.add_argument("--steps", type=int, default=None,
                    help="path steps (default: " + ", ".join(
                        f"{k} {m.default_steps}" for k, m in sorted(METHODS.items())) + ")")
    ex.add_argument("--target", choices=TARGETS, default=None,
                    help="explain the logit or the probability of the class (default: logit, "
                         "or probability for models ending in a softmax)")
    ex.add_argument("--preprocess", default=None, metavar="NAME|LOW,HIGH",
                    help="the model's preprocessing, applied inside the explained function to "
                         "pixels in 0..255 (so the map is in pixel space): a keras.applications "
                         "family (" + ", ".join(sorted(preprocessing.FAMILIES)) + ") or a "
                         "range LOW,HIGH that pixels are mapped to linearly (default: none)")
    ex.add_argument("--input-range", default=None, metavar="LOW,HIGH",
                    help="without --preprocess: the range pixel values are scaled to before "
                         "the model (default 0,1); the map is in that range")
    ex.add_argument("--out", required=True, help="output heatmap PNG (the image's size)")
    ex.add_argument("--overlay", action="store_true", help="draw the heatmap over the image")
    ex.add_argument("--signed", action="store_true",
                    help="diverging map (red positive, blue negative) instead of magnitudes")
    ex.add_argument("--save-mask", metavar="MASK.npy", default=None,
                    help="also save the raw mask (model input shape) as .npy")
    add_progress_options(ex)
    ex.set_defaults(func=explain)
