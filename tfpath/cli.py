"""The ``tfpath`` command.

::

    tfpath explain --model M.keras --image I.png --method ig|blur-ig|guided-ig|agi [--idgi]
                   [--class N] [--steps N] [--target logit|probability] --out heat.png
    tfpath demo [--out DIR] [--quick]

``explain`` loads a saved Keras model and an image, converts the image to the model's input
(channels, height, width; values scaled to ``--input-range``, default [0, 1]), attributes the
chosen class (default: the predicted one) and writes the heatmap as a PNG of the original
image's size. It prints the class, the convergence delta Σ mask − (F(x) − F(x')) and the time.

``demo`` runs :func:`tfpath.demo.run_demo`: no download; a small CNN trained once on
scikit-learn digits (cached); a PNG gallery of the path methods with and without IDGI; a table
of convergence deltas and times on stdout.

Bad input (missing file, unknown method, class out of range, an image that cannot be converted
to the model's input) exits with status 2 and one line ``tfpath <command>: error: <argument>:
<what is wrong>`` on stderr, without a traceback.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from tfpath.methods.registry import METHODS as _REGISTRY

# the path methods that need nothing beyond a model and an image
METHODS = {key: info for key, info in _REGISTRY.items()
           if info.steps_argument is not None and not info.needs}
TARGETS = ("logit", "probability")
EXIT_USAGE = 2


class CLIError(Exception):
    """A user error: reported as one line naming the argument, exit status 2."""

    def __init__(self, argument, message):
        super().__init__(f"{argument}: {message}")
        self.argument = argument


class _Parser(argparse.ArgumentParser):
    """argparse, but errors are one line (no usage block) and exit with status 2."""

    def error(self, message):
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


# ---------------------------------------------------------------------------------- explain
def load_image(path, input_shape, input_range=(0.0, 1.0)):
    """Reads an image file and converts it to a model's input.

    Args:
      path: an image file Pillow can read (PNG, JPEG, ...).
      input_shape: the model's input shape ``(H, W, C)`` (``H``/``W`` may be None: keep the
        image's size); ``C`` must be 1 (grayscale), 3 (RGB) or 4 (RGBA).
      input_range: ``(low, high)``: pixel values 0..255 are mapped linearly to this range.

    Returns:
      ``(x, original_size)``: float32 ``[H, W, C]`` and the file's ``(height, width)``.

    Raises:
      CLIError: missing or unreadable file, or a model input that no image can be converted to.
    """
    import numpy as np
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    if not path.is_file():
        raise CLIError("--image", f"file not found: {path}")
    try:
        with Image.open(path) as img:
            img.load()
            image = img.copy()
    except (UnidentifiedImageError, OSError) as e:
        raise CLIError("--image", f"cannot read {path} as an image ({e})") from None
    if len(input_shape) != 3:
        raise CLIError("--model", f"expects inputs of shape {tuple(input_shape)}; tfpath explain "
                                  "needs an image model with inputs (batch, height, width, "
                                  "channels)")
    height, width, channels = input_shape
    modes = {1: "L", 3: "RGB", 4: "RGBA"}
    if channels not in modes:
        raise CLIError("--model", f"expects images with {channels} channels; an image file can "
                                  "be converted to 1 (grayscale), 3 (RGB) or 4 (RGBA) channels")
    original_size = (image.height, image.width)
    if image.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        arr = np.asarray(image, np.float64)
        hi = arr.max() if arr.max() > 0 else 1.0
        image = Image.fromarray((255.0 * arr / hi).astype(np.uint8))
    image = image.convert(modes[channels])
    size = (width or image.width, height or image.height)
    if (image.width, image.height) != size:
        image = image.resize(size, Image.BILINEAR)
    arr = np.asarray(image, np.float32).reshape(size[1], size[0], channels) / 255.0
    low, high = input_range
    return (low + (high - low) * arr).astype(np.float32), original_size


def _parse_range(text):
    try:
        low, high = (float(v) for v in text.split(","))
    except ValueError:
        raise CLIError("--input-range", f"expected LOW,HIGH (e.g. 0,1 or -1,1), received "
                                        f"{text!r}") from None
    if not high > low:
        raise CLIError("--input-range", f"expected LOW < HIGH, received {text!r}")
    return low, high


def _load_model(path):
    path = Path(path)
    if not path.exists():
        raise CLIError("--model", f"file not found: {path}")
    import keras
    try:
        return keras.models.load_model(path, compile=False)
    except (ValueError, OSError, TypeError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise CLIError("--model", f"cannot load {path} as a Keras model ({first})") from None


def explain(args):
    """Runs ``tfpath explain``; returns the result dict (also printed).

    Args:
      args: the parsed ``argparse.Namespace`` of the ``explain`` subcommand.

    Returns:
      dict with ``class``, ``predicted``, ``convergence_delta``, ``seconds``, ``out``.

    Raises:
      CLIError: bad arguments (reported by :func:`main`).
    """
    input_range = _parse_range(args.input_range)
    if args.steps is not None and args.steps < (2 if args.idgi else 1):
        raise CLIError("--steps", f"expected an integer >= {2 if args.idgi else 1}, received "
                                  f"{args.steps}")
    out = Path(args.out)
    if out.suffix.lower() != ".png":
        raise CLIError("--out", f"expected a .png file, received {out}")
    if not Path(args.image).is_file():
        raise CLIError("--image", f"file not found: {args.image}")
    model = _load_model(args.model)
    x, original_size = load_image(args.image, tuple(model.input_shape[1:]), input_range)

    import numpy as np
    import tfpath
    from tfpath import viz
    from tfpath.core.keras_utils import infer_output_kind

    kind = infer_output_kind(model)
    target = args.target or ("probability" if kind == "probabilities" else "logit")
    try:
        mf = tfpath.ModelFunction(model, target=target)
    except ValueError as e:
        raise CLIError("--target", str(e)) from None
    outputs = np.asarray(mf.call_model(x[None]))
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
    start = time.perf_counter()
    try:
        details = method.GetMaskWithDetails(x, mf, {"class_idx": class_idx}, **kwargs)
    except (ValueError, TypeError) as e:
        raise CLIError(f"--method {args.method}", str(e).splitlines()[0]) from None
    seconds = time.perf_counter() - start
    viz.save_heatmap(details.mask, out, image=x if args.overlay else None, signed=args.signed,
                     size=original_size)
    if args.save_mask:
        np.save(args.save_mask, details.mask)
    delta = float(details.convergence_delta)
    name = info.title
    integrator = "IDGI" if args.idgi else "PAIR rule"
    chosen = "predicted" if args.class_idx is None else f"given; predicted {predicted}"
    print(f"method: {name} ({integrator}, {steps} steps), target: {target}")
    print(f"class: {class_idx} ({chosen})")
    print(f"F(x) = {float(details.end_value):.6g}, F(x') = {float(details.start_value):.6g}")
    print(f"convergence delta: {delta:+.3e}  (sum of mask - (F(x) - F(x')))")
    print(f"time: {seconds:.2f} s")
    print(f"wrote {out} ({original_size[1]}x{original_size[0]})")
    return {"class": class_idx, "predicted": predicted, "convergence_delta": delta,
            "seconds": seconds, "out": out}


# ---------------------------------------------------------------------------------- demo
def demo(args):
    """Runs ``tfpath demo``; prints the tables; returns :func:`tfpath.demo.run_demo`'s dict.

    Args:
      args: the parsed ``argparse.Namespace`` of the ``demo`` subcommand.

    Returns:
      The dict of :func:`tfpath.demo.run_demo`.

    Raises:
      CLIError: ``--out`` exists and is not a directory.
    """
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise CLIError("--out", f"{out} exists and is not a directory")
    from tfpath.demo import TABLE_COLUMNS, format_table, run_demo
    result = run_demo(out, quick=args.quick, progress=not args.no_progress)
    print(f"Convergence delta (sum of mask - (F(x) - F(x'))) and time per method on "
          f"{len(result['examples'])} test digits (test accuracy {result['test_accuracy']:.3f}); "
          "'first call' includes tf.function tracing:")
    print(format_table(result["rows"], TABLE_COLUMNS))
    if result["uncertainty_rows"]:
        print()
        print("Uncertainty attributions:")
        print(format_table(result["uncertainty_rows"]))
    print()
    for name, path in result["paths"].items():
        if path is not None:
            print(f"{name}: {path}")
    return result


def build_parser():
    """The ``tfpath`` argument parser (subcommands ``explain`` and ``demo``).

    Returns:
      ``argparse.ArgumentParser``.
    """
    parser = _Parser(prog="tfpath", description="Path attributions (IG, Blur IG, Guided IG, "
                                                "IDGI) for Keras models.")
    sub = parser.add_subparsers(dest="command", metavar="{explain,demo}", parser_class=_Parser)
    sub.required = True

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
    ex.add_argument("--input-range", default="0,1", metavar="LOW,HIGH",
                    help="range the model expects pixel values in (default 0,1)")
    ex.add_argument("--out", required=True, help="output heatmap PNG (the image's size)")
    ex.add_argument("--overlay", action="store_true", help="draw the heatmap over the image")
    ex.add_argument("--signed", action="store_true",
                    help="diverging map (red positive, blue negative) instead of magnitudes")
    ex.add_argument("--save-mask", metavar="MASK.npy", default=None,
                    help="also save the raw mask (model input shape) as .npy")
    ex.set_defaults(func=explain)

    de = sub.add_parser("demo", help="offline demo on scikit-learn digits",
                        description="Train (once, cached) a small CNN on scikit-learn digits and "
                                    "compare path methods with and without IDGI.")
    de.add_argument("--out", default="tfpath_demo", help="output directory (default "
                                                         "./tfpath_demo)")
    de.add_argument("--quick", action="store_true", help="fewer digits and steps (seconds)")
    de.add_argument("--no-progress", action="store_true", help="no progress lines on stderr")
    de.set_defaults(func=demo)
    return parser


def main(argv=None):
    """Entry point of the ``tfpath`` command.

    Args:
      argv: arguments without the program name (default ``sys.argv[1:]``).

    Returns:
      0 on success (also the process exit status when run as a script).

    Raises:
      SystemExit: status 2 on bad input, after printing one line naming the argument.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        args.func(args)
    except CLIError as e:
        sys.stderr.write(f"tfpath {args.command}: error: {e}\n")
        raise SystemExit(EXIT_USAGE) from None
    return 0


if __name__ == "__main__":
    sys.exit(main())
