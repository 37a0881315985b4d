"""IG² (Zhuo and Ge, TPAMI 2024) against closed forms, an independent NumPy Algorithm 1 and the
paper's axioms."""
import warnings

import numpy as np
import pytest
import tensorflow as tf

import tfpath
from tfpath import baselines


def smooth(x):
    return tf.tanh(x[:, 0] * x[:, 1]) + tf.sin(x[:, 2]) + 0.5 * x[:, 0] ** 2


@pytest.fixture(scope="module")
def smooth_mf():
    return tfpath.ModelFunction(smooth, target="score")


def tanh_mlp(seed=0, d=5, hidden=8, classes=3, extra_linear=False):
    """Dense(hidden, tanh, name="hidden") -> Dense(classes) logits, with NumPy weights.
    ``extra_linear`` splits the last layer into two linear layers with the same product."""
    import keras
    rng = np.random.default_rng(seed)
    w1, b1 = rng.normal(size=(d, hidden)), rng.normal(size=hidden) * 0.3
    w2, b2 = rng.normal(size=(hidden, classes)), rng.normal(size=classes) * 0.3
    inputs = keras.Input((d,))
    h = keras.layers.Dense(hidden, activation="tanh", name="hidden")(inputs)
    if extra_linear:
        a = rng.normal(size=(hidden, hidden + 2))
        b = np.linalg.pinv(a) @ w2                       # a @ b == w2 (a has full row rank)
        z = keras.layers.Dense(hidden + 2, name="mid")(h)
        out = keras.layers.Dense(classes, name="logits")(z)
        model = keras.Model(inputs, out)
        model.get_layer("mid").set_weights([a, np.zeros(hidden + 2)])
        model.get_layer("logits").set_weights([b, b2])
    else:
        out = keras.layers.Dense(classes, name="logits")(h)
        model = keras.Model(inputs, out)
        model.get_layer("logits").set_weights([w2, b2])
    model.get_layer("hidden").set_weights([w1, b1])
    return model, (w1, b1, w2, b2)


def numpy_ig2(weights, x, ref, c, eta, k, clip=None, norm="l2", percentile=95.0):
    """Algorithm 1 + the code's attribution rule, in float64 NumPy with hand gradients."""
    w1, b1, w2, b2 = weights
    h_ref = np.tanh(ref @ w1 + b1)
    p = x.astype(np.float64).copy()
    attr = np.zeros_like(p)
    for _ in range(k):
        h = np.tanh(p @ w1 + b1)
        grad_f = w1 @ ((1 - h ** 2) * w2[:, c])
        g = w1 @ ((1 - h ** 2) * 2 * (h - h_ref))
        if norm == "l2":
            step = g / max(np.linalg.norm(g), 1e-12)
        else:
            keep = max(1, int(np.ceil(g.size * (100 - percentile) / 100)))
            thresh = np.sort(np.abs(g))[-keep]
            chosen = (np.abs(g) >= thresh) & (g != 0)
            step = np.sign(g) * chosen / max(chosen.sum(), 1)
        new = p - eta * step
        if clip is not None:
            new = np.clip(new, *clip)
        attr += grad_f * (p - new)
        p = new
    logits = lambda q: np.tanh(q @ w1 + b1) @ w2 + b2
    return attr, p, logits(x)[c] - logits(p)[c]


# ------------------------------------------------------------------ closed forms
def test_input_representation_is_right_rule_ig(smooth_mf):
    """f̃ = identity, η = ‖x - x^r‖ / k: GradPath is the straight segment and IG² is the
    right-endpoint IG from x^r; with M references (default η per reference) the weighted mean
    of those IGs."""
    x = np.array([[0.9, -0.4, 1.3], [-0.5, 0.8, 0.2]], np.float32)
    refs = np.array([[-0.2, 0.5, 0.1], [1.0, 1.0, -1.0], [0.3, -0.7, 0.9]], np.float32)
    k = 40
    ig2 = tfpath.IG2().GetMaskBatch(x, smooth_mf, None, references=refs,
                                    representation="input", steps=k,
                                    reference_weights=[1.0, 2.0, 1.0])
    ig = tfpath.IntegratedGradients()
    expected = sum(w * ig.GetMaskBatch(x, smooth_mf, None, x_baseline=np.repeat(r[None], 2, 0),
                                       x_steps=k, integrator="right")
                   for w, r in zip([0.25, 0.5, 0.25], refs))
    np.testing.assert_allclose(ig2, expected, atol=2e-5)
    # and one explicit η
    eta = float(np.linalg.norm(x[0] - refs[0]) / k)
    one = tfpath.IG2().GetMask(x[0], smooth_mf, None, references=refs[:1],
                               representation="input", steps=k, step_size=eta)
    np.testing.assert_allclose(one, ig.GetMask(x[0], smooth_mf, None, x_baseline=refs[0],
                                               x_steps=k, integrator="right"), atol=2e-5)


def test_linear_model_output_representation_exact():
    """f = w·x with f̃ = f: φ = w ⊙ (x - GradCF) and Σφ = F(x) - F(GradCF) exactly."""
    import keras
    w = np.array([[0.5], [-1.5], [2.0], [0.0]], np.float32)
    inputs = keras.Input((4,))
    out = keras.layers.Dense(1, use_bias=False, name="out")(inputs)
    model = keras.Model(inputs, out)
    model.get_layer("out").set_weights([w])
    mf = tfpath.ModelFunction(model, target="logit")
    x = np.array([1.0, 2.0, -1.0, 3.0], np.float32)
    ref = np.array([-2.0, 0.5, 1.0, 0.0], np.float32)
    d = tfpath.IG2().GetMaskWithDetails(x, mf, {"class_idx": 0}, references=ref[None],
                                        representation="out", steps=30, step_size=0.05)
    cf = d.counterfactual[0]
    np.testing.assert_allclose(d.mask, w[:, 0] * (x - cf), atol=1e-5)
    assert d.mask[3] == 0.0
    assert abs(d.completeness_gap) < 1e-5
    # every step moves by η along ±w/‖w‖, toward F(ref) = 0.25 from F(x) = -4.5 (no overshoot)
    np.testing.assert_allclose(cf, x + 30 * 0.05 * w[:, 0] / np.linalg.norm(w), atol=1e-5)


def test_matches_numpy_algorithm_1_l2_and_clip():
    model, weights = tanh_mlp(seed=1)
    mf = tfpath.ModelFunction(model, target="logit")
    rng = np.random.default_rng(0)
    x = rng.normal(size=(3, 5)).astype(np.float32).clip(-1.5, 1.5)
    refs = rng.normal(size=(2, 5)).astype(np.float32).clip(-1.5, 1.5)
    c = np.array([0, 2, 1])
    # a path shorter than the way to the representation's minimum (no zig-zag, where float32
    # and float64 paths part)
    d = tfpath.IG2().GetMaskBatchWithDetails(x, mf, {"class_idx": c}, references=refs,
                                             steps=40, step_size=0.02, clip=(-1.5, 1.5))
    assert np.any(np.abs(d.counterfactual) == 1.5)                 # clipping was active
    for i in range(3):
        parts = [numpy_ig2(weights, x[i].astype(np.float64), refs[j].astype(np.float64), c[i],
                           0.02, 40, clip=(-1.5, 1.5)) for j in range(2)]
        np.testing.assert_allclose(d.mask[i], np.mean([p[0] for p in parts], 0), atol=2e-4)
        np.testing.assert_allclose(d.counterfactual[i], np.stack([p[1] for p in parts]),
                                   atol=2e-4)
        np.testing.assert_allclose(d.counterfactual_explanation[i],
                                   x[i] - np.mean([p[1] for p in parts], 0), atol=2e-4)
        np.testing.assert_allclose(
            d.mask[i].sum() - d.completeness_gap[i], np.mean([p[2] for p in parts]), atol=1e-4)


def test_matches_numpy_l1_sparse():
    model, weights = tanh_mlp(seed=2, d=12)
    mf = tfpath.ModelFunction(model, target="logit")
    rng = np.random.default_rng(1)
    x, ref = rng.normal(size=12).astype(np.float32), rng.normal(size=12).astype(np.float32)
    mask = tfpath.IG2().GetMask(x, mf, {"class_idx": 1}, references=ref[None], steps=40,
                                step_size=0.05, norm="l1_sparse", percentile=75.0)
    attr, _, _ = numpy_ig2(weights, x.astype(np.float64), ref.astype(np.float64), 1, 0.05, 40,
                           norm="l1_sparse", percentile=75.0)
    np.testing.assert_allclose(mask, attr, atol=2e-4)


def completeness_gaps(etas, length=1.0):
    model, _ = tanh_mlp(seed=4)
    mf = tfpath.ModelFunction(model, target="logit")
    rng = np.random.default_rng(3)
    x, ref = rng.normal(size=5).astype(np.float32), rng.normal(size=5).astype(np.float32)
    out = []
    for eta in etas:
        d = tfpath.IG2().GetMaskWithDetails(x, mf, {"class_idx": 0}, references=ref[None],
                                            steps=int(round(length / eta)), step_size=eta)
        out.append(abs(float(d.completeness_gap)))
    return out


def test_completeness_gap_shrinks_linearly_with_step_size():
    gaps = completeness_gaps([0.05, 0.01, 0.002])
    # O(η): five times smaller steps (the same path length kη = 1) give a gap about five
    # times smaller
    assert 3.5 < gaps[0] / gaps[1] < 7, gaps
    assert 3.5 < gaps[1] / gaps[2] < 7, gaps


def test_max_toy_of_figure_5():
    """y = max(x1, x2 - 1), x = (3, 3), reference (0, 0), f̃ = f: GradCF ≈ (0, 1); x2 gets
    attribution (IG gives it none), and the start-point rule's gap is about 2 (φ ≈ (3, 2))."""
    def toy(x):
        return tf.maximum(x[:, 0], x[:, 1] - 1.0)
    mf = tfpath.ModelFunction(toy, target="score")
    x = np.array([3.0, 3.0], np.float32)
    d = tfpath.IG2().GetMaskWithDetails(x, mf, None, references=np.zeros((1, 2), np.float32),
                                        representation=lambda p: toy(p)[:, None], steps=700,
                                        step_size=0.01)
    np.testing.assert_allclose(d.counterfactual[0], [0.0, 1.0], atol=0.03)
    assert d.mask[1] > 1.0
    np.testing.assert_allclose(d.mask, [3.0, 2.0], atol=0.1)
    assert 1.8 < d.completeness_gap < 2.2
    ig = tfpath.IntegratedGradients().GetMask(x, mf, None, x_steps=64)
    assert ig[1] == 0.0


def test_path_length_is_steps_times_eta_without_clipping():
    model, _ = tanh_mlp(seed=5)
    mf = tfpath.ModelFunction(model, target="logit")
    rng = np.random.default_rng(4)
    x, refs = rng.normal(size=(2, 5)).astype(np.float32), rng.normal(size=(3, 5)).astype(np.float32)
    d = tfpath.IG2().GetMaskBatchWithDetails(x, mf, {"class_idx": 0}, references=refs,
                                             steps=50, step_size=0.03)
    np.testing.assert_allclose(d.path_length, 50 * 0.03, rtol=1e-4)
    clipped = tfpath.IG2().GetMaskBatchWithDetails(
        np.clip(x, -0.5, 0.5), mf, {"class_idx": 0}, references=refs, steps=50, step_size=0.03,
        clip=(-0.5, 0.5))
    assert np.all(clipped.path_length <= 50 * 0.03 + 1e-5)
    assert clipped.counterfactual.min() >= -0.5 and clipped.counterfactual.max() <= 0.5


def test_dummy_and_symmetric_features():
    def f(x):   # symmetric in x0, x1; x2 unused
        return tf.tanh(x[:, 0] + x[:, 1]) * x[:, 3] + x[:, 0] * x[:, 1]
    mf = tfpath.ModelFunction(f, target="score")
    x = np.array([0.7, 0.7, 2.0, 1.2], np.float32)
    refs = np.array([[-0.3, 0.5, 1.0, -1.0], [0.2, -0.9, 0.0, 0.4]], np.float32)
    d = tfpath.IG2().GetMaskWithDetails(x, mf, None, references=refs,
                                        representation=lambda p: tf.stack([f(p), p[:, 3]], 1),
                                        steps=80, step_size=0.02)
    assert d.mask[2] == 0.0 and d.counterfactual_explanation[2] == 0.0
    assert abs(d.mask[0] - d.mask[1]) < 1e-6 * max(1.0, abs(d.mask[0]))
    assert abs(d.mask[0]) > 1e-3


def test_implementation_invariance():
    a, _ = tanh_mlp(seed=6)
    b, _ = tanh_mlp(seed=6, extra_linear=True)
    rng = np.random.default_rng(5)
    x, refs = rng.normal(size=(2, 5)).astype(np.float32), rng.normal(size=(2, 5)).astype(np.float32)
    np.testing.assert_allclose(a.predict(x, verbose=0), b.predict(x, verbose=0), atol=1e-5)
    masks = [tfpath.IG2().GetMaskBatch(x, tfpath.ModelFunction(m), {"class_idx": 1},
                                       references=refs, representation="hidden", steps=40)
             for m in (a, b)]
    np.testing.assert_allclose(masks[0], masks[1], atol=2e-5)


def test_idgi_on_gradpath_is_complete():
    model, _ = tanh_mlp(seed=7)
    mf = tfpath.ModelFunction(model, target="logit")
    rng = np.random.default_rng(6)
    x, refs = rng.normal(size=(2, 5)).astype(np.float32), rng.normal(size=(2, 5)).astype(np.float32)
    d = tfpath.IG2().GetMaskBatchWithDetails(x, mf, {"class_idx": 2}, references=refs,
                                             steps=30, step_size=0.1, integrator="idgi")
    assert np.all(np.abs(d.completeness_gap) < 1e-4)
    left = tfpath.IG2().GetMaskBatchWithDetails(x, mf, {"class_idx": 2}, references=refs,
                                                steps=30, step_size=0.1)
    np.testing.assert_allclose(d.counterfactual, left.counterfactual, atol=1e-6)
    assert np.abs(left.completeness_gap).max() > 1e-3      # IDGI removed a real gap


def test_zero_gradient_gives_no_nan(smooth_mf):
    x = np.array([0.3, 0.1, -0.2], np.float32)
    d = tfpath.IG2().GetMaskWithDetails(x, smooth_mf, None, references=x[None],
                                        representation="input", steps=5, step_size=0.1)
    assert np.all(d.mask == 0.0) and np.all(np.isfinite(d.counterfactual))
    np.testing.assert_array_equal(d.counterfactual[0], x)


def test_cnn_default_representation_and_batching(cnn):
    mf = tfpath.ModelFunction(cnn)
    rng = np.random.default_rng(7)
    x = rng.uniform(size=(3, 12, 12, 3)).astype(np.float32)
    refs = rng.uniform(size=(3, 2, 12, 12, 3)).astype(np.float32)
    c = np.array([0, 3, 1])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        batch = tfpath.IG2().GetMaskBatchWithDetails(x, mf, {"class_idx": c}, references=refs,
                                                     steps=12, step_size=0.1, clip=(0, 1),
                                                     batch_size=4)
        for i in range(3):
            one = tfpath.IG2().GetMask(x[i], mf, {"class_idx": int(c[i])}, references=refs[i],
                                       steps=12, step_size=0.1, clip=(0, 1))
            np.testing.assert_allclose(batch.mask[i], one, atol=1e-5)
    assert batch.counterfactual.shape == (3, 2, 12, 12, 3)
    assert np.all(batch.final_distance < batch.reference_distance)


# ------------------------------------------------------------------ references
def test_reference_selectors():
    rng = np.random.default_rng(8)
    pool = rng.normal(size=(40, 5)).astype(np.float32)
    labels = np.repeat(np.arange(4), 10)
    x = rng.normal(size=(6, 5)).astype(np.float32)
    classes = np.array([0, 1, 2, 3, 0, 1])
    other = baselines.OtherClassSamples(pool, labels, count=6, seed=0).resolve(x, None, classes)
    picked = labels[other.index]
    assert np.all(picked != classes[:, None])
    for row in picked:                       # spread: each of the 3 other classes twice
        assert sorted(np.bincount(row, minlength=4)[np.bincount(row, minlength=4) > 0]) == [2, 2, 2]
    normal = baselines.ClassSamples(pool, labels, target_class=2, count=4, seed=0).resolve(x)
    assert np.all(labels[normal.index] == 2)

    model, _ = tanh_mlp(seed=9, classes=6)
    mf = tfpath.ModelFunction(model)
    labels6 = np.tile(np.arange(6), 7)[:40]
    relevant = baselines.RelevantClassSamples(pool, labels6, count=3, seed=0).resolve(x, mf)
    ranking = np.argsort(-model.predict(x, verbose=0), axis=1)
    for i in range(6):
        assert set(labels6[relevant.index[i]]) == set(ranking[i, 1:4])


def test_same_class_references_warn():
    model, _ = tanh_mlp(seed=10)
    mf = tfpath.ModelFunction(model)
    rng = np.random.default_rng(9)
    refs = rng.normal(size=(8, 5)).astype(np.float32)
    predicted = model.predict(refs, verbose=0).argmax(1)
    x = rng.normal(size=5).astype(np.float32)
    with pytest.warns(UserWarning, match="references: .* predicted as the explained class"):
        tfpath.IG2().GetMask(x, mf, {"class_idx": int(predicted[0])}, references=refs, steps=3)


# ------------------------------------------------------------------ errors
@pytest.mark.parametrize("kwargs, match", [
    (dict(representation="nope"), "representation: no layer named 'nope'"),
    (dict(representation=7), "representation: layer index 7 out of range"),
    (dict(representation=lambda p: tf.zeros([tf.shape(p)[0], 3])),
     "representation: .* does not depend on the model's input"),
    (dict(references=np.zeros((2, 4), np.float32)), "references: expected"),
    (dict(references=None), "references: IG² needs"),
    (dict(step_size=0.0), "step_size"),
    (dict(step_size=-1.0), "step_size"),
    (dict(steps=0), "steps"),
    (dict(norm="l3"), "norm"),
    (dict(distance="hamming"), "distance"),
    (dict(percentile=100.0), "percentile"),
    (dict(clip=(0.5, 0.2)), "clip"),
    (dict(clip=(0.0, 0.1)), "clip: the inputs lie"),
    (dict(reference_weights=[1.0, -1.0]), "reference_weights"),
])
def test_bad_input(kwargs, match):
    model, _ = tanh_mlp(seed=11)
    mf = tfpath.ModelFunction(model)
    x = np.full(5, 0.3, np.float32)
    args = dict(references=np.zeros((2, 5), np.float32), steps=3)
    args.update(kwargs)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        with pytest.raises((ValueError, TypeError), match=match):
            tfpath.IG2().GetMask(x, mf, {"class_idx": 0}, **args)


def test_pair_callback_is_refused(smooth_mf):
    def callback(x, call_model_args=None, expected_keys=None):
        return smooth_mf(x, call_model_args, expected_keys)
    with pytest.raises(TypeError, match="call_model_function: IG²"):
        tfpath.IG2().GetMask(np.zeros(3, np.float32), callback, None,
                             references=np.ones((1, 3), np.float32), representation="input")


def test_keras_applications_default_representation():
    """A keras.applications network (softmax head): the default representation is the input of
    its last Dense layer, which is also where the pre-softmax logits are read."""
    import keras
    net = keras.applications.MobileNetV2(weights=None, input_shape=(32, 32, 3), classes=4)
    mf = tfpath.ModelFunction(net)
    rng = np.random.default_rng(12)
    x = rng.uniform(size=(2, 32, 32, 3)).astype(np.float32)
    refs = rng.uniform(size=(2, 32, 32, 3)).astype(np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        d = tfpath.IG2().GetMaskBatchWithDetails(x, mf, {"class_idx": [0, 3]}, references=refs,
                                                 steps=3, clip=(0.0, 1.0))
    assert d.mask.shape == x.shape and np.all(np.isfinite(d.mask))
    assert d.counterfactual.shape == (2, 2, 32, 32, 3)
    features, logits = mf.features_numpy(x, tfpath.core.representation.Representation())
    assert features.shape == (2, 1280)                      # the pooled features
    np.testing.assert_allclose(logits, mf.compiled("outputs", x).numpy(), rtol=1e-5, atol=1e-6)
