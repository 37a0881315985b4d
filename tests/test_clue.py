"""CLUE, δ-CLUE and ∇-CLUE (Ley, Bhatt and Weller, AAAI 2022): an independent Keras-Adam oracle,
the paper's invariants, the start schemes' geometry, counterfactuals as baselines, errors."""
import gc
import math
import weakref

import keras
import numpy as np
import pytest
import tensorflow as tf

import tfpath
from tfpath import generative as gen
from tfpath.counterfactuals import (CLUE, CLUESettings, ClassGradientPath, DeltaCLUE, NablaCLUE,
                                    NearestNeighbourPath, RadialHalfGaussian, RadialUniform,
                                    UniformCube, set_diversity)
from tfpath.metrics import diversity as metrics_div
from tfpath.uncertainty import DeepEnsemble, predictive_uncertainty

D, M, K = 6, 3, 4


def _mlp(inputs, outputs, seed, hidden=16, activation=None):
    init = keras.initializers.GlorotNormal(seed=seed)
    return keras.Sequential([keras.Input((inputs,)),
                             keras.layers.Dense(hidden, "tanh", kernel_initializer=init),
                             keras.layers.Dense(outputs, activation,
                                                kernel_initializer=keras.initializers.GlorotNormal(
                                                    seed=seed + 1))])


@pytest.fixture(scope="module")
def toy():
    """Untrained but fixed models: a 2-member ensemble on 6 features, a 3-d latent."""
    members = [_mlp(D, K, 10 + i) for i in range(2)]
    decoder = _mlp(M, D, 3, activation="sigmoid")
    encoder = _mlp(D, M, 5)
    x = np.random.default_rng(0).random((5, D)).astype(np.float32)
    return dict(members=members, bnn=DeepEnsemble(members), decoder=decoder, encoder=encoder,
                x=x)


def _explainer(toy, cls=NablaCLUE, **kw):
    return cls(toy["bnn"], encoder=toy["encoder"], decoder=toy["decoder"], **kw)


# ------------------------------------------------------------------- oracle: Keras Adam loop
def test_clue_matches_an_independent_keras_adam_descent(toy):
    lam_x, lam_y, weights = 0.05, 0.3, (1.0, 0.5, 2.0)
    settings = CLUESettings(uncertainty=weights, distance_weight=lam_x, prediction_weight=lam_y,
                            steps=12)
    result = _explainer(toy, CLUE, settings=settings).explain(toy["x"])
    members, decoder = toy["members"], toy["decoder"]

    def probs(x):
        return tf.stack([tf.nn.softmax(tf.cast(m(x), tf.float64)) for m in members], 1)

    p0 = tf.reduce_mean(probs(toy["x"]), 1)
    z = tf.Variable(toy["encoder"](toy["x"]))
    opt = keras.optimizers.Adam(0.1)
    for _ in range(12):
        with tf.GradientTape() as tape:
            xs = decoder(z)
            p = probs(xs)
            pm = tf.reduce_mean(p, 1)
            total = -tf.reduce_sum(pm * tf.math.log(pm), -1)
            alea = -tf.reduce_mean(tf.reduce_sum(p * tf.math.log(p), -1), 1)
            loss = (weights[0] * total + weights[1] * alea + weights[2] * (total - alea)
                    - lam_y * tf.reduce_sum(p0 * tf.math.log(pm), -1))
            loss = tf.cast(loss, tf.float32) + lam_x * tf.reduce_sum(tf.abs(xs - toy["x"]), 1)
            loss = tf.reduce_sum(loss)
        opt.apply_gradients([(tape.gradient(loss, z), z)])
    np.testing.assert_allclose(result.z[:, 0], z.numpy(), atol=2e-4)
    # the reported quantities against a direct evaluation
    x_ce = decoder(z).numpy()
    np.testing.assert_allclose(result.x[:, 0], x_ce, atol=1e-3)
    h = predictive_uncertainty(toy["bnn"], x_ce)
    np.testing.assert_allclose(result.entropy[:, 0], h.total, atol=1e-3)
    np.testing.assert_allclose(result.input_distance[:, 0],
                               np.abs(x_ce - toy["x"]).sum(1), atol=1e-2)


# ------------------------------------------------------------------- the paper's invariants
def test_delta_infinite_r0_k1_is_clue(toy):
    # a huge finite δ runs the projection after every step; r = 0 starts at z0
    clue = _explainer(toy, CLUE).explain(toy["x"])
    delta = _explainer(toy, DeltaCLUE, delta=1e9, radius=0.0, k=1).explain(toy["x"])
    np.testing.assert_allclose(clue.z, delta.z, atol=1e-6)


@pytest.mark.parametrize("mode", ["simultaneous", "sequential", "penalty"])
def test_nabla_clue_without_diversity_is_delta_clue(toy, mode):
    # simultaneous: a negligible λD runs the coupled loss (its gradient is k times the joint
    # objective's, to which Adam is invariant); sequential / penalty run the chains one after
    # another: with λD = 0 each is the δ-CLUE chain
    weight = 1e-30 if mode == "simultaneous" else 0.0
    delta = _explainer(toy, DeltaCLUE, delta=0.8, k=4, seed=3).explain(toy["x"])
    nabla = _explainer(toy, delta=0.8, k=4, seed=3, diversity_weight=weight,
                       mode=mode).explain(toy["x"])
    np.testing.assert_allclose(nabla.z, delta.z, atol=1e-5)


@pytest.mark.parametrize("scheme", ["S1", "S3", "gaussian", "S5"])
def test_every_delta_clue_lies_in_its_ball(toy, scheme):
    r = _explainer(toy, DeltaCLUE, delta=0.5, k=6, scheme=scheme).explain(toy["x"])
    assert r.latent_distance.max() <= 0.5 + 1e-5
    # the loop's latents are the reported ones
    np.testing.assert_allclose(np.linalg.norm(r.z - r.z_original[:, None], axis=2),
                               r.latent_distance, atol=1e-6)


def test_small_balls_put_the_ces_on_the_shell_and_the_loss_drops(toy):
    r = _explainer(toy, DeltaCLUE, delta=0.05, k=4).explain(toy["x"])
    assert np.mean(r.latent_distance > 0.05 * (1 - 1e-3)) > 0.9
    starts = _explainer(toy, DeltaCLUE, delta=0.05, k=4, settings=CLUESettings(steps=0))
    assert np.all(r.uncertainty <= starts.explain(toy["x"]).uncertainty + 1e-6)


def test_diversity_term_raises_the_set_dpp(toy):
    kw = dict(delta=1.0, k=5, seed=1)
    plain = _explainer(toy, **kw).explain(toy["x"])
    diverse = _explainer(toy, diversity_weight=5.0, **kw).explain(toy["x"])
    assert np.all(metrics_div.dpp(diverse.z) > metrics_div.dpp(plain.z))
    seq = _explainer(toy, diversity_weight=5.0, mode="sequential", **kw).explain(toy["x"])
    assert metrics_div.dpp(seq.z).mean() > metrics_div.dpp(plain.z).mean()


def test_penalty_separates_chains_that_start_together(toy):
    kw = dict(delta=1.0, k=3, scheme="centre")
    together = _explainer(toy, **kw).explain(toy["x"])
    apart = _explainer(toy, diversity_weight=0.5, mode="penalty", **kw).explain(toy["x"])
    gaps = lambda z: np.linalg.norm(z[:, :, None] - z[:, None], axis=-1)[:, [0, 0, 1],  # noqa
                                                                       [1, 2, 2]]
    assert gaps(together.z).max() < 1e-5
    assert gaps(apart.z).min() > 1e-2


def test_diversity_prestep_spreads_the_starts_to_the_shell(toy):
    base = dict(delta=1.0, k=6, settings=CLUESettings(steps=0))
    s1 = _explainer(toy, **base).explain(toy["x"])
    spread = _explainer(toy, diversity_steps=60, **base).explain(toy["x"])
    assert spread.latent_distance.mean() > 0.9 > s1.latent_distance.mean()
    assert np.all(metrics_div.dpp(spread.z) > metrics_div.dpp(s1.z))


def test_set_diversity_matches_the_numpy_metrics():
    z = np.random.default_rng(1).normal(size=(4, 5, 3)).astype(np.float32)
    np.testing.assert_allclose(set_diversity(tf.constant(z), "dpp").numpy(),
                               metrics_div.dpp(z), rtol=1e-4)
    np.testing.assert_allclose(set_diversity(tf.constant(z), "apd").numpy(),
                               metrics_div.apd(z), rtol=1e-5)
    # a mask leaves members out: the same as the sub-set
    mask = np.array([[1, 1, 0, 1, 0]] * 4, np.float32)
    np.testing.assert_allclose(set_diversity(tf.constant(z), "dpp", mask).numpy(),
                               metrics_div.dpp(z[:, [0, 1, 3]]), rtol=1e-4)
    np.testing.assert_allclose(set_diversity(tf.constant(z), "apd", mask).numpy(),
                               metrics_div.apd(z[:, [0, 1, 3]]), rtol=1e-5)


# ------------------------------------------------------------------- start schemes
def test_radial_schemes_stay_within_r_and_s1_is_uniform_in_radius():
    rng = np.random.default_rng(0)
    z0 = rng.normal(size=(200, 4)).astype(np.float32)
    for scheme in (RadialUniform(), RadialHalfGaussian(), UniformCube()):
        s = scheme.starts(z0, 2.0, 50, np.random.default_rng(1))
        rho = np.linalg.norm(s - z0[:, None], axis=2)
        assert s.shape == (200, 50, 4) and rho.max() <= 2.0 + 1e-5
    rho = np.linalg.norm(RadialUniform().starts(z0, 2.0, 50, rng) - z0[:, None], axis=2)
    assert abs(rho.mean() - 1.0) < 0.02                       # E[ρ] = r/2
    assert abs(np.mean(rho < 0.5) - 0.25) < 0.02               # uniform in radius, not volume
    # S3: a half-normal of σ = r/2 truncated at r: mean σ·√(2/π)·(1-e^{-2})/erf(√2)
    rho3 = np.linalg.norm(RadialHalfGaussian().starts(z0, 2.0, 50, rng) - z0[:, None], axis=2)
    expected = math.sqrt(2 / math.pi) * (1 - math.exp(-2)) / math.erf(math.sqrt(2))
    assert abs(rho3.mean() - expected) < 0.02


def test_uniform_cube_refuses_large_latents():
    with pytest.raises(ValueError, match="scheme: S4"):
        UniformCube(max_draws=2000).starts(np.zeros((1, 40), np.float32), 1.0, 2,
                                           np.random.default_rng(0))


def test_s2_walks_toward_each_class_nearest_anchor():
    anchors = np.array([[3.0, 0], [10, 0], [0, -2.0], [0, -9]], np.float32)
    labels = np.array([0, 0, 1, 1])
    z0 = np.zeros((1, 2), np.float32)
    s = NearestNeighbourPath(anchors, labels).starts(z0, 1.0, 5, np.random.default_rng(0))
    # Y = 2 classes, m = 2 per class at radii 0.5 and 1; the 5th start is an S1 sample
    np.testing.assert_allclose(s[0, :4], [[0.5, 0], [1, 0], [0, -0.5], [0, -1]], atol=1e-6)
    assert np.linalg.norm(s[0, 4]) <= 1.0


def test_s5_climbs_each_class_probability(toy):
    clf = _explainer(toy, delta=1.0)
    z0 = tfpath.generative.encode_mean(toy["encoder"], toy["x"])
    s = ClassGradientPath(steps_per_start=4).starts(z0, 0.5, K, np.random.default_rng(0),
                                                    clf._probe)
    p_start = clf._probe(tf.constant(z0)).numpy()
    p_path = clf._probe(tf.constant(s.reshape(-1, M))).numpy().reshape(len(z0), K, K)
    for c in range(K):                                         # start c climbs class c
        assert np.all(p_path[:, c, c] > p_start[:, c])
    assert np.linalg.norm(s - z0[:, None], axis=2).max() <= 0.5 + 1e-5


# ------------------------------------------------------------------- results
def test_threshold_labels_costs_and_weights(toy):
    r = _explainer(toy, DeltaCLUE, delta=1.0, k=6).explain(toy["x"])
    threshold = float(np.median(r.uncertainty))
    rt = _explainer(toy, DeltaCLUE, delta=1.0, k=6, threshold=threshold).explain(toy["x"])
    np.testing.assert_array_equal(rt.accepted, r.uncertainty < threshold)
    cost = r.cost(0.1)
    np.testing.assert_allclose(cost, r.uncertainty + 0.1 * r.input_distance)
    np.testing.assert_array_equal(r.best(0.1), cost.argmin(1))
    w = r.baseline_weights("cost", 0.1)
    np.testing.assert_allclose(w, cost ** -2 / (cost ** -2).sum(1, keepdims=True))
    dist = r.label_distribution(0.1)
    np.testing.assert_allclose(dist.sum(1), 1.0)
    for b in range(len(dist)):
        unseen = np.setdiff1d(np.arange(K), r.labels[b])
        assert np.all(dist[b, unseen] == 0)
    with pytest.raises(ValueError, match="weights: inputs"):
        _explainer(toy, DeltaCLUE, delta=1.0, k=2, threshold=1e-9).explain(
            toy["x"]).baseline_weights()


def test_explain_reuses_its_compiled_loop(toy):
    explainer = _explainer(toy, DeltaCLUE, delta=1.0, k=3)
    explainer.explain(toy["x"])
    (loop,) = explainer._losses.values()
    traces = tfpath.core.memo.cache_for(loop, "minimize_latent")
    explainer.explain(toy["x"][:2])
    assert len(traces) == 1
    (run,) = traces.values()
    assert run.experimental_get_tracing_count() == 1


def test_changed_settings_recompile_and_explainers_are_freed(toy):
    explainer = _explainer(toy, DeltaCLUE, delta=1.0, k=2)
    explainer.explain(toy["x"])
    explainer.settings = CLUESettings(distance_weight=5.0)
    changed = explainer.explain(toy["x"]).z
    fresh = _explainer(toy, DeltaCLUE, delta=1.0, k=2,
                       settings=CLUESettings(distance_weight=5.0)).explain(toy["x"]).z
    np.testing.assert_allclose(changed, fresh, atol=1e-6)
    ref = weakref.ref(explainer)
    del explainer
    gc.collect()
    assert ref() is None


def test_given_latents_early_stopping_and_thresholds(toy):
    z0 = tfpath.generative.encode_mean(toy["encoder"], toy["x"])
    default = _explainer(toy, CLUE).explain(toy["x"])
    given = _explainer(toy, CLUE).explain(toy["x"], z_original=z0)
    np.testing.assert_array_equal(default.z, given.z)
    stop = CLUESettings(steps=500, stopping=gen.LossNotDecreasing(atol=1e-2, min_steps=5))
    stopped = _explainer(toy, CLUE, settings=stop).explain(toy["x"])
    long = _explainer(toy, CLUE, settings=CLUESettings(steps=500)).explain(toy["x"])
    assert np.all(stopped.uncertainty >= long.uncertainty - 1e-6)
    everything = _explainer(toy, DeltaCLUE, delta=1.0, k=3, threshold=math.inf).explain(
        toy["x"])
    assert everything.accepted.all()
    some = _explainer(toy, DeltaCLUE, delta=1.0, k=3,
                      threshold=float(np.median(everything.uncertainty))).explain(toy["x"])
    if (~some.accepted.any(axis=1)).any():
        with pytest.raises(ValueError, match="accepted_only"):
            some.diversity()
    else:
        kept = some.accepted
        report = some.diversity(accepted_only=True)
        for b in range(len(kept)):
            np.testing.assert_allclose(report.apd_z[b], metrics_div.apd(some.z[b:b + 1,
                                                                               kept[b]]))


def test_minimize_latent_names_bad_losses_and_projections():
    def short(z, ctx):
        return tf.reduce_sum(z, axis=1)[:1]
    with pytest.raises(ValueError, match="loss_fn: must return one loss per latent row"):
        gen.minimize_latent(short, np.zeros((3, 2), np.float32), max_steps=2)

    class Loose:                                          # an unhashable projection
        __hash__ = None

        def __call__(self, z, ctx):
            return z
    with pytest.raises(TypeError, match="projection: must be hashable"):
        gen.minimize_latent(lambda z, ctx: tf.reduce_sum(z * z, 1), np.zeros((3, 2), np.float32),
                            max_steps=2, projection=Loose())


# ------------------------------------------------------------------- errors
def test_bad_arguments_name_themselves(toy):
    with pytest.raises(ValueError, match="delta"):
        _explainer(toy, DeltaCLUE, delta=0.0)
    with pytest.raises(ValueError, match="delta"):
        _explainer(toy, DeltaCLUE, delta=-1.0)
    with pytest.raises(TypeError, match="delta"):
        _explainer(toy, DeltaCLUE, delta=True)
    with pytest.raises(ValueError, match="k"):
        _explainer(toy, DeltaCLUE, delta=1.0, k=0)
    with pytest.raises(ValueError, match="radius: the k chains"):
        _explainer(toy, delta=1.0, k=3, radius=0.0, diversity_weight=1.0).explain(toy["x"])
    with pytest.raises(ValueError, match="threshold"):
        _explainer(toy, DeltaCLUE, delta=1.0, threshold=-1.0)
    with pytest.raises(ValueError, match="diversity_weight"):
        _explainer(toy, delta=1.0, diversity_weight=-1.0)
    with pytest.raises(ValueError, match="mode"):
        _explainer(toy, delta=1.0, mode="greedy")
    with pytest.raises(ValueError, match="scheme: S2"):
        _explainer(toy, delta=1.0, scheme="S2")
    with pytest.raises(ValueError, match="settings: early stopping"):
        _explainer(toy, delta=1.0, k=3, diversity_weight=1.0,
                   settings=CLUESettings(stopping=gen.LossNotDecreasing(atol=1e-3)))
    clue = _explainer(toy, CLUE)
    bad = toy["x"].copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="x: contains NaN"):
        clue.explain(bad)
    z_nan = np.zeros((5, M), np.float32)
    z_nan[1, 1] = np.nan
    with pytest.raises(ValueError, match="z_original: contains NaN"):
        clue.explain(toy["x"], z_original=z_nan)


def test_mismatched_encoder_decoder_and_classifier_are_named(toy):
    wide_decoder = _mlp(M, D + 1, 7, activation="sigmoid")
    with pytest.raises(ValueError, match="decoder: its output shape"):
        CLUE(toy["bnn"], encoder=toy["encoder"], decoder=wide_decoder).explain(toy["x"])
    other_latent = _mlp(M + 2, D, 7, activation="sigmoid")
    with pytest.raises(ValueError, match="decoder: fails on latents of size 3"):
        CLUE(toy["bnn"], encoder=toy["encoder"], decoder=other_latent).explain(toy["x"])
    with pytest.raises(ValueError, match="model: the classifier fails"):
        CLUE(toy["bnn"], encoder=_mlp(D + 1, M, 5), decoder=_mlp(M, D + 1, 3)).explain(
            np.random.default_rng(0).random((2, D + 1)).astype(np.float32))
