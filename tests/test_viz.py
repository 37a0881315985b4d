"""tfpath.viz: PAIR-compatible normalisation, overlays, PNG sizes and argument errors."""
import numpy as np
import pytest
from PIL import Image

import saliency.core as pair
from tfpath import viz


@pytest.fixture
def mask():
    return np.random.default_rng(0).normal(size=(12, 10, 3)).astype(np.float32)


def test_grayscale_heatmap_equals_pair(mask):
    for p in (99, 95, 100):
        np.testing.assert_allclose(viz.heatmap(mask, percentile=p),
                                   pair.VisualizeImageGrayscale(mask, percentile=p), atol=1e-6)


def test_signed_heatmap_is_symmetric_and_keeps_sign(mask):
    heat = viz.heatmap(mask, signed=True)
    s = mask.sum(axis=2)
    assert heat.shape == (12, 10) and heat.min() >= -1 and heat.max() <= 1
    # explicit NumPy: Σ_c m over the 99th percentile of |Σ_c m|, clipped to [-1, 1]
    np.testing.assert_allclose(heat, np.clip(s / np.percentile(np.abs(s), 99), -1, 1),
                               atol=1e-6)
    assert np.all(np.sign(heat[np.abs(heat) > 0]) == np.sign(s[np.abs(heat) > 0]))
    np.testing.assert_allclose(viz.heatmap(-mask, signed=True), -heat, atol=1e-7)


def test_channel_reductions(mask):
    np.testing.assert_allclose(viz.reduce_channels(mask, "abs_sum"), np.abs(mask).sum(2),
                               rtol=1e-6)
    np.testing.assert_allclose(viz.reduce_channels(mask, "sum"), mask.sum(2), rtol=1e-5,
                               atol=1e-6)
    np.testing.assert_allclose(viz.reduce_channels(mask, "max_abs"), np.abs(mask).max(2))
    assert viz.reduce_channels(mask[..., 0]).shape == (12, 10)


def test_constant_mask_gives_zeros_not_nan():
    zero = np.zeros((5, 5, 1), np.float32)
    assert np.all(viz.heatmap(zero) == 0) and np.all(viz.heatmap(zero, signed=True) == 0)


def test_overlay_and_colorize_ranges(mask):
    heat = viz.heatmap(mask)
    rgb = viz.overlay(np.linspace(0, 1, 24 * 20).reshape(24, 20), heat)   # heat is resized
    assert rgb.shape == (24, 20, 3) and 0 <= rgb.min() and rgb.max() <= 1
    assert viz.colorize(viz.heatmap(mask, signed=True)).shape == (12, 10, 3)
    # Unattributed pixels show the gray image unchanged.
    img = np.full((12, 10, 3), 0.25, np.float32)
    np.testing.assert_allclose(viz.overlay(img, np.zeros((12, 10))), img)


def test_save_heatmap_sizes(tmp_path, mask):
    p = viz.save_heatmap(mask, tmp_path / "a" / "h.png")
    assert Image.open(p).size == (10, 12)                       # (width, height)
    p = viz.save_heatmap(mask, tmp_path / "h2.png", size=(48, 40), signed=True)
    assert Image.open(p).size == (40, 48)
    p = viz.save_heatmap(mask, tmp_path / "h3.png", image=np.zeros((30, 20, 3), np.uint8))
    assert Image.open(p).size == (20, 30) and Image.open(p).mode == "RGB"


def test_save_gallery(tmp_path, mask):
    images = np.random.default_rng(1).uniform(size=(2, 12, 10, 3)).astype(np.float32)
    cols = {"IG": np.stack([mask, -mask]), "IDGI": np.stack([mask, mask])}
    p = viz.save_gallery(images, cols, tmp_path / "g.png", row_labels=["a", "b"],
                         notes={"IG": ["δ=0.1", "δ=0.2"]}, title="t")
    w, h = Image.open(p).size
    assert w > h > 100


@pytest.mark.parametrize("call, argument", [
    (lambda m: viz.heatmap(m, percentile=0), "percentile"),
    (lambda m: viz.heatmap(m, percentile=101), "percentile"),
    (lambda m: viz.reduce_channels(m, "mean"), "reduction"),
    (lambda m: viz.heatmap(m, signed=True, reduction="abs_sum"), "reduction"),
    (lambda m: viz.heatmap(np.zeros((2, 3, 4, 5), np.float32)), "mask"),
    (lambda m: viz.heatmap(np.full((3, 3), np.nan, np.float32)), "mask"),
    (lambda m: viz.overlay(np.zeros((4, 4, 2)), np.zeros((4, 4))), "image"),
    (lambda m: viz.overlay(np.zeros((4, 4)), np.zeros((4, 4)), alpha=2), "alpha"),
    (lambda m: viz.colorize(np.zeros((4, 4)), cmap="nope"), "cmap"),
    (lambda m: viz.save_gallery(np.zeros((2, 4, 4)), {"IG": np.zeros((3, 4, 4))}, "x.png"),
     "columns['IG']"),
    (lambda m: viz.save_gallery(np.zeros((2, 4, 4)), {}, "x.png"), "columns"),
])
def test_errors_name_the_argument(mask, call, argument):
    with pytest.raises((ValueError, TypeError), match=argument.replace("[", r"\[")):
        call(mask)


def test_viz_and_metrics_share_one_channel_reduction(mask, monkeypatch):
    """viz.reduce_channels and metrics.saliency_maps both use tfpath.core.reductions (no second
    copy of the names or formulas), and both agree with PAIR's visualisations and NumPy."""
    from tfpath import metrics
    from tfpath.core import reductions
    assert viz.CHANNEL_REDUCTIONS is reductions.REDUCTIONS
    batch = np.stack([mask, -2 * mask])
    expected = {"abs_sum": np.abs(batch).sum(-1), "sum": batch.sum(-1),
                "max_abs": np.abs(batch).max(-1)}
    for r in viz.CHANNEL_REDUCTIONS:
        maps = metrics.saliency_maps(batch, batch.shape, r)
        np.testing.assert_allclose(maps, expected[r], rtol=1e-6, atol=1e-6)
        np.testing.assert_allclose(viz.reduce_channels(batch[1], r), expected[r][1], rtol=1e-6,
                                   atol=1e-6)
        # maps without a channel axis are reduced as one channel: |m| or m
        flat = batch[..., 0]
        one = np.abs(flat) if r != "sum" else flat
        np.testing.assert_allclose(metrics.saliency_maps(flat, batch.shape, r), one, rtol=1e-7)
    # PAIR: VisualizeImageGrayscale(·, 100) is the min-max normalised Σ_c |m|, and
    # VisualizeImageDiverging(·, 100) is (Σ_c m + span) / (2 span), span = max Σ_c m
    for i in range(2):
        gray = metrics.saliency_maps(batch, batch.shape, "abs_sum")[i]
        np.testing.assert_allclose((gray - gray.min()) / np.ptp(gray),
                                   pair.VisualizeImageGrayscale(batch[i], percentile=100),
                                   atol=1e-6)
        signed = metrics.saliency_maps(batch, batch.shape, "sum")[i]
        span = abs(np.percentile(signed, 100))
        np.testing.assert_allclose(np.clip((signed + span) / (2 * span), -1, 1),
                                   pair.VisualizeImageDiverging(batch[i], percentile=100),
                                   atol=1e-6)
    calls = []
    original = reductions.reduce_channels
    monkeypatch.setattr(reductions, "reduce_channels",
                        lambda *a, **k: calls.append(a[1]) or original(*a, **k))
    viz.reduce_channels(mask, "max_abs")
    metrics.saliency_maps(batch, batch.shape, "sum")
    assert calls == ["max_abs", "sum"]
