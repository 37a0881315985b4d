"""Shared machinery of the metrics: argument checks, saliency maps, batched scoring, pixel
ranking, perturbed-image construction and curve areas.

Every perturbation metric of :mod:`tfpath.metrics` is the same three steps:

1. reduce the attribution ``[n, H, W, C]`` to a saliency map ``[n, H, W]``
   (:func:`saliency_maps`);
2. rank pixels (or superpixels) by saliency (:func:`unit_ranks`) and build, for each fraction,
   an image that keeps some units of the input and fills the rest (:func:`perturbed_scores`);
3. score all those images in large batches (:class:`Scorer`).
"""
from __future__ import annotations

import sys
import weakref
from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from tfpath.core import validation

REDUCTIONS = ("abs_sum", "sum", "max_abs")
FILLS = ("black", "white", "blur", "mean")


# ------------------------------------------------------------------------------------ results
@dataclass
class MetricResult:
    """A metric over a batch of inputs.

    Attributes:
      name: the metric's name (``"insertion"``, ``"sic"`` ...).
      value: the aggregate score (usually the mean of ``per_image``; see each metric).
      per_image: one score per input, float64 ``[n]`` (NaN for inputs a metric skips, e.g. PIC's
        filtered images).
      standard_error: standard error of ``value`` (``std / sqrt(n)`` over the valid inputs for
        means; bootstrap for medians).
      higher_is_better: the metric's direction.
      x: the curve's x-axis ``[k]`` (curve metrics), else None.
      curves: per-input curves ``[n, k]``, else None.
      curve: the aggregate curve ``[k]``, else None.
      extra: metric-specific arrays (e.g. raw scores, accuracies).
    """

    name: str
    value: float
    per_image: np.ndarray
    standard_error: float
    higher_is_better: bool = True
    x: Optional[np.ndarray] = None
    curves: Optional[np.ndarray] = None
    curve: Optional[np.ndarray] = None
    extra: dict = field(default_factory=dict)

    def __repr__(self):
        return (f"MetricResult({self.name}: {self.value:.4f} ± {self.standard_error:.4f}, "
                f"n={int(np.sum(np.isfinite(self.per_image)))})")


def standard_error(values) -> float:
    """``std(ddof=1) / sqrt(n)`` over the finite entries (0 for fewer than two)."""
    v = np.asarray(values, np.float64)
    v = v[np.isfinite(v)]
    if v.size < 2:
        return 0.0
    return float(np.std(v, ddof=1) / np.sqrt(v.size))


def mean_result(name, per_image, higher_is_better=True, **kwargs) -> MetricResult:
    """A :class:`MetricResult` whose value is the mean of the finite per-image scores."""
    per_image = np.asarray(per_image, np.float64)
    finite = per_image[np.isfinite(per_image)]
    value = float(np.mean(finite)) if finite.size else float("nan")
    return MetricResult(name, value, per_image, standard_error(per_image), higher_is_better,
                        **kwargs)


# ------------------------------------------------------------------------------------ checks
def check_images(images, value_range=(0.0, 1.0), name="images"):
    """Returns ``images`` as float32 NHWC ``[n, H, W, C]`` inside ``value_range``.

    Args:
      images: a batch ``[n, H, W, C]`` (``[n, H, W]`` gains a channel axis).
      value_range: ``(low, high)`` the inputs must lie in (the model's input scaling); None
        skips the range check.

    Raises:
      TypeError: not a float array. ValueError: wrong rank, empty, NaN/inf, values outside
        ``value_range`` (e.g. 0..255 images given to a metric expecting 0..1).
    """
    x = validation.check_array(images, name, min_rank=3)
    if x.ndim == 3:
        x = x[..., None]
    if x.ndim != 4:
        raise ValueError(f"{name}: expected a batch of images [n, H, W, C], received shape "
                         f"{x.shape}")
    if value_range is not None:
        low, high = check_value_range(value_range)
        lo, hi = float(x.min()), float(x.max())
        tol = 1e-5 * max(1.0, high - low)
        if lo < low - tol or hi > high + tol:
            raise ValueError(
                f"{name}: values must lie in value_range [{low:g}, {high:g}], received values in "
                f"[{lo:g}, {hi:g}]. Scale the images (e.g. x / 255.) or pass the model's input "
                "range as value_range=(low, high).")
    return x


def check_value_range(value_range):
    """Returns ``(low, high)`` floats with ``low < high``; raises ValueError naming it."""
    try:
        low, high = (float(v) for v in value_range)
    except (TypeError, ValueError):
        raise ValueError(f"value_range: expected (low, high), received {value_range!r}") from None
    if not (np.isfinite(low) and np.isfinite(high) and low < high):
        raise ValueError(f"value_range: expected finite low < high, received {value_range!r}")
    return low, high


def check_class_idx(class_idx, n, name="class_idx", required=False):
    """One int per input ``[n]`` (an int is broadcast), or None."""
    if class_idx is None:
        if required:
            raise ValueError(f"{name}: this metric needs one class per input; received None")
        return None
    return validation.check_class_indices(class_idx, n, name)


def check_choice(value, choices, name):
    """Returns ``value`` if it is one of ``choices``.

    Args:
      value: the argument given (e.g. a reduction name).
      choices: the allowed values.
      name: the argument's name, used in the error message.

    Returns:
      ``value`` unchanged.

    Raises:
      ValueError: ``value`` not in ``choices``; the message names ``name`` and lists them.
    """
    if value not in choices:
        raise ValueError(f"{name}: expected one of {tuple(choices)}, received {value!r}")
    return value


def check_fractions(fractions, name="fractions"):
    """Pixel fractions as a flat float64 array.

    Args:
      fractions: a number or a sequence/array of numbers in [0, 1] (any shape; flattened).
      name: the argument's name, used in error messages.

    Returns:
      float64 array ``[k]``, in the given order (not sorted, duplicates kept).

    Raises:
      ValueError naming ``name``: empty, NaN/inf, or a value outside [0, 1].
    """
    f = np.asarray(fractions, np.float64).reshape(-1)
    if f.size == 0:
        raise ValueError(f"{name}: is empty; expected at least one fraction")
    if not np.all(np.isfinite(f)) or f.min() < 0 or f.max() > 1:
        raise ValueError(f"{name}: expected fractions in [0, 1], received {f.tolist()}")
    return f


def reduce_channels(a, reduce="abs_sum", name="reduce"):
    """The one channel reduction of tfpath (metrics and :func:`tfpath.viz.reduce_channels`):
    reduces the last axis of ``a``, in float64.

    Args:
      a: a finite numeric array ``[..., C]``.
      reduce: ``"abs_sum"`` (Σ_c |a|, PAIR's grayscale reduction), ``"sum"`` (Σ_c a, signed)
        or ``"max_abs"`` (max_c |a|); see :data:`REDUCTIONS`.
      name: the argument name used in the error message.

    Returns:
      float64 array ``a.shape[:-1]``.

    Raises:
      ValueError naming ``name``: unknown ``reduce``.
    """
    check_choice(reduce, REDUCTIONS, name)
    a = np.asarray(a, np.float64)
    if reduce == "abs_sum":
        return np.abs(a).sum(axis=-1)
    if reduce == "sum":
        return a.sum(axis=-1)
    return np.abs(a).max(axis=-1)


def saliency_maps(attributions, shape, reduce="abs_sum", name="attributions"):
    """Reduces attributions to one saliency value per pixel, ``[n, H, W]`` float64.

    spec_004 §5 leaves the channel reduction open; ``"abs_sum"`` (Σ_c |a|) is PAIR's
    visualisation and the default here; ``"sum"`` is the signed sum (TMLR reproduction, and
    what EIC/URC need, since their order depends on the sign); ``"max_abs"`` is max_c |a|.

    Args:
      attributions: ``[n, H, W, C]`` (the images' shape) or already-reduced maps ``[n, H, W]``.
      shape: the images' shape ``(n, H, W, C)``.
      reduce: one of :data:`REDUCTIONS`.

    Raises:
      ValueError: another shape, NaN/inf, empty; unknown ``reduce``.
    """
    check_choice(reduce, REDUCTIONS, "reduce")
    a = validation.check_array(attributions, name, min_rank=3).astype(np.float64)
    shape = tuple(shape)
    if a.shape == shape:
        return reduce_channels(a, reduce)
    if a.shape == shape[:3]:
        return a
    raise ValueError(f"{name}: expected the images' shape {shape} or the maps' shape "
                     f"{shape[:3]}, received {tuple(a.shape)}")


def check_masks(masks, shape, name="masks"):
    """Ground-truth masks as bool ``[n, H, W]`` (``[n, H, W, 1]`` and the images' shape accepted;
    a pixel is positive if any channel is)."""
    m = np.asarray(masks)
    if m.size == 0:
        raise ValueError(f"{name}: is empty (shape {m.shape})")
    if m.dtype != bool:
        if not np.issubdtype(m.dtype, np.number) or not np.all(np.isfinite(m)):
            raise ValueError(f"{name}: expected a boolean or 0/1 array without NaN")
        m = m > 0.5
    n, h, w = tuple(shape)[:3]
    if m.shape == (n, h, w):
        return m
    if m.ndim == 4 and m.shape[:3] == (n, h, w):
        return m.any(axis=-1)
    raise ValueError(f"{name}: expected shape {(n, h, w)} (one mask per image), received "
                     f"{tuple(m.shape)}")


# ------------------------------------------------------------------------------------ scoring
class Scorer:
    """Evaluates a model (no gradient) on many images in chunks of ``batch_size``.

    Args:
      model: a :class:`tfpath.ModelFunction` (its target is used, or ``target`` if given); a
        Keras model (wrapped in a ModelFunction with ``target``, default ``"score"``: the
        model's own output column); or any callable ``fn(images) -> [n]`` or ``[n, K]`` NumPy
        outputs (e.g. an uncertainty function); for ``[n, K]`` outputs column ``class_idx`` is
        the score and the argmax the predicted class.
      target: optional target for Keras models and ModelFunctions (``"probability"`` ...).
      batch_size: images per model call.
      default_target: the metric's target when ``target`` is None (e.g. SIC's
        ``"probability"``); plain callables ignore it (their outputs are the scores).

    Calling it, ``scorer(x, class_idx) -> (values [n] float64, predicted [n] int or None)``.
    """

    def __init__(self, model, target=None, batch_size=256, default_target=None):
        from tfpath.core.keras_utils import is_keras_model
        from tfpath.core.model_function import ModelFunction
        self.batch_size = validation.check_positive_int(batch_size, "batch_size")
        self._mf = None
        self._fn = None
        if isinstance(model, ModelFunction):
            target = target if target is not None else default_target
            self._mf = model if target is None else _retargeted(
                model, target, lambda: ModelFunction(model.model, target=target,
                                                     output=model.output_kind))
        elif is_keras_model(model):
            target = target if target is not None else default_target
            target = "score" if target is None else target
            self._mf = _retargeted(model, target,
                                   lambda: ModelFunction(model, target=target))
        elif callable(model):
            if target not in (None, "score"):
                raise ValueError(
                    f"target: a plain callable model gives NumPy scores; target {target!r} needs "
                    "tfpath.ModelFunction(model, output=...) to know what the outputs are")
            self._fn = model
        else:
            raise TypeError("model: expected a tfpath.ModelFunction, a Keras model or a callable "
                            f"fn(images) -> scores, received {type(model).__name__}")
        self._checked = False

    @property
    def needs_class(self):
        return self._mf is not None and self._mf.target.needs_class

    def _chunk(self, x, c):
        if self._mf is not None:
            if not self._checked:
                self._mf.check_outputs(x[:1], None if c is None else c[:1])
                self._checked = True
            values, out = self._mf.compiled("values_and_outputs", x, c)
            return values.numpy(), out.numpy()
        out = np.asarray(self._fn(x), np.float64)
        if out.shape[:1] != (x.shape[0],):
            raise ValueError(f"model: expected outputs with one row per image ({x.shape[0]}), "
                             f"received shape {out.shape}")
        if not np.all(np.isfinite(out)):
            raise ValueError("model: produced NaN or inf outputs")
        if out.ndim == 1 or (out.ndim == 2 and out.shape[1] == 1 and c is None):
            return out.reshape(-1), out
        if c is None:
            raise ValueError("class_idx: the model outputs one score per class (shape "
                             f"{out.shape}); pass the class to score")
        return out[np.arange(out.shape[0]), c], out

    def __call__(self, x, class_idx=None):
        n = x.shape[0]
        values, predicted = [], []
        for s in range(0, n, self.batch_size):
            c = None if class_idx is None else class_idx[s:s + self.batch_size]
            v, out = self._chunk(np.ascontiguousarray(x[s:s + self.batch_size], np.float32), c)
            values.append(np.asarray(v, np.float64).reshape(-1))
            predicted.append(_argmax(out))
        pred = None if any(p is None for p in predicted) else np.concatenate(predicted)
        return np.concatenate(values), pred


#: original ModelFunction (or Keras model) -> {target key: (target, derived ModelFunction)}
_RETARGETED = weakref.WeakKeyDictionary()


def _retargeted(model, target, build):
    """The ModelFunction of ``model`` with ``target``, built once by ``build()`` and reused.

    A metric that re-targets a model (SIC's probability, a Keras model's score) used to build a
    new ModelFunction per call, so every call traced its ``tf.function`` again. The derived
    ModelFunction is memoised per (original ``model``, target) in a weak dictionary (it lives
    as long as ``model``), so repeated metric calls reuse its compiled calls. Names are keyed
    case-insensitively, other targets (Target instances, callables) by identity (the entry
    keeps the target alive, so its id cannot be reused).

    Args:
      model: the original ModelFunction or Keras model (weakly referenced).
      target: a target name, :class:`tfpath.targets.Target` or callable.
      build: ``() -> ModelFunction``, called on a cache miss.

    Returns:
      The derived :class:`tfpath.ModelFunction`.
    """
    key = ("name", target.lower()) if isinstance(target, str) else ("id", id(target))
    try:
        per_model = _RETARGETED.setdefault(model, {})
    except TypeError:                      # not weakly referenceable / not hashable: no cache
        return build()
    hit = per_model.get(key)
    if hit is None:
        hit = per_model[key] = (target, build())
    return hit[1]


def _argmax(outputs):
    out = np.asarray(outputs)
    if out.ndim == 3:          # Bayesian [n, S, K]: predicted class of the mean prediction
        out = out.mean(axis=1)
    if out.ndim == 2 and out.shape[1] > 1:
        return out.argmax(axis=1)
    return None


# ------------------------------------------------------------------------------------ ranking
def segment_labels(segments, n, h, w):
    """Unit labels ``[n, H·W]`` (0..U_i-1) and unit counts ``[n]``.

    Args:
      segments: None (every pixel is a unit); an int ``s`` (``s × s`` square patches); or an
        int array of labels ``[H, W]`` or ``[n, H, W]`` (e.g. SLIC superpixels), relabelled to
        0..U-1 per image.
    """
    if segments is None:
        labels = np.broadcast_to(np.arange(h * w), (n, h * w))
        return labels, np.full([n], h * w)
    if isinstance(segments, (int, np.integer)) and not isinstance(segments, bool):
        s = validation.check_positive_int(int(segments), "segments")
        rows, cols = np.meshgrid(np.arange(h) // s, np.arange(w) // s, indexing="ij")
        lab = (rows * (-(-w // s)) + cols).reshape(-1)
        _, lab = np.unique(lab, return_inverse=True)
        return np.broadcast_to(lab, (n, h * w)), np.full([n], lab.max() + 1)
    seg = np.asarray(segments)
    if not np.issubdtype(seg.dtype, np.integer):
        raise TypeError(f"segments: expected None, an int patch size or integer labels, "
                        f"received dtype {seg.dtype}")
    if seg.shape == (h, w):
        seg = np.broadcast_to(seg, (n, h, w))
    if seg.shape != (n, h, w):
        raise ValueError(f"segments: expected labels of shape {(h, w)} or {(n, h, w)}, received "
                         f"{seg.shape}")
    labels = np.empty((n, h * w), np.int64)
    counts = np.empty([n], np.int64)
    for i in range(n):
        _, labels[i] = np.unique(seg[i].reshape(-1), return_inverse=True)
        counts[i] = labels[i].max() + 1
    return labels, counts


def unit_ranks(saliency, segments=None, seed=0):
    """Rank of every pixel's unit by descending saliency (0 = most salient), and unit counts.

    A unit's saliency is the mean over its pixels. Ties (e.g. the exactly-zero attributions of
    black pixels under a black baseline) are broken uniformly at random with ``seed``: a fixed
    order (raster scan) would add a spatial bias that differs between methods.

    Returns:
      ``(ranks [n, H·W] int, counts [n] int)``.
    """
    n, h, w = saliency.shape
    labels, counts = segment_labels(segments, n, h, w)
    rng = np.random.default_rng(seed)
    flat = saliency.reshape(n, -1)
    ranks = np.empty((n, h * w), np.int64)
    for i in range(n):
        u = counts[i]
        score = np.bincount(labels[i], weights=flat[i], minlength=u) / np.maximum(
            np.bincount(labels[i], minlength=u), 1)
        order = np.lexsort((rng.random(u), -score))
        unit_rank = np.empty(u, np.int64)
        unit_rank[order] = np.arange(u)
        ranks[i] = unit_rank[labels[i]]
    return ranks, counts


# ------------------------------------------------------------------------------------ fills
def blur_images(images, sigma):
    """Gaussian blur over H and W (per channel), ``scipy.ndimage.gaussian_filter``."""
    from scipy.ndimage import gaussian_filter
    sigma = validation.check_nonnegative(sigma, "blur_sigma")
    return gaussian_filter(images, sigma=(0, sigma, sigma, 0), mode="nearest").astype(np.float32)


def fill_images(images, fill, value_range=(0.0, 1.0), blur_sigma=5.0):
    """The replacement images ``[n, H, W, C]`` for ``fill``, or the string ``"mean"``.

    Args:
      fill: ``"black"`` (value_range low), ``"white"`` (high), ``"blur"`` (Gaussian,
        ``blur_sigma``), ``"mean"`` (the mean of the kept pixels of each perturbed image,
        computed later), a number, or an array of the images' shape (or one image's shape).
    """
    if isinstance(fill, str):
        check_choice(fill, FILLS, "fill")
        low, high = check_value_range(value_range)
        if fill == "black":
            return np.full_like(images, low)
        if fill == "white":
            return np.full_like(images, high)
        if fill == "blur":
            return blur_images(images, blur_sigma)
        return "mean"
    if np.ndim(fill) == 0:
        return np.full_like(images, float(fill))
    f = validation.check_array(fill, "fill")
    if f.shape == images.shape[1:]:
        f = np.broadcast_to(f, images.shape)
    validation.check_same_shape(f, images.shape, "fill", "images")
    return f


def perturbed_scores(scorer, images, ranks, counts, class_idx, fractions, keep_top, fill,
                     measure=None):
    """Scores of images that keep a fraction of their units and fill the rest.

    For fraction ``f`` and an input with ``U`` units, ``k = round(f·U)`` units are kept:
    the ``k`` most salient if ``keep_top`` (insertion), otherwise all but the ``k`` most salient
    (deletion). All ``n × len(fractions)`` images go to ``scorer`` in its batches; at most
    about ``scorer.batch_size`` perturbed images exist at a time.

    Args:
      fill: replacement images ``[n, H, W, C]`` or ``"mean"``: the scalar mean of the kept
        pixels over all channels (spec_002 §5.1 step 4); the image's mean if nothing is kept.
      measure: optional ``fn(perturbed [m, H, W, C]) -> [m]`` also applied to the perturbed
        images (e.g. their compressed size, for information axes).

    Returns:
      ``(values [n, k] float64, predicted [n, k] int or None)``, and the measured ``[n, k]``
      as a third element if ``measure`` is given.
    """
    n = images.shape[0]
    k = fractions.size
    group = max(1, scorer.batch_size // k)
    values = np.empty((n, k))
    predicted = np.empty((n, k), np.int64)
    measured = np.empty((n, k)) if measure is not None else None
    have_pred = True
    for s in range(0, n, group):
        x = images[s:s + group]
        m = x.shape[0]
        kept = np.rint(fractions[None, :] * counts[s:s + group, None]).astype(np.int64)  # [m, k]
        r = ranks[s:s + group][:, None, :]                                             # [m,1,P]
        keep = (r < kept[..., None]) if keep_top else (r >= kept[..., None])           # [m,k,P]
        keep = keep.reshape(m, k, *x.shape[1:3], 1)
        xs = x[:, None]
        if isinstance(fill, str):
            total = (xs * keep).sum(axis=(2, 3, 4), keepdims=True)
            count = keep.sum(axis=(2, 3, 4), keepdims=True) * x.shape[-1]
            base = np.where(count > 0, total / np.maximum(count, 1),
                            x.mean(axis=(1, 2, 3), keepdims=True)[:, None])
        else:
            base = fill[s:s + group][:, None]
        composite = np.where(keep, xs, base).astype(np.float32).reshape(m * k, *x.shape[1:])
        c = None if class_idx is None else np.repeat(class_idx[s:s + group], k)
        v, p = scorer(composite, c)
        values[s:s + m] = v.reshape(m, k)
        if measure is not None:
            measured[s:s + m] = np.asarray(measure(composite), np.float64).reshape(m, k)
        if p is None:
            have_pred = False
        else:
            predicted[s:s + m] = p.reshape(m, k)
    out = values, (predicted if have_pred else None)
    return out if measure is None else out + (measured,)


# ------------------------------------------------------------------------------------ areas
AUC_RULES = ("trapezoid", "mean")


def area(curves, x, rule="trapezoid"):
    """Area under each curve ``[..., k]`` over ``x [k]``: trapezoid, or the mean of the points
    (spec_002 §5.3's default for DiffID)."""
    check_choice(rule, AUC_RULES, "auc_rule")
    if rule == "mean":
        return np.mean(curves, axis=-1)
    return np.trapezoid(curves, x, axis=-1)


def aggregate_curves(curves, x, how="mean", seed=0, bootstrap=200):
    """Aggregate curve of the finite rows of ``curves [n, k]``, its trapezoid area over ``x``,
    and the area's standard error (``std/sqrt(n)`` of the per-row areas for the mean, which is
    exact since the area is linear; a ``bootstrap`` over rows for the median).

    Returns:
      ``(curve [k], area, standard_error)``; NaNs if no row is finite.
    """
    check_choice(how, ("mean", "median"), "aggregate")
    good = curves[np.all(np.isfinite(curves), axis=1)]
    if good.shape[0] == 0:
        return np.full(curves.shape[1], np.nan), float("nan"), float("nan")
    reduce_fn = np.median if how == "median" else np.mean
    curve = reduce_fn(good, axis=0)
    value = float(np.trapezoid(curve, x))
    if how == "mean":
        return curve, value, standard_error(np.trapezoid(good, x, axis=1))
    rng = np.random.default_rng(seed)
    samples = [np.trapezoid(np.median(good[rng.integers(0, len(good), len(good))], axis=0), x)
               for _ in range(int(bootstrap))]
    return curve, value, (float(np.std(samples, ddof=1)) if len(samples) > 1 else 0.0)


class Progress:
    """A one-line progress display on stderr (``\\r``-updated), silent when disabled."""

    def __init__(self, total, label="", enabled=True, stream=None):
        self.total, self.label, self.enabled = max(int(total), 1), label, enabled
        self.stream = stream or sys.stderr
        self.done = 0

    def update(self, step=1, note=""):
        self.done += step
        if self.enabled:
            pct = 100.0 * self.done / self.total
            self.stream.write(f"\r{self.label} {self.done}/{self.total} ({pct:5.1f}%) {note:<40}")
            self.stream.flush()

    def close(self):
        if self.enabled:
            self.stream.write("\n")
            self.stream.flush()
