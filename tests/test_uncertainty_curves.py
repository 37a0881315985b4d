"""EIC information axes against the authors' formula, and the blur-σ rule (Perez et al.,
"Attribution of Predictive Uncertainties in Classification Models", UAI 2022, §4.1)."""
import dataclasses
import io
import os
import warnings

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402
from PIL import Image  # noqa: E402
from scipy.ndimage import gaussian_filter  # noqa: E402
from skimage.measure import shannon_entropy  # noqa: E402
from sklearn.metrics import auc  # noqa: E402

import tfpath  # noqa: E402
from tfpath import metrics  # noqa: E402
from tfpath.metrics.perturb import blur_images  # noqa: E402
from tfpath.metrics.uncertainty_curves import DEFAULT_SIGMAS, _information_axis  # noqa: E402,E501


# ----------------------------------------------------------------- independent references
def authors_information_aoc(ratio_insertion, eic_curve):
    """The authors' EIC area on an information axis, re-implemented from their evaluation
    script (``summarize_performance``): ``ratio_insertion`` is the (median) information ratio
    info(state) / info(x) in insertion order (blurred first, x last), ``eic_curve`` the (median)
    EIC in the same order."""
    x_ax = np.asarray(ratio_insertion, np.float64) - 1
    x_ax = np.maximum.accumulate(x_ax[::-1])[::-1]
    x_ax = x_ax + np.linspace(1e-10, 0, x_ax.shape[0])
    x_ax = x_ax / x_ax[0]
    return 1 - auc(x_ax, eic_curve)


def old_information_aoc(ratio_insertion, eic_curve):
    """The rule tfpath had before the fix: a running max along the *insertion*, rescaled from
    the blurred image's value (0) to the original's (1)."""
    axis = np.maximum.accumulate(np.asarray(ratio_insertion, np.float64))
    start, end = axis[0], axis[-1]
    axis = np.clip((axis - start) / (end - start if end - start > 0 else 1.0), 0, 1)
    return 1 - np.trapezoid(eic_curve, axis)


def png_size(u8):
    buffer = io.BytesIO()
    Image.fromarray(u8[..., 0]).save(buffer, format="png", optimize=False)
    return buffer.tell()


MEASURES = {"shannon": lambda u8: shannon_entropy(u8, base=2), "compression": png_size}


def removal_pass(x, attributions, blurred):
    """Every state of the removal pass, one pixel at a time (the authors' ``_remove_pixels``):
    ``[n, P + 1, H, W, C]``, pixels in descending attribution (attributions without ties)."""
    n, h, w, c = x.shape
    order = np.argsort(-attributions.reshape(n, -1), axis=1)
    states = np.repeat(x[:, None], h * w + 1, axis=1).reshape(n, h * w + 1, h * w, c)
    flat_blur = blurred.reshape(n, h * w, c)
    for i in range(n):
        for r in range(1, h * w + 1):
            states[i, r:, order[i, r - 1]] = flat_blur[i, order[i, r - 1]]
    return states.reshape(n, h * w + 1, h, w, c)


def reference(H, x, attributions, information, blur_sigma=1.5):
    """The authors' pipeline from explicit states: per-image EIC and information ratio in
    insertion order, medians over images, and their AOC."""
    states = removal_pass(x, attributions, blur_images(x, blur_sigma))
    n, k = states.shape[:2]
    unc = H(states.reshape((-1,) + x.shape[1:])).reshape(n, k)
    u8 = np.round(states * 255.0).clip(0, 255).astype(np.uint8)    # tfpath's 8-bit measure
    info = np.array([[MEASURES[information](u8[i, j]) for j in range(k)] for i in range(n)])
    eic = (unc / unc[:, -1:])[:, ::-1]
    ratio = (info / info[:, :1])[:, ::-1]
    value = authors_information_aoc(np.median(ratio, 0), np.median(eic, 0))
    per_image = np.array([authors_information_aoc(ratio[i], eic[i]) for i in range(n)])
    # tfpath omits the authors' linspace(1e-10, 0) tie-breaker, which moves their area by
    # about 1e-10 / span (span = max of ratio − 1); with span 0 their axis is the tie-breaker
    # alone, the pixel axis, with no such error
    return dict(value=value, per_image=per_image, ratio=ratio, eic=eic, unc=unc,
                old=old_information_aoc(np.median(ratio, 0), np.median(eic, 0)),
                tol=tie_breaker_tol(np.median(ratio, 0)), tols=tie_breaker_tol(ratio))


def tie_breaker_tol(ratio):
    span = np.asarray(ratio).max(axis=-1) - 1
    return np.where(span > 0, 1e-9 + 1e-9 / np.where(span > 0, span, 1), 1e-9)


def linear_softplus(seed, h=12, w=12):
    """H(z) = softplus(0.3 v·z) + 0.1: pixels with v > 0 raise the uncertainty."""
    rng = np.random.default_rng(seed)
    v = rng.normal(0, 1, (h, w, 1))

    def H(images):
        s = np.asarray(images, np.float64).reshape(len(images), -1) @ v.reshape(-1) * 0.3
        return np.logaddexp(0.0, s) + 0.1

    return rng, v, H


@pytest.fixture(scope="module")
def sparse_binary():
    """Sparse binary (MNIST-like) images: blurring spreads the two grey levels over many, so
    the Shannon entropy of the histogram *rises* as pixels are blurred, i.e. it falls as they
    are revealed (the paper's Fig. 5 situation)."""
    rng, v, H = linear_softplus(5)
    x = (rng.random((4, 12, 12, 1)) > 0.95).astype(np.float32)
    exact = v * (x - blur_images(x, 1.5))
    # a 1e-9 jitter breaks the ties among pixels whose removal changes nothing
    attr = exact + 1e-9 * rng.normal(size=x.shape)
    return dict(H=H, x=x, exact=exact, attr=attr, random=rng.normal(size=x.shape))


# ----------------------------------------------------------------- the information axis
def test_falling_information_old_rule_gives_one_authors_do_not():
    """Information falling monotonically as pixels are revealed (its maximum at the blurred
    image): the old running max along the insertion is constant, the axis all zeros and the
    AOC exactly 1.0 whatever the curve; the authors' running max along the removal gives a
    real area, and so does tfpath."""
    t = np.linspace(0, 1, 101)                                 # insertion order
    ratio = 1 + 0.6 * (1 - t) ** 2 + 0.05 * (1 - t) * np.cos(9 * np.pi * t)
    ratio[-1] = 1.0
    assert ratio.argmax() == 0 and np.any(np.diff(ratio) > 0)  # falls, but not monotonically
    for eic_curve in (1 - 0.8 * np.sqrt(t), 1 - 0.5 * t ** 2, 1 + 0.2 * np.sin(3 * t)):
        assert old_information_aoc(ratio, eic_curve) == 1.0
        axes, fallback = _information_axis(ratio[None], t)
        assert not fallback[0]
        assert axes[0, 0] == 0 and axes[0, -1] == 1 and np.all(np.diff(axes[0]) >= 0)
        ours = 1 - np.trapezoid(eic_curve, axes[0])
        assert abs(ours - authors_information_aoc(ratio, eic_curve)) <= tie_breaker_tol(ratio)
        assert abs(ours - 1.0) > 0.05


def test_information_axis_rising_with_overshoot_matches_authors():
    """Information rising as pixels are revealed but overshooting the original's mid-way:
    the authors' axis is set by the overshoot (d = running max of ratio − 1 along removal)."""
    t = np.linspace(0, 1, 81)
    ratio = 0.7 + 0.3 * t + 0.12 * np.exp(-((t - 0.6) / 0.1) ** 2)
    ratio[-1] = 1.0
    eic_curve = 1 - 0.6 * t + 0.1 * np.sin(7 * t)
    axes, fallback = _information_axis(ratio[None], t)
    assert not fallback[0] and axes[0, 0] == 0 and axes[0, -1] == 1
    ours = 1 - np.trapezoid(eic_curve, axes[0])
    assert abs(ours - authors_information_aoc(ratio, eic_curve)) <= tie_breaker_tol(ratio)
    assert abs(ours - old_information_aoc(ratio, eic_curve)) > 1e-2


def test_information_axis_degenerate_rows_fall_back_to_the_pixel_axis():
    """Ratio never above 1 (information rising monotonically as pixels are revealed, or never
    changing): the authors' axis is only their tie-breaker, i.e. the state index; tfpath uses
    the pixel axis for those rows, which is the same axis on a full one-pixel grid."""
    t = np.linspace(0, 1, 50)
    ratio = np.stack([0.6 + 0.4 * t ** 2, np.ones_like(t), 1 + 0.3 * (1 - t)])
    axes, fallback = _information_axis(ratio, t)
    np.testing.assert_array_equal(fallback, [True, True, False])
    np.testing.assert_array_equal(axes[:2], np.stack([t, t]))
    curve = 1 - 0.7 * t
    for row in ratio[:2]:
        assert 1 - np.trapezoid(curve, t) == pytest.approx(authors_information_aoc(row, curve),
                                                           abs=1e-12)


@pytest.mark.parametrize("information", ["shannon", "compression"])
def test_eic_matches_the_authors_formula_when_information_falls(sparse_binary, information):
    """End to end, every one-pixel state, medians (the authors' settings): on sparse binary
    images both measures rise as pixels are blurred; tfpath's EIC equals the authors' formula
    recomputed from the states, for the aggregate and each image."""
    c = sparse_binary
    ref = reference(c["H"], c["x"], c["attr"], information)
    with warnings.catch_warnings():
        warnings.simplefilter("error")                 # not degenerate: no warning
        r = metrics.eic(c["H"], c["x"], c["attr"], information=information,
                        aggregate="median")
    np.testing.assert_allclose(r.extra["uncertainty"], ref["unc"], rtol=1e-9)
    np.testing.assert_allclose(r.extra["information_ratio"], ref["ratio"], rtol=1e-12)
    assert abs(r.value - ref["value"]) <= ref["tol"]
    assert np.all(np.abs(r.per_image - ref["per_image"]) <= ref["tols"])
    assert not r.extra["aggregate_fallback"] and not r.extra["fallback"].any()
    assert r.x[0] == 0 and r.x[-1] == 1 and np.all(np.diff(r.x) >= 0)
    if information == "shannon":
        # the falling case: the median ratio peaks at the blurred image, so the old rule
        # gave exactly 1.0
        assert np.median(ref["ratio"], 0).argmax() == 0
        assert ref["old"] == 1.0
        assert ref["value"] < 0.5


def test_eic_matches_the_authors_formula_when_information_rises():
    """Uniform noise images: blurring lowers both measures (information rises as pixels are
    revealed). PNG size never exceeds the original's: every axis is degenerate, tfpath warns
    and uses the pixel axis, which equals the authors' tie-breaker axis on the one-pixel grid.
    Shannon entropy overshoots the original's slightly on some states: the aggregate axis is
    the authors', some images fall back; all equal the authors' formula."""
    rng, v, H = linear_softplus(0)
    x = rng.random((6, 12, 12, 1)).astype(np.float32)
    attr = v * (x - blur_images(x, 1.5))
    pixels = metrics.eic(H, x, attr, aggregate="median")
    for information in ("compression", "shannon"):
        ref = reference(H, x, attr, information)
        with pytest.warns(RuntimeWarning, match=f"information='{information}'"):
            r = metrics.eic(H, x, attr, information=information, aggregate="median")
        assert abs(r.value - ref["value"]) <= ref["tol"]
        assert np.all(np.abs(r.per_image - ref["per_image"]) <= ref["tols"])
        assert r.value != 1.0
        fallback = r.extra["fallback"]
        np.testing.assert_array_equal(fallback, ref["ratio"].max(axis=1) <= 1)
        np.testing.assert_allclose(r.per_image[fallback], pixels.per_image[fallback],
                                   rtol=1e-12)
        if information == "compression":
            assert r.extra["aggregate_fallback"] and fallback.all()
            np.testing.assert_allclose(r.x, pixels.x, rtol=0, atol=0)
            assert r.value == pytest.approx(pixels.value, rel=1e-12)
        else:
            assert not r.extra["aggregate_fallback"] and 0 < fallback.sum() < len(x)


def test_eic_information_axis_with_mean_and_steps(sparse_binary):
    """``aggregate="mean"`` takes the authors' axis of the mean ratio; an int ``steps`` grid
    gives the same construction on its states."""
    c = sparse_binary
    r = metrics.eic(c["H"], c["x"], c["attr"], information="shannon", steps=20)
    ratio = r.extra["information_ratio"]
    assert r.value == pytest.approx(authors_information_aoc(ratio.mean(0), r.curve), abs=1e-8)
    for i in range(len(c["x"])):
        assert r.per_image[i] == pytest.approx(authors_information_aoc(ratio[i], r.curves[i]),
                                               abs=1e-8)


def test_eic_information_good_attribution_beats_bad(sparse_binary):
    """On the analytic H the exact attribution v ⊙ (x − x̃) ranks pixels by their true effect:
    its EIC beats random and the reversed order on every axis."""
    c = sparse_binary
    for information in ("pixels", "shannon", "compression"):
        for aggregate in ("mean", "median"):
            kw = dict(information=information, aggregate=aggregate)
            good = metrics.eic(c["H"], c["x"], c["exact"], **kw).value
            bad = metrics.eic(c["H"], c["x"], c["random"], **kw).value
            flipped = metrics.eic(c["H"], c["x"], -c["exact"], **kw).value
            assert good > bad > flipped, (information, aggregate, good, bad, flipped)
            assert good - bad > 0.2


def test_eic_information_of_a_constant_image_raises():
    x = np.full((2, 8, 8, 1), 0.5, np.float32)
    x[1, :4] = 0.2

    def H(images):
        return 1.0 + np.asarray(images, np.float64).reshape(len(images), -1).mean(1)

    with pytest.raises(ValueError, match=r"information: 'shannon' is 0 for image\(s\) \[0\]"):
        metrics.eic(H, x, np.random.default_rng(0).normal(size=x.shape), information="shannon")


# ----------------------------------------------------------------- the σ rule
@pytest.fixture(scope="module")
def noise_images():
    return np.random.default_rng(3).random((5, 16, 16, 1)).astype(np.float32)


def reference_std(images, sigma):
    """Pixel standard deviation of each blurred image, with SciPy (the blur tfpath uses)."""
    blurred = gaussian_filter(images.astype(np.float64), (0, sigma, sigma, 0), mode="nearest")
    return blurred.std(axis=(1, 2, 3))


def std_of(images):
    return np.asarray(images, np.float64).std(axis=(1, 2, 3))


def test_select_blur_sigma_saturating_uncertainty(noise_images):
    """H = 1 / max(std, c): blurring lowers the pixel std, so H rises until std ≤ c, then
    stays at 1/c. With c between the median std at σ = 1.25 and σ = 1.5 the paper's rule
    gives σ = 1.5."""
    x = noise_images
    grid = DEFAULT_SIGMAS
    medians = np.array([np.median(reference_std(x, s)) for s in grid])
    assert np.all(np.diff(medians) < 0)
    c = 0.5 * (medians[4] + medians[5])                       # σ = 1.25 and 1.5

    def H(images):
        return 1.0 / np.maximum(std_of(images), c)

    res = metrics.select_blur_sigma(H, x)
    assert res.sigma == 1.5
    np.testing.assert_allclose(res.sigmas, np.arange(1, 13) * 0.25)
    np.testing.assert_allclose(res.per_image, 1 / np.maximum(
        np.stack([reference_std(x, s) for s in grid], 1), c), rtol=1e-5)
    np.testing.assert_allclose(res.uncertainty, np.median(res.per_image, 0))
    assert res.uncertainty.max() == pytest.approx(1 / c)
    assert res.threshold == pytest.approx((1 - 1e-3) / c)
    # the mean of the plateau is reached once every image's std is ≤ c
    per_std = np.stack([reference_std(x, s) for s in grid], 1)
    first_all = grid[int(np.flatnonzero((per_std <= c).all(0))[0])]
    assert metrics.select_blur_sigma(H, x, aggregate="mean").sigma == first_all
    # a coarser grid: the smallest σ on it that reaches the plateau
    assert metrics.select_blur_sigma(H, x, sigmas=[0.5, 1.0, 2.0, 3.0]).sigma == 2.0


def test_select_blur_sigma_needs_a_tolerance_on_a_plateau(noise_images):
    """A plateau whose values still creep up by ~1e-8 (rounding-sized drifts): the exact argmax
    (tolerance 0) picks the last σ of the grid, the default tolerance the plateau's start."""
    x = noise_images
    c = float(np.median(reference_std(x, 1.6)))          # reached between σ = 1.5 and 1.75

    def H(images):
        s = std_of(images)
        return 1.0 / np.maximum(s, c) - 1e-7 * s

    assert metrics.select_blur_sigma(H, x).sigma == 1.75
    assert metrics.select_blur_sigma(H, x, tolerance=0).sigma == 3.0
    # a loose tolerance accepts σ earlier on the rise
    assert metrics.select_blur_sigma(H, x, tolerance=0.2).sigma < 1.75


def test_select_blur_sigma_interior_maximum(noise_images):
    """One image; H peaks where its blurred std equals its value at σ = 2 (SciPy) and falls
    on either side: the rule returns 2, where H = 1 up to the blur's float32 rounding."""
    x = noise_images[:1]
    target = float(reference_std(x, 2.0)[0])

    def H(images):
        return 1.0 - ((std_of(images) - target) / target) ** 2

    res = metrics.select_blur_sigma(H, x)
    assert res.sigma == 2.0
    j = int(np.argmax(res.uncertainty))
    assert res.sigmas[j] == 2.0 and res.uncertainty[j] == pytest.approx(1.0, abs=1e-8)
    assert res.uncertainty[j - 1] < res.threshold and res.uncertainty[j + 1] < res.threshold


def test_select_blur_sigma_result_is_frozen_and_works_on_model_functions(cnn, images):
    def entropy(outputs, class_idx):
        p = tf.nn.softmax(outputs, axis=-1)
        return -tf.reduce_sum(p * tf.math.log(p + 1e-12), axis=-1)

    res = metrics.select_blur_sigma(tfpath.ModelFunction(cnn, target=entropy), images,
                                    sigmas=(0.5, 1.0, 2.0))
    assert isinstance(res, metrics.BlurSigmaSelection)
    assert res.sigma in (0.5, 1.0, 2.0) and res.per_image.shape == (len(images), 3)
    j = list(res.sigmas).index(res.sigma)
    assert res.uncertainty[j] >= res.threshold
    assert np.all(res.uncertainty[:j] < res.threshold)
    with pytest.raises(dataclasses.FrozenInstanceError):
        res.sigma = 3.0
    with pytest.raises(ValueError):
        res.uncertainty[0] = 0.0                            # read-only arrays
    assert "sigma=" in repr(res)


@pytest.mark.parametrize("kwargs,exc,match", [
    (dict(sigmas=()), ValueError, "sigmas"),
    (dict(sigmas=(0.0, 1.0)), ValueError, "sigmas"),
    (dict(sigmas=(-1.0,)), ValueError, "sigmas"),
    (dict(sigmas=(1.0, 1.0)), ValueError, "sigmas"),
    (dict(sigmas=(2.0, 1.0)), ValueError, "sigmas"),
    (dict(sigmas=(1.0, np.inf)), ValueError, "sigmas"),
    (dict(sigmas=("a", "b")), TypeError, "sigmas"),
    (dict(sigmas=(True, False)), TypeError, "sigmas"),
    (dict(tolerance=-0.1), ValueError, "tolerance"),
    (dict(tolerance=1.0), ValueError, "tolerance"),
    (dict(tolerance="1%"), TypeError, "tolerance"),
    (dict(aggregate="max"), ValueError, "aggregate"),
    (dict(batch_size=0), ValueError, "batch_size"),
])
def test_select_blur_sigma_errors(noise_images, kwargs, exc, match):
    with pytest.raises(exc, match=match):
        metrics.select_blur_sigma(std_of, noise_images, **kwargs)


def test_select_blur_sigma_errors_on_images_and_class_targets(cnn, images):
    with pytest.raises(ValueError, match="images"):
        metrics.select_blur_sigma(std_of, images * 255.0)
    with pytest.raises(ValueError, match="uncertainty"):
        metrics.select_blur_sigma(tfpath.ModelFunction(cnn), images)      # needs a class
