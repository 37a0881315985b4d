"""LIME and KernelSHAP adapted to predictive uncertainty: the perturbation comparators of Perez,
Skalski, Barns-Graham, Wong and Sutton, "Attribution of Predictive Uncertainties in
Classification Models", UAI 2022 (§5, "LIME", "SHAP", "SHAP + Counterfactual").

Benchmark-only comparators, not part of ``tfpath``. Each explains a scalar uncertainty
``uncertainty_fn(images [n, H, W, C]) -> [n]`` (e.g. the predictive entropy; positive
attribution = the feature's presence raises the uncertainty), called in batches.

* :func:`lime_entropy` — LIME (Ribeiro, Singh and Guestrin, "'Why Should I Trust You?':
  Explaining the Predictions of Any Classifier", KDD 2016) as in the authors' code: quickshift
  superpixels, Bernoulli(0.8) keep vectors, black for dropped superpixels, weights
  exp(−cosine distance to the all-ones vector), ``LassoCV(cv=5)``.
* :func:`kernel_shap_entropy` — the authors' "KernelSHAP": a Lasso surrogate on random pixel
  replacements (``LassoLarsIC``, AIC). Despite the name (after Lundberg and Lee, "A Unified
  Approach to Interpreting Model Predictions", NeurIPS 2017) it is **not** the Shapley-kernel
  estimator: coalitions are not drawn from the Shapley kernel, samples are unweighted, and no
  efficiency constraint is imposed; its coefficients are local linear effects of keeping each
  pixel, not Shapley values.
* :func:`shap_kernel_entropy` — the real ``shap.KernelExplainer`` (the Shapley-kernel
  estimator) on superpixels or blocks, in its exact (fully enumerated) regime.

All randomness comes from ``np.random.default_rng(seed)``; the global NumPy RNG is never used.
Run from the repository root as ``from benchmarks.entropy_comparators import ...`` (or load the
file by path, as the tests do). ``python benchmarks/entropy_comparators.py`` times the three
comparators (and tfpath.xrai on top of a map) on 8×8 and 28×28 MNIST digits with a small
CNN's predictive entropy.
"""
from __future__ import annotations

import numbers
import time

import numpy as np

from tfpath.core import validation

__all__ = ["quickshift_superpixels", "grid_features", "lime_entropy", "kernel_shap_entropy",
           "shap_kernel_entropy"]

DEFAULT_BATCH_SIZE = 256
EXACT_SHAP_MAX_FEATURES = 14


# validation ----------------------------------------------------------------------------------

def _image(value, name, ndim=3):
    arr = validation.check_real_array(value, name)
    if arr.ndim != ndim:
        want = "[H, W, C]" if ndim == 3 else "[n, H, W, C]"
        raise ValueError(f"{name}: expected {want}, received shape {arr.shape}")
    return arr


def _seed(seed):
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise ValueError(f"seed: expected a non-negative integer, received {seed!r}")
    return np.random.default_rng(int(seed))


def _positive_int(value, name, minimum=1):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValueError(f"{name}: expected an integer >= {minimum}, received {value!r}")
    return int(value)


def _labels(value, shape, name):
    """An integer label map [H, W] relabelled to 0..S-1."""
    arr = np.asarray(value)
    if arr.shape != tuple(shape):
        raise ValueError(f"{name}: expected an integer label map of shape {tuple(shape)}, "
                         f"received shape {arr.shape}")
    if arr.dtype == bool or not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(f"{name}: expected integer labels, received dtype {arr.dtype}")
    return np.unique(arr, return_inverse=True)[1].reshape(shape)


def _call(uncertainty_fn, images, batch_size):
    """uncertainty_fn on ``images`` in batches; checks the [n] finite output."""
    if not callable(uncertainty_fn):
        raise ValueError(f"uncertainty_fn: expected a callable images -> [n], received "
                         f"{type(uncertainty_fn).__name__}")
    out = []
    for start in range(0, len(images), batch_size):
        batch = images[start:start + batch_size]
        values = np.asarray(uncertainty_fn(batch), dtype=np.float64)
        if values.shape not in ((len(batch),), (len(batch), 1)):
            raise ValueError(f"uncertainty_fn: expected an output of shape [{len(batch)}] for "
                             f"{len(batch)} images, received {values.shape}")
        if not np.all(np.isfinite(values)):
            raise ValueError("uncertainty_fn: returned NaN or inf")
        out.append(values.reshape(-1))
    return np.concatenate(out)


# segmentations -------------------------------------------------------------------------------

def quickshift_superpixels(image, *, kernel_size=1, max_dist=5, ratio=0.2):
    """Quickshift superpixels as in the authors' LIME: on an RGB float copy (a grey image is
    replicated to 3 channels), ``skimage.segmentation.quickshift(kernel_size, max_dist,
    ratio)`` with its default Lab conversion; the authors' low-resolution settings are the
    defaults. Returns an int label map [H, W] with labels 0..S-1."""
    import skimage.color
    import skimage.segmentation

    x = _image(image, "image")
    if x.shape[-1] == 1:
        rgb = skimage.color.gray2rgb(x[..., 0])
    elif x.shape[-1] == 3:
        rgb = x
    else:
        raise ValueError(f"image: quickshift needs 1 or 3 channels, received {x.shape[-1]}")
    for name, value in (("kernel_size", kernel_size), ("max_dist", max_dist), ("ratio", ratio)):
        if isinstance(value, bool) or not isinstance(value, numbers.Real) or value <= 0:
            raise ValueError(f"{name}: expected a positive number, received {value!r}")
    if ratio > 1:
        raise ValueError(f"ratio: expected a number in (0, 1], received {ratio!r}")
    labels = skimage.segmentation.quickshift(rgb.astype(np.float64), kernel_size=kernel_size,
                                             max_dist=max_dist, ratio=ratio)
    return _labels(labels, x.shape[:2], "superpixels")


def grid_features(shape, blocks):
    """A label map [H, W] of ``blocks = (rows, cols)`` near-equal rectangular blocks."""
    if len(tuple(shape)) < 2:
        raise ValueError(f"shape: expected (H, W, ...), received {shape!r}")
    h, w = int(shape[0]), int(shape[1])
    if len(tuple(blocks)) != 2:
        raise ValueError(f"blocks: expected (rows, cols), received {blocks!r}")
    rows = _positive_int(blocks[0], "blocks")
    cols = _positive_int(blocks[1], "blocks")
    if rows > h or cols > w:
        raise ValueError(f"blocks: {blocks!r} exceeds the image size {(h, w)}")
    r = np.minimum(np.arange(h) * rows // h, rows - 1)
    c = np.minimum(np.arange(w) * cols // w, cols - 1)
    return r[:, None] * cols + c[None, :]


# LIME ----------------------------------------------------------------------------------------

def lime_entropy(uncertainty_fn, image, *, seed, num_samples=None, keep_probability=0.8,
                 kernel_size=1, max_dist=5, ratio=0.2, superpixels=None,
                 batch_size=DEFAULT_BATCH_SIZE, return_details=False):
    """LIME attribution of an uncertainty (the authors' procedure).

    1. Superpixels: :func:`quickshift_superpixels` (``kernel_size=1, max_dist=5, ratio=0.2``,
       the authors' low-resolution settings) unless ``superpixels`` is given; S of them.
    2. N = ``num_samples`` or ``int((10 S + 100) / 2)`` keep vectors z ∈ {0, 1}^S, each entry
       Bernoulli(``keep_probability`` = 0.8); dropped superpixels are set to 0 (black).
    3. Responses y = ``uncertainty_fn(perturbed images)``, in batches of ``batch_size``.
    4. Weights w = exp(−d), d the cosine distance of z to the all-ones vector (an all-zero z
       has d = 1).
    5. ``sklearn.linear_model.LassoCV(cv=5).fit(z, y, sample_weight=w)``; each pixel gets the
       coefficient of its superpixel.

    Departures from LIME as published (Ribeiro et al., KDD 2016) are the authors': keep
    probability 0.8 instead of ½, weights exp(−d) instead of the exponential kernel
    √exp(−d²/σ²), the cross-validated Lasso instead of K-Lasso / ridge, and the explained
    instance is not forced into the sample. ``lime.lime_image.LimeImageExplainer`` cannot
    express this (its sampler is fixed at Bernoulli(½) via ``RandomState.randint``, forces the
    first sample to all ones, and is seeded through a legacy ``RandomState``), so the sampling
    is done here; the regression is the one ``lime.lime_base.LimeBase.explain_instance_with_data``
    performs with ``kernel_fn=exp(−d)``, ``feature_selection='none'`` and
    ``model_regressor=LassoCV(cv=5)`` (the tests check they agree).

    Args:
      uncertainty_fn: images [n, H, W, C] -> [n] NumPy uncertainties.
      image: [H, W, C] image (C = 1 or 3 for quickshift).
      seed: non-negative integer for ``np.random.default_rng``.
      num_samples: N, or None for the authors' ``int((10 S + 100) / 2)``; at least 5 (cv=5).
      keep_probability: Bernoulli probability of keeping a superpixel, in (0, 1).
      kernel_size, max_dist, ratio: quickshift parameters.
      superpixels: optional integer label map [H, W] replacing quickshift.
      batch_size: images per ``uncertainty_fn`` call.
      return_details: also return a dict (superpixels, perturbations, responses, weights,
        coefficients, intercept, alpha).

    Returns:
      float64 [H, W] attribution (or (attribution, details)).

    Raises:
      ValueError: bad arguments (named), or an ``uncertainty_fn`` output that is not [n] finite.
    """
    from sklearn.linear_model import LassoCV
    from sklearn.metrics import pairwise_distances

    x = _image(image, "image")
    rng = _seed(seed)
    if isinstance(keep_probability, bool) or not isinstance(keep_probability, numbers.Real) \
            or not 0 < keep_probability < 1:
        raise ValueError(f"keep_probability: expected a number in (0, 1), received "
                         f"{keep_probability!r}")
    batch_size = _positive_int(batch_size, "batch_size")
    if superpixels is None:
        labels = quickshift_superpixels(x, kernel_size=kernel_size, max_dist=max_dist,
                                        ratio=ratio)
    else:
        labels = _labels(superpixels, x.shape[:2], "superpixels")
    s = int(labels.max()) + 1
    n = int((10 * s + 100) / 2) if num_samples is None else _positive_int(num_samples,
                                                                            "num_samples", 5)
    z = (rng.random((n, s)) < keep_probability).astype(np.float64)
    images = x[None] * z[:, labels][..., None]            # dropped superpixels -> 0 (black)
    y = _call(uncertainty_fn, images, batch_size)
    weights = np.exp(-pairwise_distances(z, np.ones((1, s)), metric="cosine").ravel())
    model = LassoCV(cv=5).fit(z, y, sample_weight=weights)
    attribution = model.coef_[labels].astype(np.float64)
    if not return_details:
        return attribution
    return attribution, {"superpixels": labels, "perturbations": z, "responses": y,
                         "weights": weights, "coefficients": model.coef_.copy(),
                         "intercept": float(model.intercept_), "alpha": float(model.alpha_)}


# the authors' "KernelSHAP" (Lasso surrogate) ----------------------------------------------

def _lasso_lars_aic_normalized(mask, y, aic_variance):
    """``LassoLarsIC(criterion='aic', normalize=True)`` of scikit-learn < 1.2, by hand: centre
    the columns, divide by their L2 norms, fit, divide the coefficients by the norms (zero-norm
    columns get 0). ``aic_variance="response"`` reproduces the AIC of scikit-learn <= 1.0
    (n·MSE/var(y) + 2 df, via ``noise_variance = var(y) + eps``: the same minimiser);
    ``"ols"`` the OLS noise estimate of scikit-learn >= 1.1 (needs N > features + 1)."""
    from sklearn.linear_model import LassoLarsIC

    xc = mask - mask.mean(axis=0)
    norms = np.sqrt(np.sum(xc ** 2, axis=0))
    used = norms > 10 * np.finfo(np.float64).eps
    coef = np.zeros(mask.shape[1])
    if not used.any():
        return coef, float(np.mean(y)), None
    noise = float(np.var(y) + np.finfo(np.float64).eps) if aic_variance == "response" else None
    model = LassoLarsIC(criterion="aic", noise_variance=noise)
    model.fit(xc[:, used] / norms[used], y)
    coef[used] = model.coef_ / norms[used]
    intercept = float(np.mean(y) - mask.mean(axis=0) @ coef)
    return coef, intercept, float(model.alpha_)


def _replacement_source(x, background, counterfactual):
    """The images deactivated pixels are taken from: ``[1, H, W, C]`` (the counterfactual) or
    ``[n, H, W, C]`` (background images); exactly one must be given (errors name them)."""
    if (background is None) == (counterfactual is None):
        raise ValueError("background, counterfactual: give exactly one of them (background "
                         "images for SHAP, a counterfactual image for SHAP + Counterfactual)")
    if counterfactual is not None:
        source = _image(counterfactual, "counterfactual")[None]
        if source.shape[1:] != x.shape:
            raise ValueError(f"counterfactual: expected the image's shape {x.shape}, received "
                             f"{np.shape(counterfactual)}")
        return source
    bg = np.asarray(background)
    source = _image(bg[None] if bg.ndim == 3 else bg, "background", ndim=4)
    if source.shape[1:] != x.shape:
        raise ValueError(f"background: expected images of shape {x.shape}, received "
                         f"{np.shape(background)}")
    return source


def kernel_shap_entropy(uncertainty_fn, image, background=None, *, seed, num_samples=None,
                        fraction=0.05, counterfactual=None, aic_variance="response",
                        batch_size=DEFAULT_BATCH_SIZE, return_details=False):
    """The authors' "KernelSHAP" of an uncertainty: a Lasso surrogate on pixel replacements.

    1. N = ``num_samples`` or ``3 H² + 2¹¹`` perturbations (the authors' count, with H² even
       for non-square images).
    2. Each perturbation replaces k = ``int(fraction · H · W)`` pixel positions, rows and
       columns drawn uniformly **with replacement** (so at most k distinct pixels), all
       channels, by the same pixel of a background image drawn uniformly per position; the
       mask is 0 there and 1 elsewhere. With ``counterfactual=`` ("SHAP + Counterfactual")
       the replaced pixels take the counterfactual image's values instead.
    3. Responses y = ``uncertainty_fn(perturbed images)``.
    4. ``LassoLarsIC(criterion='aic')`` of y on the flattened masks, with the removed
       ``normalize=True`` reproduced by hand (see ``aic_variance``); each pixel's
       attribution is its coefficient (the effect of keeping the pixel rather than replacing
       it; positive = the pixel raises the uncertainty).

    This is not Lundberg and Lee's Kernel SHAP (NeurIPS 2017): the coalitions are ~5 %
    random replacements rather than draws from the Shapley kernel, the fit is unweighted with
    an AIC-tuned Lasso penalty, and efficiency (Σφ = H(x) − E H(background)) is not imposed.
    See :func:`shap_kernel_entropy` for the Shapley-kernel estimator.

    Args:
      uncertainty_fn: images [n, H, W, C] -> [n] NumPy uncertainties.
      image: [H, W, C] image.
      background: [m, H, W, C] images (or one [H, W, C]) whose pixels replace the image's;
        required unless ``counterfactual`` is given (then it must be None).
      seed: non-negative integer for ``np.random.default_rng``.
      num_samples: N, or None for ``3 H² + 2048``; at least 3.
      fraction: share of H·W drawn per perturbation, with ``int(fraction · H · W) >= 1``.
      counterfactual: [H, W, C] image supplying the replaced pixels instead of ``background``.
      aic_variance: "response" (scikit-learn <= 1.0's AIC, which the authors' code, written
        for ``normalize=True``, most likely ran) or "ols" (scikit-learn >= 1.1's).
      batch_size: images per ``uncertainty_fn`` call.
      return_details: also return a dict (mask, responses, coefficients, intercept, alpha).

    Returns:
      float64 [H, W] attribution (or (attribution, details)).

    Raises:
      ValueError: bad arguments (named), or an ``uncertainty_fn`` output that is not [n] finite.
    """
    x = _image(image, "image")
    h, w, c = x.shape
    rng = _seed(seed)
    source = _replacement_source(x, background, counterfactual)
    if isinstance(fraction, bool) or not isinstance(fraction, numbers.Real) \
            or not 0 < fraction <= 1:
        raise ValueError(f"fraction: expected a number in (0, 1], received {fraction!r}")
    k = int(fraction * h * w)
    if k < 1:
        raise ValueError(f"fraction: int(fraction · H · W) = int({fraction} · {h * w}) = 0 "
                         "pixels per perturbation; increase it")
    if aic_variance not in ("response", "ols"):
        raise ValueError(f"aic_variance: expected 'response' or 'ols', received "
                         f"{aic_variance!r}")
    batch_size = _positive_int(batch_size, "batch_size")
    n = 3 * h ** 2 + 2 ** 11 if num_samples is None else _positive_int(num_samples,
                                                                       "num_samples", 3)
    if aic_variance == "ols" and n <= h * w + 1:
        raise ValueError(f"num_samples: aic_variance='ols' needs more than H·W + 1 = "
                         f"{h * w + 1} samples, received {n}")

    rows = rng.integers(0, h, size=(n, k))
    cols = rng.integers(0, w, size=(n, k))
    which = rng.integers(0, len(source), size=(n, k))
    mask = np.ones((n, h, w))
    mask[np.arange(n)[:, None], rows, cols] = 0.0

    def perturbed(start, stop):
        imgs = np.repeat(x[None], stop - start, axis=0)
        i = np.arange(stop - start)[:, None]
        r, q, b = rows[start:stop], cols[start:stop], which[start:stop]
        imgs[i, r, q] = source[b, r, q]                  # later duplicates win, all from source
        return imgs

    y = np.concatenate([_call(uncertainty_fn, perturbed(s, min(s + batch_size, n)), batch_size)
                        for s in range(0, n, batch_size)])
    coef, intercept, alpha = _lasso_lars_aic_normalized(mask.reshape(n, -1), y, aic_variance)
    attribution = coef.reshape(h, w)
    if not return_details:
        return attribution
    return attribution, {"mask": mask, "responses": y, "coefficients": coef,
                         "intercept": intercept, "alpha": alpha}


# the real shap.KernelExplainer ---------------------------------------------------------------

def shap_kernel_entropy(uncertainty_fn, image, background=None, *, counterfactual=None,
                        features=None, max_features=EXACT_SHAP_MAX_FEATURES,
                        batch_size=DEFAULT_BATCH_SIZE, return_details=False):
    """Kernel SHAP (Lundberg and Lee, NeurIPS 2017) of an uncertainty with the real
    ``shap.KernelExplainer``, on M feature groups (superpixels or blocks).

    The explained function of a coalition z ∈ {0, 1}^M is v(z) = mean over background images
    b of ``uncertainty_fn(x ⊙ z + b ⊙ (1 − z))`` (groups expanded to pixels; the
    interventional value function of ``KernelExplainer`` with the background as data), or with
    ``counterfactual=`` the single image c in place of the background. The explainer runs with
    ``data = 0``, ``x = 1``, ``nsamples = 2^M − 2`` and ``l1_reg=False``: every coalition is
    enumerated, so the result is the exact Shapley value of each group (Σφ = v(1) − v(0)) and
    no random number is drawn. shap's sampled regime (M too large to enumerate) draws its
    coalitions from the global NumPy RNG (``np.random.choice`` / ``permutation``), which cannot
    be seeded through a ``Generator``; it is therefore refused above ``max_features`` (its
    cost is not the obstacle: on single pixels with 10 background images it took 0.3 s for an
    8×8 and 1.7 s for a 28×28 MNIST digit with a small CNN, but unseeded, and shap's default
    ``l1_reg="num_features(10)"`` keeps only 10 non-zero pixels). Cost here: 2^M · (background
    images) evaluations of ``uncertainty_fn``.

    Args:
      uncertainty_fn: images [n, H, W, C] -> [n] NumPy uncertainties.
      image: [H, W, C] image.
      background: [m, H, W, C] images (or one [H, W, C]); exactly one of ``background`` and
        ``counterfactual``.
      counterfactual: [H, W, C] image supplying the absent groups' pixels.
      features: integer label map [H, W] of the M groups; None for
        :func:`quickshift_superpixels` (the LIME segmentation); see :func:`grid_features`.
      max_features: refuse more than this many groups (exact enumeration); at most 20.
      batch_size: images per ``uncertainty_fn`` call.
      return_details: also return a dict (features, shapley_values, base_value, full_value).

    Returns:
      float64 [H, W] attribution: each pixel carries its group's Shapley value (not divided
      by the group's size), or (attribution, details).

    Raises:
      ValueError: bad arguments (named), more than ``max_features`` groups, or an
        ``uncertainty_fn`` output that is not [n] finite.
    """
    import shap

    x = _image(image, "image")
    source = _replacement_source(x, background, counterfactual)
    max_features = _positive_int(max_features, "max_features", 2)
    if max_features > 20:
        raise ValueError(f"max_features: exact enumeration beyond 20 groups (2^20 coalitions) "
                         f"is not supported, received {max_features}")
    batch_size = _positive_int(batch_size, "batch_size")
    labels = quickshift_superpixels(x) if features is None else _labels(features, x.shape[:2],
                                                                        "features")
    m = int(labels.max()) + 1
    if m < 2:
        raise ValueError("features: needs at least 2 groups")
    if m > max_features:
        raise ValueError(f"features: {m} groups exceed max_features={max_features}; exact "
                         f"Kernel SHAP enumerates 2^M coalitions and shap's sampled regime "
                         "uses the unseedable global NumPy RNG. Use coarser groups, e.g. "
                         "grid_features(image.shape, (3, 3)).")

    def value(z):
        z = np.asarray(z, dtype=np.float64)
        total = np.zeros(len(z))
        for start in range(0, len(z), batch_size):        # shap passes all 2^M coalitions
            keep = z[start:start + batch_size, labels][..., None]          # [n, H, W, 1]
            for b in source:
                total[start:start + batch_size] += _call(
                    uncertainty_fn, keep * x[None] + (1.0 - keep) * b[None], batch_size)
        return total / len(source)

    explainer = shap.KernelExplainer(value, np.zeros((1, m)))
    phi = np.asarray(explainer.shap_values(np.ones((1, m)), nsamples=2 ** m - 2, l1_reg=False,
                                           silent=True), dtype=np.float64).reshape(-1)
    attribution = phi[labels]
    if not return_details:
        return attribution
    expected = np.asarray(explainer.expected_value, dtype=np.float64).reshape(-1)[0]
    return attribution, {"features": labels, "shapley_values": phi,
                         "base_value": float(expected), "full_value": float(expected + phi.sum())}


# timing ------------------------------------------------------------------------------------

def main(argv=None):
    """Seconds per image of the three comparators on 8×8 and 28×28 MNIST digits, explaining the
    predictive entropy of a small CNN (untrained weights: the cost does not depend on them),
    and of ``tfpath.xrai.xrai(prefer="negative")`` aggregating a given map."""
    import argparse
    import os

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf
    from skimage.transform import resize

    from tfpath.datasets import load_mnist_subset
    from tfpath.xrai import xrai
    from tfpath.zoo import small_cnn

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--images", type=int, default=3)
    parser.add_argument("--background", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    data = load_mnist_subset()
    rows = []
    for size in (8, 28):
        def prep(a):
            a = np.asarray(a, dtype=np.float32).reshape(-1, 28, 28, 1)
            return a if size == 28 else np.stack([resize(i, (8, 8, 1), anti_aliasing=True)
                                                  for i in a]).astype(np.float32)
        images, background = prep(data.x_test[:args.images]), prep(data.x_train[:args.background])
        model = small_cnn((size, size, 1), data.num_classes, width=8, seed=args.seed)

        @tf.function(reduce_retracing=True)
        def entropy_tf(batch):
            p = tf.nn.softmax(model(batch), axis=-1)
            return -tf.reduce_sum(p * tf.math.log(p + 1e-30), axis=-1)

        def entropy(batch):
            return entropy_tf(tf.convert_to_tensor(batch, tf.float32)).numpy()

        entropy(images)                                   # trace once
        for name, run in (
                ("LIME", lambda x: lime_entropy(entropy, x, seed=args.seed)),
                ("SHAP (Lasso)", lambda x: kernel_shap_entropy(entropy, x, background,
                                                               seed=args.seed)),
                ("shap.KernelExplainer 3x3", lambda x: shap_kernel_entropy(
                    entropy, x, background, features=grid_features(x.shape, (3, 3)))),
                ("XRAI negative (of a map)", lambda x: xrai(
                    x, np.random.default_rng(args.seed).normal(size=x.shape[:2]),
                    prefer="negative"))):
            start = time.perf_counter()
            for x in images:
                run(x)
            rows.append((f"{size}x{size}", name, (time.perf_counter() - start) / len(images)))
    for size, name, seconds in rows:
        print(f"{size:6s} {name:26s} {seconds:8.3f} s / image")
    return rows


if __name__ == "__main__":
    main()
