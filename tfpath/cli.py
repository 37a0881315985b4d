"""The ``tfpath`` command.

::

    tfpath explain --model M.keras --image I.png --method ig|blur-ig|guided-ig|agi [--idgi]
                   [--class N] [--steps N] [--target logit|probability]
                   [--preprocess NAME|LOW,HIGH | --input-range LOW,HIGH] --out heat.png
    tfpath demo [--out DIR] [--quick]

``explain`` loads a saved Keras model and an image, converts the image to the model's input
(channels, height, width) and attributes the chosen class (default: the predicted one). Pixel
values are either scaled to ``--input-range`` (default [0, 1]) and explained in that range, or,
with ``--preprocess NAME|LOW,HIGH``, kept in [0, 255] and passed through the preprocessing
inside the explained function (:mod:`tfpath.preprocessing`: a ``keras.applications`` family or a
linear range), so the map is in pixel space. It writes the heatmap as a PNG of the original
image's size and prints the class, the convergence delta Σ mask − (F(x) − F(x')) and the time;
when F(x) = F(x') it warns on stderr that the map is expected to be all zero. A progress line is
shown on stderr when it is a terminal (``--no-progress`` / ``--progress`` force it off / on).

``demo`` runs :func:`tfpath.demo.run_demo`: no download; a small CNN trained once on
scikit-learn digits (cached); a PNG gallery of the path methods with and without IDGI; a table
of convergence deltas and times on stdout.

Bad input (missing file, a file that is not a Keras model, unknown method, class out of range, a
target the model cannot give, an image that cannot be converted to the model's input) exits
with status 2 and one line ``tfpath <command>: error: <argument>: <what is wrong>`` on stderr,
without a traceback.

Start-up: this module imports neither TensorFlow nor tfpath's methods; they are imported by the
command functions after argparse has checked the arguments, so ``tfpath --help`` and argument
errors take a fraction of a second. TensorFlow's C++ start-up lines (oneDNN, CUDA stubs,
``cuInit``) are silenced: ``TF_CPP_MIN_LOG_LEVEL=3`` is set before TensorFlow loads (unless the
user chose a level below 2), and the lines that TensorFlow prints before its logging is
initialised (which ignore that variable) are filtered out of stderr during the import; any other
line is still shown.
"""
from __future__ import annotations

import argparse
import contextlib
import importlib.util
import os
import re
import sys
import tempfile
import threading
import time
import warnings
from pathlib import Path

from tfpath import preprocessing
from tfpath.methods import registry


# the path methods that need nothing beyond a model and an image
METHODS = {key: info for key, info in registry.METHODS.items()
           if info.steps_argument is not None and not info.needs}
TARGETS = ("logit", "probability")
EXIT_USAGE = 2
# options whose value may start with "-" ("--input-range -1,1")
RANGE_OPTIONS = ("--input-range", "--preprocess")
# |F(x) - F(x')| <= DEGENERATE_RTOL * max(1, |F(x)|): the map is expected to be all zero
DEGENERATE_RTOL = 1e-6


class CLIError(Exception):
    """A user error: reported as one line naming the argument, exit status 2."""

    def __init__(self, argument, message):
        super().__init__(f"{argument}: {message}")
        self.argument = argument


def join_option_values(argv):
    """``["--input-range", "-1,1"]`` -> ``["--input-range=-1,1"]`` (for every RANGE_OPTIONS).

    argparse takes a value that starts with ``-`` and is not a plain negative number for an
    option, so ``--input-range -1,1`` would fail with "expected one argument".

    Args:
      argv: the argument list.

    Returns:
      A new list; tokens after ``--`` are left alone.
    """
    out, i, argv = [], 0, list(argv)
    while i < len(argv):
        token = argv[i]
        if token == "--":
            out.extend(argv[i:])
            break
        if (token in RANGE_OPTIONS and i + 1 < len(argv)
                and re.match(r"-[\d.]", argv[i + 1])):
            out.append(f"{token}={argv[i + 1]}")
            i += 2
            continue
        out.append(token)
        i += 1
    return out


class _Parser(argparse.ArgumentParser):
    """argparse, but errors are one line (no usage block) and exit with status 2; values of
    RANGE_OPTIONS may start with ``-``."""

    def parse_known_args(self, args=None, namespace=None):
        args = sys.argv[1:] if args is None else args
        return super().parse_known_args(join_option_values(args), namespace)

    def error(self, message):
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


# ---------------------------------------------------------------------------------- start-up
# lines TensorFlow writes to stderr before absl logging is initialised (they ignore
# TF_CPP_MIN_LOG_LEVEL): "WARNING: All log messages before absl::InitializeLog() ..." and
# INFO / WARNING records such as "I0000 00:00:... port.cc:153] oneDNN custom operations ..."
_STARTUP_NOISE = re.compile(r"^(WARNING: All log messages before absl::InitializeLog\(\)"
                            r"|[IW]\d{4} [\d:.]+\s+\d+ \S+:\d+\] )")


@contextlib.contextmanager
def _filtered_stderr_fd():
    """Sends file descriptor 2 to a temporary file and replays it without TF's start-up lines."""
    try:
        fd = sys.stderr.fileno()
        sys.stderr.flush()
    except (AttributeError, OSError, ValueError):
        fd = 2
    try:
        saved = os.dup(fd)
    except OSError:                                          # pragma: no cover - no stderr
        yield
        return
    with tempfile.TemporaryFile(mode="w+b") as capture:
        os.dup2(capture.fileno(), fd)
        try:
            yield
        finally:
            os.dup2(saved, fd)
            os.close(saved)
            capture.seek(0)
            kept = [line for line in capture.read().decode("utf-8", "replace").splitlines()
                    if line.strip() and not _STARTUP_NOISE.match(line)]
            if kept:
                sys.stderr.write("\n".join(kept) + "\n")
                sys.stderr.flush()


def import_tensorflow():
    """Imports TensorFlow and Keras quietly (see the module docstring); returns ``tf``."""
    if "tensorflow" in sys.modules:
        import tensorflow as tf
    else:
        if os.environ.get("TF_CPP_MIN_LOG_LEVEL", "2") in ("2", ""):
            os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"     # also hides the E-level cuInit line
        with _filtered_stderr_fd():
            import tensorflow as tf
            importlib.import_module("keras")
    tf.get_logger().setLevel("ERROR")
    try:
        from absl import logging as absl_logging
        absl_logging.set_verbosity(absl_logging.ERROR)
    except ImportError:                                      # pragma: no cover
        pass
    return tf


class Status:
    """A one-line progress display on stderr: the current stage and the elapsed seconds.

    A background thread redraws the line (``\\r``) every ``interval`` seconds while a stage
    runs; the engine gives no per-step callback, so this shows what is running and for how long.

    Args:
      enabled: False makes every call a no-op.
      label: text in front of the stage.
      interval: seconds between redraws.
    """

    def __init__(self, enabled, label="tfpath", interval=0.5):
        self.enabled, self.label, self.interval = bool(enabled), label, interval
        self._stage, self._start = "", time.perf_counter()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = None
        self._width = 0
        self._stream = None
        if self.enabled:
            try:       # a copy of stderr's descriptor: still the terminal while TF's is filtered
                self._stream = os.fdopen(os.dup(sys.stderr.fileno()), "w", buffering=1)
            except (AttributeError, OSError, ValueError):
                self._stream = sys.stderr

    def stage(self, text):
        """Starts showing ``text`` (and starts the redraw thread on first use)."""
        if not self.enabled:
            return
        with self._lock:
            self._stage = text
        self._draw()
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, daemon=True)
            self._thread.start()

    def _run(self):
        while not self._stop.wait(self.interval):
            self._draw()

    def _draw(self):
        with self._lock:
            line = f"[{self.label}] {self._stage} ... {time.perf_counter() - self._start:.1f} s"
            pad = max(self._width - len(line), 0)
            self._width = len(line)
            self._stream.write("\r" + line + " " * pad)
            self._stream.flush()

    def close(self):
        """Stops the display and clears its line."""
        if not self.enabled:
            return
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        with self._lock:
            self._stream.write("\r" + " " * self._width + "\r")
            self._stream.flush()
            if self._stream is not sys.stderr:
                self._stream.close()
        self.enabled = False


def _progress_enabled(args):
    if getattr(args, "progress", None) is not None:
        return args.progress
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


# ---------------------------------------------------------------------------------- explain
def _open_image(path):
    from PIL import Image, UnidentifiedImageError
    path = Path(path)
    if not path.is_file():
        raise CLIError("--image", f"file not found: {path}")
    try:
        with Image.open(path) as img:
            img.load()
            return img.copy()
    except (UnidentifiedImageError, OSError) as e:
        raise CLIError("--image", f"cannot read {path} as an image ({e})") from None


def load_image(path, input_shape, input_range=(0.0, 1.0)):
    """Reads an image file and converts it to a model's input.

    Args:
      path: an image file Pillow can read (PNG, JPEG, ...).
      input_shape: the model's input shape ``(H, W, C)`` (``H``/``W`` may be None: keep the
        image's size); ``C`` must be 1 (grayscale), 3 (RGB) or 4 (RGBA).
      input_range: ``(low, high)``: pixel values 0..255 are mapped linearly to this range
        (``(0, 255)`` keeps the pixel values).

    Returns:
      ``(x, original_size)``: float32 ``[H, W, C]`` and the file's ``(height, width)``.

    Raises:
      CLIError: missing or unreadable file, or a model input that no image can be converted to.
    """
    import numpy as np
    from PIL import Image

    image = _open_image(path)
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


def _parse_range(text, argument="--input-range"):
    try:
        return preprocessing.parse_range(text)
    except ValueError as e:
        raise CLIError(argument, str(e)) from None


def _check_preprocess(text):
    try:
        preprocessing.check_spec(text)
    except ValueError as e:
        raise CLIError("--preprocess", str(e)) from None
    return text


HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"


def _check_model_file(path):
    """Rejects what cannot be a saved Keras model before TensorFlow is imported.

    Keras 3 reads ``.keras`` files (zip archives) and legacy ``.h5`` / ``.hdf5`` files (HDF5);
    for other files it answers "File format not supported", and for a ``.keras`` file that is
    not a zip archive "File not found", which misleads.
    """
    import zipfile
    path = Path(path)
    if not path.exists():
        raise CLIError("--model", f"file not found: {path}")
    if path.is_dir():
        raise CLIError("--model", f"{path} is a directory, not a Keras model file; expected a "
                                  ".keras or .h5 file written by model.save (Keras 3 does not "
                                  "load TensorFlow SavedModel directories)")
    suffix = path.suffix.lower()
    with open(path, "rb") as f:
        head = f.read(8)
    is_zip, is_hdf5 = zipfile.is_zipfile(path), head == HDF5_SIGNATURE
    if suffix == ".keras" and is_zip or suffix in (".h5", ".hdf5") and is_hdf5:
        return path
    if suffix == ".keras":
        what = "not a zip archive"
    elif suffix in (".h5", ".hdf5"):
        what = "not an HDF5 file"
    else:
        what = f"a {suffix or 'suffix-less'} file"
    raise CLIError("--model", f"{path} is not a Keras model file ({what}); expected a .keras or "
                              ".h5 file written by model.save")


def _load_model(path):
    path = _check_model_file(path)
    import keras
    try:
        return keras.models.load_model(path, compile=False)
    except (ValueError, OSError, TypeError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise CLIError("--model", f"cannot load {path} as a Keras model ({first})") from None


def _logit_error(reason):
    return CLIError("--target", f"--target logit needs the model's pre-softmax logits; {reason}: "
                                "use --target probability")


def _model_function(model, requested, preprocess, x):
    """The ModelFunction of ``--target``, with errors in command-line terms.

    ``requested`` is None (the default: logit, or probability for models that end in a
    softmax), "logit" or "probability". A model whose outputs are probabilities although its
    last layer is not a softmax (e.g. a Reshape after it) is explained as probabilities.

    Returns:
      ``(model_function, target name)``.
    """
    import numpy as np

    import tfpath
    from tfpath.core.keras_utils import infer_output_kind

    kind = infer_output_kind(model)
    target = requested or ("probability" if kind == "probabilities" else "logit")
    try:
        mf = tfpath.ModelFunction(model, target=target, preprocess=preprocess)
    except ValueError as e:
        message = str(e).split(". Use target=")[0]
        if target == "logit" and "softmax" in message:
            raise _logit_error(message.removeprefix("model: ")) from None
        raise CLIError("--target", message) from None
    try:
        mf.check_outputs(x[None], np.zeros(1, np.int64))
    except ValueError as e:
        text = str(e)
        if not text.startswith("output:"):
            return mf, target        # other problems are reported with the outputs or class
        if "look like probabilities" not in text:
            raise CLIError("--model", "its last layer applies a softmax but its outputs do "
                                      "not sum to 1 over the classes") from None
        if requested == "logit":
            raise _logit_error("this model's outputs are probabilities (non-negative, summing "
                               "to 1) but its last layer is not a softmax that tfpath can "
                               "split off") from None
        target = "probability"
        mf = tfpath.ModelFunction(model, target=target, output="probabilities",
                                  preprocess=preprocess)
    except (IndexError, TypeError):
        pass
    return mf, target


def _one_line(message):
    return " ".join(str(message).split())


def _is_degenerate_warning(message):
    return "degenerate" in str(message).lower()


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
    if args.preprocess is not None and args.input_range is not None:
        raise CLIError("--preprocess", "give either --preprocess (the model's preprocessing, "
                                       "pixels kept in 0..255) or --input-range (pixels scaled "
                                       "before the model), not both")
    preprocess = None if args.preprocess is None else _check_preprocess(args.preprocess)
    input_range = ((0.0, 255.0) if preprocess is not None
                   else _parse_range(args.input_range or "0,1"))
    if args.steps is not None and args.steps < (2 if args.idgi else 1):
        raise CLIError("--steps", f"expected an integer >= {2 if args.idgi else 1}, received "
                                  f"{args.steps}")
    out = Path(args.out)
    if out.suffix.lower() != ".png":
        raise CLIError("--out", f"expected a .png file, received {out}")
    _open_image(args.image)
    _check_model_file(args.model)

    status = Status(_progress_enabled(args), label="tfpath explain")
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
    model = _load_model(args.model)
    x, original_size = load_image(args.image, tuple(model.input_shape[1:]), input_range)

    status.stage("checking the model")
    mf, target = _model_function(model, args.target, preprocess, x)
    try:
        outputs = np.asarray(mf.call_model(x[None]))
    except ValueError as e:
        raise CLIError("--model", _one_line(e)) from None
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
        if not (degenerate and _is_degenerate_warning(w.message)):
            sys.stderr.write(f"tfpath explain: warning: {_one_line(w.message)}\n")
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
    progress = ex.add_mutually_exclusive_group()
    progress.add_argument("--progress", dest="progress", action="store_true", default=None,
                          help="show the progress line on stderr even when it is not a "
                               "terminal")
    progress.add_argument("--no-progress", dest="progress", action="store_false",
                          help="no progress line (default: shown when stderr is a terminal)")
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
