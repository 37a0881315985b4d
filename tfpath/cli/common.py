"""What the ``tfpath`` commands share: argument errors, the quiet TensorFlow import, the status
line, and loading models and images in command-line terms.

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
from pathlib import Path

from tfpath import preprocessing
from tfpath.methods import registry

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


class Parser(argparse.ArgumentParser):
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


def progress_enabled(args):
    if getattr(args, "progress", None) is not None:
        return args.progress
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


def add_progress_options(parser):
    """``--progress`` / ``--no-progress`` (default: a progress display when stderr is a
    terminal)."""
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--progress", dest="progress", action="store_true", default=None,
                       help="show progress on stderr even when it is not a terminal")
    group.add_argument("--no-progress", dest="progress", action="store_false",
                       help="no progress display (default: shown when stderr is a terminal)")


# ---------------------------------------------------------------------------------- models, images
def open_image(path):
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

    image = open_image(path)
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


def parse_range(text, argument="--input-range"):
    try:
        return preprocessing.parse_range(text)
    except ValueError as e:
        raise CLIError(argument, str(e)) from None


def check_preprocess(text):
    try:
        preprocessing.check_spec(text)
    except ValueError as e:
        raise CLIError("--preprocess", str(e)) from None
    return text


HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"


def input_settings(args):
    """``(preprocess, input_range)`` of ``--preprocess`` / ``--input-range``: the model's
    preprocessing with pixels kept in 0..255, or the range pixels are scaled to (default 0,1).

    Raises:
      CLIError naming the option: both given, or a bad value.
    """
    if args.preprocess is not None and args.input_range is not None:
        raise CLIError("--preprocess", "give either --preprocess (the model's preprocessing, "
                                       "pixels kept in 0..255) or --input-range (pixels scaled "
                                       "before the model), not both")
    preprocess = None if args.preprocess is None else check_preprocess(args.preprocess)
    input_range = ((0.0, 255.0) if preprocess is not None
                   else parse_range(args.input_range or "0,1"))
    return preprocess, input_range


def check_steps(args):
    """Raises CLIError naming ``--steps`` when it is below the method's minimum (2 with
    ``--idgi``, else 1)."""
    if args.steps is not None and args.steps < (2 if args.idgi else 1):
        raise CLIError("--steps", f"expected an integer >= {2 if args.idgi else 1}, received "
                                  f"{args.steps}")


def check_model_file(path):
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


def load_model(path):
    path = check_model_file(path)
    import keras
    try:
        return keras.models.load_model(path, compile=False)
    except (ValueError, OSError, TypeError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise CLIError("--model", f"cannot load {path} as a Keras model ({first})") from None


def _logit_error(reason):
    return CLIError("--target", f"--target logit needs the model's pre-softmax logits; {reason}: "
                                "use --target probability")


def model_function_for(model, requested, preprocess, x):
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


def one_line(message):
    return " ".join(str(message).split())


def is_degenerate_warning(message):
    return "degenerate" in str(message).lower()
