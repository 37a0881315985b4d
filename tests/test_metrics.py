"""Insertion / deletion / DiffID / PIC on models with known answers, ground truth, completeness,
and argument errors."""
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402

import tfpath  # noqa: E402
from tfpath import metrics  # noqa: E402

N, H, W = 8, 16, 16


@pytest.fixture(scope="module")
def linear_case():
    """F(x) = Σ w·x with w ≥ 0 concentrated on a square, images in [0, 1] with a bright square
    there; the exact attribution is w ⊙ x (IG from black)."""
    rng = np.random.default_rng(0)
    w = rng.random((H, W, 1)) * 0.05
    w[4:11, 5:12] += rng.random((7, 7, 1))
    x = (rng.random((N, H, W, 1)) * 0.5).astype(np.float32)
    x[:, 4:11, 5:12] += 0.5
    w_tf = tf.constant(w, tf.float32)
    score = tfpath.ModelFunction(lambda v: tf.reduce_sum(v * w_tf, axis=[1, 2, 3]),
                                 target="score")
    # a 2-class classifier for PIC: logits (w·x − b, 0), class 0 is the explained one
    bias = float(np.median((x * w).sum(axis=(1, 2, 3)))) * 0.7

    def two_class(v):
        s = tf.reduce_sum(v * w_tf, axis=[1, 2, 3]) - bias
        return tf.stack([s * 0.5, tf.zeros_like(s)], axis=1)

    classifier = tfpath.ModelFunction(two_class, target="logit", output="logits")
    # the closed form, so that the metric tests do not depend on the attribution engine
    # (test_ig_is_exact_on_linear checks that IG computes it)
    exact = (w * x).astype(np.float32)
    rand = rng.random(x.shape).astype(np.float32)
    return dict(w=w, x=x, score=score, classifier=classifier, exact=exact, random=rand)


def test_ig_is_exact_on_linear(linear_case):
    c = linear_case
    ig = tfpath.IntegratedGradients().GetMaskBatch(c["x"], c["score"], x_steps=4)
    np.testing.assert_allclose(ig, c["exact"], rtol=1e-4, atol=1e-6)


def test_insertion_curve_values_are_exact(linear_case):
    """With black fill, the insertion curve at k pixels is the sum of the k largest w·x."""
    c = linear_case
    res = metrics.insertion(c["score"], c["x"], c["exact"], steps=8)
    contrib = np.sort((c["w"] * c["x"]).reshape(N, -1), axis=1)[:, ::-1]
    for j, f in enumerate(res.x):
        k = int(np.rint(f * H * W))
        np.testing.assert_allclose(res.curves[:, j], contrib[:, :k].sum(axis=1), rtol=1e-4,
                                   atol=1e-5)
    dele = metrics.deletion(c["score"], c["x"], c["exact"], steps=8)
    total = np.broadcast_to(res.curves[:, -1:], res.curves.shape)
    np.testing.assert_allclose(dele.curves + res.curves, total, rtol=1e-4)  # black fill = 0


@pytest.mark.parametrize("metric,kwargs", [
    ("insertion", {}), ("insertion", {"fill": "blur", "normalize": "ratio"}),
    ("insertion", {"segments": 4}), ("deletion", {}), ("deletion", {"fill": "mean"}),
    ("diffid", {}), ("diffid", {"auc_rule": "trapezoid", "normalize": None})])
def test_exact_beats_random_on_linear(linear_case, metric, kwargs):
    c = linear_case
    fn = getattr(metrics, metric)
    good = fn(c["score"], c["x"], c["exact"], np.zeros(N, int) if metric == "diffid" else None,
              **kwargs)
    bad = fn(c["score"], c["x"], c["random"],
             np.zeros(N, int) if metric == "diffid" else None, **kwargs)
    if good.higher_is_better:
        assert np.all(good.per_image > bad.per_image), (good, bad)
    else:
        assert np.all(good.per_image < bad.per_image), (good, bad)
    assert good.standard_error >= 0 and np.isfinite(good.value)


def test_exact_beats_random_on_pic(linear_case):
    c = linear_case
    cls = np.zeros(N, int)
    for kind in ("sic", "aic"):
        good = metrics.pic(c["classifier"], c["x"], c["exact"], cls, kind=kind,
                           min_pred_value=0.5)
        bad = metrics.pic(c["classifier"], c["x"], c["random"], cls, kind=kind,
                          min_pred_value=0.5)
        assert good.extra["valid"].sum() >= N // 2
        assert good.value > bad.value + 0.1, (kind, good, bad)
    # the MS-SSIM variant ranks them the same way
    good = metrics.sic(c["classifier"], c["x"], c["exact"], cls, information="msssim",
                       min_pred_value=0.5)
    bad = metrics.sic(c["classifier"], c["x"], c["random"], cls, information="msssim",
                      min_pred_value=0.5)
    assert good.value > bad.value


def test_diffid_deletes_most_salient_and_fills_with_mean():
    """ψ(δ) = F(keep top 1−δ) − F(delete top δ) with the mean of the kept pixels as fill
    (Yang et al., AAAI 2023, Eq. 7, with Del removing the most salient pixels as the authors'
    code does): checked on a 2×2 image by hand."""
    seen = []

    def f(v):
        seen.append(np.array(v))
        return v.reshape(len(v), -1) @ np.array([1.0, 2.0, 3.0, 4.0])

    x = np.array([[0.1, 0.2], [0.3, 0.4]], np.float32).reshape(1, 2, 2, 1)
    attr = np.array([[4.0, 3.0], [2.0, 1.0]]).reshape(1, 2, 2)   # pixel 0 most salient
    res = metrics.diffid(f, x, attr, 0, deltas=[0.25, 0.5], normalize=None)
    flat = x.reshape(-1).astype(np.float64)
    ins25 = np.where([1, 1, 1, 0], flat, flat[:3].mean())       # keep top 3
    del25 = np.where([0, 1, 1, 1], flat, flat[1:].mean())       # delete top 1
    ins50 = np.where([1, 1, 0, 0], flat, flat[:2].mean())
    del50 = np.where([0, 0, 1, 1], flat, flat[2:].mean())
    wts = np.array([1.0, 2, 3, 4])
    expect = [ins25 @ wts - del25 @ wts, ins50 @ wts - del50 @ wts]
    np.testing.assert_allclose(res.curves[0], expect, rtol=1e-5)
    assert np.all(res.curves[0] != 0)       # the paper's literal text would give ψ ≡ 0
    np.testing.assert_allclose(res.value, np.mean(expect), rtol=1e-5)


def _recording_model(weights):
    """A linear model fn(images) -> [n] that records every batch it is given."""
    seen = []

    def f(v):
        seen.append(np.array(v))
        return v.reshape(len(v), -1) @ weights

    return f, seen


def test_count_rule_sets_the_number_of_filled_pixels():
    """16 pixels, δ = 0.1: δ·U = 1.6, so "round" moves 2 pixels and "floor" (the authors'
    int(N·δ), Yang et al. AAAI 2023 code) moves 1; DiffID defaults to "floor", insertion and
    deletion to "round". With a black fill and positive pixels, filled pixels are exactly 0."""
    rng = np.random.default_rng(0)
    x = (0.2 + 0.8 * rng.random((1, 4, 4, 1))).astype(np.float32)
    saliency = rng.permutation(16).astype(np.float32).reshape(1, 4, 4)
    order = np.argsort(-saliency.reshape(-1), kind="stable")     # most salient first
    f, seen = _recording_model(np.linspace(1.0, 2.0, 16))

    def filled(image):
        return np.flatnonzero(image.reshape(-1) == 0.0)

    for rule, k in (("round", 2), ("floor", 1)):
        seen.clear()
        metrics.diffid(f, x, saliency, 0, deltas=[0.1], fill="black", count_rule=rule,
                       normalize=None)
        ins, dele = seen[0][0], seen[1][0]
        np.testing.assert_array_equal(np.sort(filled(ins)), np.sort(order[-k:]))  # least
        np.testing.assert_array_equal(np.sort(filled(dele)), np.sort(order[:k]))  # most
        for mode, n_filled, top in (("insertion", 16 - k, False), ("deletion", k, True)):
            seen.clear()
            metrics.perturbation_curve(f, x, saliency, mode=mode, fractions=[0.1],
                                       count_rule=rule)
            gone = filled(seen[0][0])
            assert gone.size == n_filled, (rule, mode)
            expect = order[:k] if top else order[k:]
            np.testing.assert_array_equal(np.sort(gone), np.sort(expect))
    # defaults: DiffID floors, insertion rounds
    seen.clear()
    metrics.diffid(f, x, saliency, 0, deltas=[0.1], fill="black", normalize=None)
    assert filled(seen[0][0]).size == 1 and filled(seen[1][0]).size == 1
    seen.clear()
    metrics.insertion(f, x, saliency, fractions=[0.1])
    assert filled(seen[0][0]).size == 14
    # the default grid removes int(16·δ) pixels in both Ins and Del, as the authors' code
    seen.clear()
    metrics.diffid(f, x, saliency, 0, fill="black", normalize=None)
    expect = [int(16 * d) for d in metrics.diffid.__kwdefaults__["deltas"]]
    assert [filled(im).size for im in seen[0]] == expect
    assert [filled(im).size for im in seen[1]] == expect
    assert expect != [int(np.rint(16 * d)) for d in metrics.diffid.__kwdefaults__["deltas"]]
    with pytest.raises(ValueError, match="count_rule"):
        metrics.insertion(f, x, saliency, count_rule="ceil")
    with pytest.raises(ValueError, match="count_rule"):
        metrics.diffid(f, x, saliency, 0, count_rule="ceil")


def test_maps_without_channel_axis_are_reduced_like_one_channel(linear_case):
    """[n, H, W] maps used to skip ``reduce`` and be ranked by their signed values; they are
    now reduced as [n, H, W, 1] attributions (abs_sum, max_abs -> |a|; sum -> a)."""
    c = linear_case
    signed = np.random.default_rng(3).normal(size=(N, H, W)).astype(np.float32)
    cls = np.zeros(N, int)
    for reduce in ("abs_sum", "sum", "max_abs"):
        for name in ("diffid", "insertion", "deletion"):
            fn = getattr(metrics, name)
            args = (cls,) if name == "diffid" else ()
            maps = fn(c["score"], c["x"], signed, *args, reduce=reduce)
            one = fn(c["score"], c["x"], signed[..., None], *args, reduce=reduce)
            np.testing.assert_array_equal(maps.per_image, one.per_image)
            np.testing.assert_array_equal(maps.curves, one.curves)
            assert maps.value == one.value
        masks = c["w"][None, ..., 0] > 0.3
        masks = np.broadcast_to(masks, (N, H, W))
        for name in ("pointing_game", "mask_auc"):
            fn = getattr(metrics, name)
            np.testing.assert_array_equal(fn(signed, masks, reduce=reduce).per_image,
                                          fn(signed[..., None], masks, reduce=reduce).per_image)
    # the reduction is applied: |a| and a rank signed maps differently
    by_abs = metrics.diffid(c["score"], c["x"], signed, cls, reduce="abs_sum")
    by_sign = metrics.diffid(c["score"], c["x"], signed, cls, reduce="sum")
    assert by_abs.value != by_sign.value
    np.testing.assert_array_equal(
        by_abs.per_image, metrics.diffid(c["score"], c["x"], np.abs(signed), cls,
                                         reduce="sum").per_image)


def test_insertion_accepts_keras_model_and_reports_accuracy(cnn, images):
    attr = np.random.default_rng(1).random(images.shape).astype(np.float32)
    res = metrics.insertion(cnn, images, attr, 2, steps=4, batch_size=7)
    assert res.curves.shape == (4, 5) and res.extra["accuracy"].shape == (4, 5)
    logits = cnn(images).numpy()
    np.testing.assert_allclose(res.curves[:, -1], logits[:, 2], rtol=1e-4, atol=1e-5)
    prob = metrics.insertion(tfpath.ModelFunction(cnn), images, attr, 2, steps=4,
                             target="probability")
    np.testing.assert_allclose(prob.curves[:, -1], tf.nn.softmax(logits)[:, 2], rtol=1e-4)


# ----------------------------------------------------------------------- ground truth
def test_pointing_game_and_mask_auc_on_ground_truth():
    rng = np.random.default_rng(0)
    masks = np.zeros((5, 10, 12), bool)
    for i in range(5):
        r, c = rng.integers(0, 6, 2)
        masks[i, r:r + 4, c:c + 5] = True
    truth = masks[..., None].astype(np.float32)
    assert metrics.pointing_game(truth, masks).value == 1.0
    assert metrics.mask_auc(truth, masks).value == 1.0
    assert metrics.mask_mass(truth, masks).value == 1.0
    inverse = 1.0 - truth
    assert metrics.pointing_game(inverse, masks).value == 0.0
    assert metrics.mask_auc(inverse, masks).value == 0.0
    noise = rng.random((5, 10, 12)).astype(np.float32)
    assert 0.2 < metrics.mask_auc(noise, masks).value < 0.8
    # tolerance: a peak next to the mask counts once the mask is dilated
    peak = np.zeros((1, 10, 12), np.float32)
    m = np.zeros((1, 10, 12), bool)
    m[0, 4:6, 4:6] = True
    peak[0, 4, 7] = 1.0
    assert metrics.pointing_game(peak, m).value == 0.0
    assert metrics.pointing_game(peak, m, tolerance=2).value == 1.0


def test_ground_truth_correlation():
    rng = np.random.default_rng(0)
    t = rng.normal(size=(20, 5)).astype(np.float32)
    assert metrics.ground_truth_correlation(t * 3 + 1, t).value == pytest.approx(1.0)
    assert metrics.ground_truth_correlation(-t, t, method="spearman").value == pytest.approx(-1)


# ----------------------------------------------------------------------- completeness
def test_completeness_summary(linear_case, smooth_cnn):
    c = linear_case
    details = tfpath.IntegratedGradients().GetMaskBatchWithDetails(c["x"], c["score"],
                                                                  x_steps=4)
    exact = metrics.completeness(details)
    assert exact.value < 1e-4 and not exact.higher_is_better
    x = np.random.default_rng(0).random((3, 10, 10, 1)).astype(np.float32)
    mf = tfpath.ModelFunction(smooth_cnn)
    coarse = metrics.completeness(tfpath.IntegratedGradients().GetMaskBatchWithDetails(
        x, mf, {"class_idx": 0}, x_steps=2, integrator="left"))
    fine = metrics.completeness(tfpath.IntegratedGradients().GetMaskBatchWithDetails(
        x, mf, {"class_idx": 0}, x_steps=64, integrator="gauss_legendre"))
    assert fine.value < coarse.value
    manual = metrics.completeness(attributions=c["exact"],
                                  end_values=(c["w"] * c["x"]).sum(axis=(1, 2, 3)),
                                  start_values=np.zeros(N))
    assert manual.extra["abs_delta_max"] < 1e-3


# ----------------------------------------------------------------------- bad inputs
@pytest.mark.parametrize("metric", ["insertion", "deletion", "diffid", "sic"])
def test_bad_inputs_name_the_argument(linear_case, metric):
    c = linear_case
    fn = getattr(metrics, metric)
    model = c["classifier"] if metric == "sic" else c["score"]
    cls = np.zeros(N, int)
    with pytest.raises(ValueError, match="attributions"):
        fn(model, c["x"], c["exact"][:, :8], cls)                    # wrong shape
    nan = c["exact"].copy()
    nan[0, 0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="attributions.*NaN"):
        fn(model, c["x"], nan, cls)
    with pytest.raises(ValueError, match="images.*empty"):
        fn(model, c["x"][:0], c["exact"][:0], cls[:0])
    with pytest.raises(ValueError, match="images.*value_range"):
        fn(model, c["x"] * 255.0, c["exact"], cls)                   # 0..255 images
    with pytest.raises(ValueError, match="class_idx"):
        fn(model, c["x"], c["exact"], np.zeros(N + 1, int))
    with pytest.raises(TypeError, match="images"):
        fn(model, (c["x"] * 255).astype(np.uint8), c["exact"], cls)


def test_bad_ground_truth_inputs():
    a = np.ones((2, 6, 6), np.float32)
    with pytest.raises(ValueError, match="masks"):
        metrics.pointing_game(a, np.ones((2, 5, 6), bool))
    with pytest.raises(ValueError, match="attributions.*NaN"):
        metrics.mask_auc(np.full((2, 6, 6), np.nan, np.float32), np.ones((2, 6, 6), bool))
    with pytest.raises(ValueError, match="attributions.*empty"):
        metrics.pointing_game(np.ones((0, 6, 6), np.float32), np.ones((0, 6, 6), bool))
    with pytest.raises(ValueError, match="fill"):
        metrics.insertion(lambda v: v.sum(axis=(1, 2, 3)), np.ones((1, 4, 4, 1), np.float32),
                          np.ones((1, 4, 4), np.float32), fill="grey")
    with pytest.raises(ValueError, match="value_range"):
        metrics.insertion(lambda v: v.sum(axis=(1, 2, 3)), np.ones((1, 4, 4, 1), np.float32),
                          np.ones((1, 4, 4), np.float32), value_range=(1, 0))


def test_mask_mass_rejects_negative_saliency_after_the_reduction():
    """The negativity check runs on the map that is summed: signed [n, H, W] maps once gave a
    "fraction" outside [0, 1]. They are now reduced like one-channel attributions, so
    abs_sum / max_abs sum |a| and "sum" (signed) is refused."""
    masks = np.zeros((1, 4, 4), bool)
    masks[0, :2] = True
    signed = np.ones((1, 4, 4), np.float32)
    signed[0, 2:] = -0.9                       # inside 8, outside -7.2: "fraction" 8/0.8 = 10
    with pytest.raises(ValueError, match="reduce.*negative"):
        metrics.mask_mass(signed, masks, reduce="sum")
    for reduce in ("abs_sum", "max_abs"):
        assert metrics.mask_mass(signed, masks, reduce=reduce).value == pytest.approx(8 / 15.2)
    assert metrics.mask_mass(np.abs(signed), masks, reduce="sum").value == pytest.approx(
        8 / 15.2)
    signed4 = signed[..., None] * np.array([1.0, 0.5], np.float32)
    with pytest.raises(ValueError, match="reduce.*negative"):
        metrics.mask_mass(signed4, masks, reduce="sum")
    for reduce in ("abs_sum", "max_abs"):            # non-negative after reduction
        assert 0.0 <= metrics.mask_mass(signed4, masks, reduce=reduce).value <= 1.0


def test_rank_correlation_axis():
    """``axis`` used to be ignored; it now selects the axes that are ranked and correlated."""
    from scipy.stats import spearmanr
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(2, 3, 4, 5))
    default = metrics.rank_correlation(a, b)              # one value per example (axes 1, 2)
    assert default.shape == (3,)
    for i in range(3):
        assert default[i] == pytest.approx(spearmanr(a[i].ravel(), b[i].ravel())[0])
    np.testing.assert_allclose(metrics.rank_correlation(a, b, axis=(1, 2)), default)
    last = metrics.rank_correlation(a, b, axis=-1)
    assert last.shape == (3, 4)
    assert last[1, 2] == pytest.approx(spearmanr(a[1, 2], b[1, 2])[0])
    first = metrics.rank_correlation(a, b, axis=0)
    assert first.shape == (4, 5)
    assert first[3, 1] == pytest.approx(spearmanr(a[:, 3, 1], b[:, 3, 1])[0])
    both = metrics.rank_correlation(a, b, axis=(0, 2))
    assert both.shape == (4,)
    assert both[2] == pytest.approx(spearmanr(a[:, 2].ravel(), b[:, 2].ravel())[0])
    assert metrics.rank_correlation(a[0, 0], -a[0, 0]) == pytest.approx(-1.0)   # 1-D: vector
    for bad in (3, (1, 1), "x", -4):
        with pytest.raises(ValueError, match="axis"):
            metrics.rank_correlation(a, b, axis=bad)
    with pytest.raises(ValueError, match="shape"):
        metrics.rank_correlation(a, b[:2])


def test_retargeted_model_function_is_reused_across_metric_calls(linear_case, cnn, images):
    """SIC re-targets the ModelFunction to the probability through ModelFunction.with_target
    (memoised per target), and a Keras model is wrapped once per target: repeated metric calls
    reuse one compiled model function and trace nothing new."""
    import gc
    import weakref
    from tfpath.core import memo
    from tfpath.metrics.scoring import Scorer
    c = linear_case
    mf = tfpath.ModelFunction(c["classifier"].model, target="logit", output="logits")
    cls = np.zeros(N, int)

    def traces(m):
        # each compiled call is one trace (a concrete function); a new trace is a new entry
        fns = list(memo.cache_for(m.compiled, "traces").values())
        return len(fns), frozenset(id(f) for f in fns)

    first = metrics.sic(mf, c["x"], c["exact"], cls, min_pred_value=0.5)
    derived = Scorer(mf, None, 16, default_target="probability").model_function
    assert derived is not mf and derived is mf.with_target("probability")
    assert derived.target.name == tfpath.targets.get_target("probability").name
    assert derived is Scorer(mf, "Probability", 16).model_function  # names: case-insensitive
    count, keys = traces(derived)
    assert count >= 1                              # SIC compiled its calls on ``derived``
    for _ in range(3):
        again = metrics.sic(mf, c["x"], c["exact"], cls, min_pred_value=0.5)
        assert again.value == first.value
    assert traces(derived) == (count, keys)
    assert Scorer(mf, None, 16).model_function is mf                  # no override: itself
    other = Scorer(mf, "logit", 16).model_function
    assert other is not derived and other is Scorer(mf, "logit", 16).model_function
    # the memo does not keep a ModelFunction alive
    ref = weakref.ref(mf)
    del mf, derived, other
    gc.collect()
    assert ref() is None

    # a Keras model is wrapped once per target (default "score") and its calls compile once
    attr = np.random.default_rng(1).random(images.shape).astype(np.float32)
    wrapped = Scorer(cnn, None, 7).model_function
    assert wrapped is Scorer(cnn, "score", 7).model_function
    assert wrapped.target.name == tfpath.targets.get_target("score").name
    assert Scorer(cnn, "probability", 7).model_function is not wrapped
    first = metrics.insertion(cnn, images, attr, 2, steps=4, batch_size=7)
    count = traces(wrapped)
    assert count[0] >= 1
    again = metrics.insertion(cnn, images, attr, 2, steps=4, batch_size=7)
    assert traces(wrapped) == count
    np.testing.assert_array_equal(again.curves, first.curves)
