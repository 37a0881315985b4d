"""PIC (AIC / SIC) against PAIR's saliency.metrics.pic, run behind a NumPy-2 shim."""
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from scipy.ndimage import gaussian_filter  # noqa: E402

from tfpath import metrics  # noqa: E402
from tfpath.metrics import information_curves as pic_lib  # noqa: E402


@pytest.fixture
def pair_pic(monkeypatch):
    """PAIR's pic module with ``np.trapz`` restored for the duration of one test only."""
    import saliency.metrics.pic as pair
    monkeypatch.setattr(np, "trapz", np.trapezoid, raising=False)
    return pair


def _images(n, h, w, c, seed):
    rng = np.random.default_rng(seed)
    smooth = gaussian_filter(rng.random((n, h, w, c)), sigma=(0, 2, 2, 0))
    smooth = (smooth - smooth.min()) / (smooth.max() - smooth.min())
    detail = rng.random((n, h, w, c)) * 0.4
    u8 = np.round((0.6 * smooth + detail) * 255).clip(0, 255).astype(np.uint8)
    return u8


class TemplateModel:
    """Softmax over classes k of β·corr(x, template_k): the original image of class k scores
    high, blurred versions lower. A NumPy callable fn(images) -> [n, K]."""

    def __init__(self, templates, beta=12.0):
        t = templates.reshape(len(templates), -1).astype(np.float64)
        t = t - t.mean(axis=1, keepdims=True)
        self.t = t / np.linalg.norm(t, axis=1, keepdims=True)
        self.beta = beta

    def __call__(self, x):
        f = np.asarray(x, np.float64).reshape(len(x), -1)
        f = f - f.mean(axis=1, keepdims=True)
        f = f / np.maximum(np.linalg.norm(f, axis=1, keepdims=True), 1e-12)
        logits = self.beta * f @ self.t.T
        e = np.exp(logits - logits.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)


def _pair_results(pair, u8, sal, masks, model, classes, kind, min_pred_value, squeeze):
    results, skipped = [], []
    for i in range(len(u8)):
        img = u8[i, ..., 0] if squeeze else u8[i]

        def pred_func(batch, i=i):
            x = batch.astype(np.float32) / 255.0
            if squeeze:
                x = x[..., None]
            probs = model(x)
            if kind == "sic":
                return list(probs[:, classes[i]])
            return list((probs.argmax(axis=1) == classes[i]).astype(float))

        try:
            results.append(pair.compute_pic_metric(img, sal[i], masks[i], pred_func,
                                                   metrics.PAIR_THRESHOLDS,
                                                   min_pred_value=min_pred_value))
            skipped.append(False)
        except pair.ComputePicMetricError:
            results.append(None)
            skipped.append(True)
    return results, np.array(skipped)


@pytest.mark.parametrize("kind,channels,min_pred", [("sic", 3, 0.0), ("sic", 1, 0.3),
                                                    ("aic", 3, 0.8)])
def test_pic_agrees_with_pair(pair_pic, kind, channels, min_pred):
    n, h, w = 6, 24, 24
    u8 = _images(n, h, w, channels, seed=channels)
    images = u8.astype(np.float32) / 255.0
    rng = np.random.default_rng(7)
    sal = rng.random((n, h, w))
    masks = np.stack([pic_lib.generate_random_mask(h, w, 0.01, rng) for _ in range(n)])
    model = TemplateModel(images)
    classes = np.arange(n)
    if kind == "aic":
        classes = classes.copy()
        classes[0] = 1          # a misclassified image: PAIR skips it (prediction 0 < 0.8)
    ours = metrics.pic(model, images, sal, classes, kind=kind, random_masks=masks,
                       min_pred_value=min_pred)
    theirs, skipped = _pair_results(pair_pic, u8, sal, masks, model, classes, kind, min_pred,
                                    squeeze=(channels == 1))
    np.testing.assert_array_equal(~ours.extra["valid"], skipped)
    assert (~skipped).sum() >= 3, "the test needs images PAIR does not skip"
    if kind == "aic":
        assert skipped[0] and "min_pred_value" in ours.extra["skipped"][0]
    for i in np.flatnonzero(~skipped):
        np.testing.assert_allclose(ours.curves[i], theirs[i].curve_y, atol=1e-9)
        np.testing.assert_allclose(ours.per_image[i], theirs[i].auc, atol=1e-9)
        np.testing.assert_allclose(ours.extra["predictions"][i], theirs[i].predictions,
                                   atol=1e-9)
    agg = pair_pic.aggregate_individual_pic_results([r for r in theirs if r is not None],
                                                    method="median" if kind == "sic" else "mean")
    np.testing.assert_allclose(ours.value, agg.auc, atol=1e-9)
    np.testing.assert_allclose(ours.curve, agg.curve_y, atol=1e-9)
    assert np.all(np.isnan(ours.per_image[skipped]))


def test_interpolation_matches_pair_blur(pair_pic):
    u8 = _images(1, 20, 17, 3, seed=3)[0]
    mask = pic_lib.generate_random_mask(20, 17, 0.05, np.random.default_rng(1))
    np.testing.assert_array_equal(pic_lib.interpolate_image(u8, mask),
                                  pair_pic.create_blurred_image(u8, mask))
    assert pic_lib.compressed_size(u8, "webp") == pair_pic.estimate_image_entropy(u8)


def test_msssim_works_on_small_images():
    size, factors = pic_lib.msssim_parameters(28, 28)
    assert (size - 1) * 2 ** (len(factors) - 1) < 28 and len(factors) >= 3
    assert np.isclose(sum(factors), 1.0)
    assert pic_lib.msssim_parameters(200, 200) == (11, pytest.approx(
        (0.0448, 0.2856, 0.3001, 0.2363, 0.1333), rel=1e-3))
    x = _images(3, 16, 16, 1, seed=0).astype(np.float32) / 255.0
    same = pic_lib.msssim(x, x)
    np.testing.assert_allclose(same, 1.0, atol=1e-5)
    noisy = np.clip(x + np.random.default_rng(0).normal(0, 0.3, x.shape), 0, 1).astype(
        np.float32)
    assert np.all(pic_lib.msssim(noisy, x) < 0.9)


def test_pic_msssim_variant_orders_good_above_random():
    """MS-SSIM SIC ranks a saliency map that points at the model's evidence above random maps.

    The images share one smooth background and differ only inside a 12 × 12 patch, so the
    template model's class evidence lies in the patch: revealing the patch first recovers the
    class at little information, random pixels do not. (Over 8 image seeds × 5 random maps the
    margin is at least 0.14.)"""
    n, h, w = 5, 28, 28
    rng = np.random.default_rng(5)
    background = gaussian_filter(rng.random((h, w)), 2)
    background = 0.2 + 0.6 * (background - background.min()) / np.ptp(background)
    images = np.repeat(background[None], n, axis=0)
    patch = np.zeros((h, w), bool)
    patch[8:20, 8:20] = True
    images[:, patch] = rng.random((n, patch.sum()))
    images = (np.round(images[..., None] * 255) / 255).astype(np.float32)   # exact in uint8
    model = TemplateModel(images)
    classes = np.arange(n)
    good = patch[None] + 0.01 * rng.random((n, h, w))     # the patch first, no ties
    res = metrics.sic(model, images, good, classes, information="msssim", min_pred_value=0.0)
    assert res.extra["valid"].all()
    info = res.extra["information"]
    assert np.all(info[:, -1] == pytest.approx(1.0, abs=1e-5))   # MS-SSIM(x, x) = 1
    assert np.all(info[:, 0] < info[:, -1])                      # the blurred image is farther
    for seed in (0, 1):
        bad = metrics.sic(model, images, np.random.default_rng(seed).random((n, h, w)), classes,
                          information="msssim", min_pred_value=0.0)
        assert bad.extra["valid"].all()
        assert res.value > bad.value + 0.1, (res, bad)
