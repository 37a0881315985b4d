"""The CLUE family on trained models: digits images with an MC-dropout CNN, a tabular set with a
deep ensemble; uncertainty reduction, counterfactuals as baselines of path methods."""
import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer

import keras
import tfpath
from tfpath import generative as gen
from tfpath import zoo
from tfpath.counterfactuals import CLUE, GLAMCLUE, DeltaCLUE, NablaCLUE, split_by_uncertainty
from tfpath.metrics import counterfactual_quantities
from tfpath.datasets import load_uncertain_digits
from tfpath.datasets.uncertain import CLEAN
from tfpath.uncertainty import DeepEnsemble, MCDropout, predictive_uncertainty
from tfpath.uncertainty.training import mc_dropout_cnn


def _most_uncertain(bnn, x, n):
    h = predictive_uncertainty(bnn, x).total
    return x[np.argsort(h)[-n:]]


@pytest.fixture(scope="module")
def digits():
    data = load_uncertain_digits(seed=0)
    s = data.split
    model = mc_dropout_cnn(s.input_shape, s.num_classes, width=8, rate=0.25, seed=0)
    zoo.train_classifier(model, s.x_train, s.y_train, epochs=12, seed=0)
    bnn = MCDropout(model, num_samples=8, seed=0)
    vae = gen.mlp_vae(s.input_shape, latent_dim=4, hidden=(64,), seed=0)
    gen.train_vae(vae, s.x_train[data.train_kind == CLEAN], epochs=25, progress=False, seed=0)
    return dict(bnn=bnn, vae=vae, x=_most_uncertain(bnn, s.x_test, 24))


@pytest.fixture(scope="module")
def tabular():
    data = load_breast_cancer()
    x = data.data
    x = ((x - x.min(0)) / (x.max(0) - x.min(0))).astype(np.float32)
    rng = np.random.default_rng(0)
    order = rng.permutation(len(x))
    train, test = order[:400], order[400:]
    # label noise near the boundary makes uncertain points
    y = data.target.copy()
    flip = rng.random(len(y)) < 0.1
    y[flip] = 1 - y[flip]
    members = []
    for seed in range(3):
        keras.utils.set_random_seed(seed)
        m = keras.Sequential([keras.Input((30,)), keras.layers.Dense(16, activation="relu"),
                              keras.layers.Dense(2)])
        m.compile(keras.optimizers.Adam(1e-2),
                  keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        m.fit(x[train], y[train], epochs=30, verbose=0, batch_size=32)
        members.append(m)
    bnn = DeepEnsemble(members)
    vae = gen.mlp_vae((30,), latent_dim=4, hidden=(32,), seed=0)
    gen.train_vae(vae, x[train], epochs=60, progress=False, seed=0)
    def labels(points):
        return np.mean([m.predict(points, verbose=0) for m in members], 0).argmax(1)
    return dict(bnn=bnn, vae=vae, x=_most_uncertain(bnn, x[test], 20), x_train=x[train],
                y_train=y[train], bnn_labels=labels)


def test_clue_reduces_the_uncertainty_of_uncertain_digits(digits):
    r = CLUE(digits["bnn"], digits["vae"]).explain(digits["x"])
    reduced = r.uncertainty[:, 0] < r.original_uncertainty
    print(f"digits: CLUE reduced H on {reduced.mean():.0%} of {len(reduced)} inputs, mean "
          f"{r.original_uncertainty.mean():.3f} -> {r.uncertainty.mean():.3f} nats")
    assert reduced.mean() >= 0.9
    assert r.uncertainty.mean() < 0.6 * r.original_uncertainty.mean()


def test_delta_and_nabla_clue_on_a_tabular_ensemble(tabular):
    delta = DeltaCLUE(tabular["bnn"], tabular["vae"], delta=1.0, k=5).explain(tabular["x"])
    best = delta.uncertainty[np.arange(len(delta.z)), delta.best(0.0)]
    print(f"tabular: δ-CLUE best H {delta.original_uncertainty.mean():.3f} -> "
          f"{best.mean():.3f}")
    assert np.mean(best < delta.original_uncertainty) >= 0.9
    nabla = NablaCLUE(tabular["bnn"], tabular["vae"], delta=1.0, k=5,
                      diversity_weight=2.0).explain(tabular["x"])
    assert nabla.diversity().dpp_z.mean() > delta.diversity().dpp_z.mean()
    assert nabla.latent_distance.max() <= 1.0 + 1e-5


def test_diversity_grows_with_delta(digits):
    apd = []
    for delta in (0.25, 1.0, 3.0):
        r = DeltaCLUE(digits["bnn"], digits["vae"], delta=delta, k=8).explain(digits["x"][:8])
        apd.append(r.diversity().apd_x.mean())
    assert apd[0] < apd[1] < apd[2]


def test_counterfactual_baselines_are_complete(digits):
    """Σ mask = H(x) − Σ_b w_b H(x_CLUE,b) for IG, Guided IG and Generative IG."""
    x = digits["x"][:3]
    r = DeltaCLUE(digits["bnn"], digits["vae"], delta=1.5, k=3).explain(x)
    mf = tfpath.ModelFunction(digits["bnn"], target=tfpath.Entropy())
    weights = r.baseline_weights("cost")
    expected = r.original_entropy - (weights * r.entropy).sum(1)
    assert np.all(np.abs(expected) > 0.05)
    ig = tfpath.IntegratedGradients().GetMaskBatchWithDetails(
        x, mf, baselines=r.as_baselines("cost"), x_steps=400, integrator="midpoint")
    np.testing.assert_allclose(ig.mask.reshape(3, -1).sum(1), expected, atol=0.02 * np.abs(
        expected).max())
    gig = tfpath.GuidedIG().GetMaskBatchWithDetails(x, mf, baselines=r.as_baselines("cost"),
                                                     x_steps=200)
    np.testing.assert_allclose(gig.mask.reshape(3, -1).sum(1), expected,
                               atol=0.05 * np.abs(expected).max())
    gen_ig = tfpath.GenerativeIG().GetMaskBatchWithDetails(
        x, mf, decoder=digits["vae"].decoder, z_baseline=r.z, baseline_weights=weights,
        z_input=r.z_original, steps=200)
    np.testing.assert_allclose(gen_ig.mask.reshape(3, -1).sum(1), expected,
                               atol=0.02 * np.abs(expected).max())
    # Blur IG blurs toward the CEs, γ(σ) = x' + G_σ * (x − x'): complete against its own start
    blur = tfpath.BlurIG().GetMaskBatchWithDetails(x, mf, baselines=r.as_baselines(), steps=200,
                                                   max_sigma=8, integrator="midpoint")
    start_gap = blur.end_value - blur.start_value
    np.testing.assert_allclose(blur.mask.reshape(3, -1).sum(1), start_gap,
                               atol=0.05 * np.abs(start_gap).max())


def test_glam_clue_on_the_tabular_ensemble(tabular):
    x_train = tabular["x_train"]
    h = predictive_uncertainty(tabular["bnn"], x_train).total
    certain, uncertain = split_by_uncertainty(h, 0.3, 0.8)
    y = tabular["y_train"]
    glam = GLAMCLUE(tabular["vae"]).fit(x_train[uncertain], y[uncertain], x_train[certain],
                                        y[certain])
    x = tabular["x"]
    ce = glam.explain(x, tabular["bnn_labels"](x))          # the group: the predicted class
    q = counterfactual_quantities(tabular["bnn"], x, ce.x)
    print(f"tabular GLAM-CLUE: H {q.original_uncertainty.mean():.3f} -> "
          f"{q.uncertainty.mean():.3f}, class kept {q.class_kept.mean():.0%}")
    assert np.mean(q.uncertainty < q.original_uncertainty) >= 0.8
