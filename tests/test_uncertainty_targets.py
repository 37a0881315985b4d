"""Uncertainty measures and targets: decomposition, stability, gradients, errors.

Tiny untrained models only (no training); see test_uncertainty_models.py for trained ones.
"""
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402

import tfpath  # noqa: E402
from tfpath.uncertainty import (Aleatoric, DeepEnsemble, Deterministic, Entropy,  # noqa: E402
                                Epistemic, MCDropout, decompose, predictive_uncertainty)

TARGETS = (Entropy, Aleatoric, Epistemic)


def _np_decomposition(probs):
    """Oracle in NumPy float64: H[p̄], E_s H[p_s], and their difference."""
    probs = np.asarray(probs, np.float64)
    ent = lambda p: -np.sum(np.where(p > 0, p * np.log(np.where(p > 0, p, 1)), 0), -1)  # noqa
    total = ent(probs.mean(1))
    aleatoric = ent(probs).mean(1)
    return total, aleatoric, total - aleatoric


def _dense_member(seed, softmax=False, inputs=6, classes=4, scale=1.0):
    import keras
    keras.utils.set_random_seed(seed)
    inp = keras.Input((inputs,))
    h = keras.layers.Dense(8, activation="tanh")(inp)
    h = keras.layers.Dense(classes)(h)
    h = keras.layers.Lambda(lambda t: t * scale)(h)
    if softmax:
        h = keras.layers.Softmax()(h)
    return keras.Model(inp, h)


@pytest.fixture(scope="module")
def ensemble():
    return DeepEnsemble([_dense_member(s) for s in range(3)])


@pytest.fixture(scope="module")
def mc_dense():
    import keras
    keras.utils.set_random_seed(5)
    inp = keras.Input((6,))
    h = keras.layers.Dense(16, activation="tanh")(inp)
    h = keras.layers.Dropout(0.4)(h)
    out = keras.layers.Dense(4)(h)
    return MCDropout(keras.Model(inp, out), num_samples=8, seed=2)


@pytest.fixture(scope="module")
def x6():
    return np.random.default_rng(0).normal(size=(5, 6)).astype(np.float32)


# --------------------------------------------------------------------------- decomposition
@pytest.mark.parametrize("kind", ["logits", "probabilities"])
def test_decomposition_matches_numpy_oracle_and_adds_up(kind):
    rng = np.random.default_rng(1)
    logits = rng.normal(scale=3.0, size=(64, 7, 5))
    probs = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    outputs = logits if kind == "logits" else probs
    t, a, e = (v.numpy() for v in decompose(tf.constant(outputs), kind))
    t_ref, a_ref, e_ref = _np_decomposition(probs)
    np.testing.assert_allclose(t, t_ref, atol=1e-12)
    np.testing.assert_allclose(a, a_ref, atol=1e-12)
    np.testing.assert_allclose(e, e_ref, atol=1e-12)   # mean-KL form == H - A
    np.testing.assert_allclose(t, a + e, rtol=0, atol=1e-14)
    assert np.all(e >= 0) and e.max() > 0.05


def test_decomposition_float32_outputs_add_up_to_float_precision(ensemble, x6):
    outputs = ensemble(x6)
    t, a, e = (v.numpy() for v in decompose(outputs, "logits"))
    assert np.max(np.abs(t - (a + e))) < 1e-12
    # The target values (float32, as the engine sees them) also add up.
    vals = [target()(outputs, None, "logits").numpy().astype(np.float64) for target in TARGETS]
    assert np.max(np.abs(vals[0] - vals[1] - vals[2])) < 2e-6


def test_epistemic_nonnegative_including_near_identical_samples():
    rng = np.random.default_rng(2)
    base = rng.normal(size=(200, 1, 10)) * 4
    for spread in (0.0, 1e-9, 1e-6, 1e-3, 1.0):
        logits = base + spread * rng.normal(size=(200, 6, 10))
        e = decompose(tf.constant(logits, tf.float32), "logits").epistemic.numpy()
        assert np.all(e >= 0.0), spread
        if spread == 0.0:
            assert np.all(e == 0.0)


def test_epistemic_is_zero_for_an_ensemble_of_identical_members(x6):
    member = _dense_member(3)
    same = DeepEnsemble([member, member, member])
    u = predictive_uncertainty(same, x6)
    assert np.all(u.epistemic == 0.0)
    np.testing.assert_allclose(u.total, u.aleatoric, atol=1e-12)
    assert u.total.min() > 0.1
    mf = tfpath.ModelFunction(same, target=Epistemic())
    values, grads = mf.value_and_gradient(tf.constant(x6))
    assert np.all(values.numpy() == 0.0) and np.max(np.abs(grads.numpy())) < 1e-12
    # Distinct members do disagree: the test above is not vacuous.
    distinct = DeepEnsemble([_dense_member(s) for s in range(3)])
    assert predictive_uncertainty(distinct, x6).epistemic.min() > 1e-4


@pytest.mark.parametrize("softmax", [False, True])
def test_entropy_of_one_hot_prediction_is_zero_with_finite_gradients(softmax, x6):
    # Logits scaled by 1e4: softmax is exactly one-hot in float32 (other classes underflow).
    model = _dense_member(4, softmax=softmax, scale=1e4)
    probs = tf.nn.softmax(model(x6)) if not softmax else model(x6)
    assert np.sum(probs.numpy() == 0.0) > 0          # exact zeros: the log 0 edge case
    for target in TARGETS[:2]:
        mf = tfpath.ModelFunction(model, target=target())
        values, grads = mf.value_and_gradient(tf.constant(x6))
        assert np.all(np.abs(values.numpy()) < 1e-6)
        assert np.all(np.isfinite(grads.numpy()))
    ens = DeepEnsemble([model, _dense_member(5, softmax=softmax, scale=1e4)])
    for target in TARGETS:
        values, grads = tfpath.ModelFunction(ens, target=target()).value_and_gradient(
            tf.constant(x6))
        assert np.all(np.isfinite(values.numpy())) and np.all(np.isfinite(grads.numpy()))
    if softmax:   # a naive -Σ p log p does produce NaN gradients here
        x = tf.constant(x6)
        with tf.GradientTape() as tape:
            tape.watch(x)
            p = model(x)
            naive = -tf.reduce_sum(p * tf.math.log(p), -1)
        assert not np.all(np.isfinite(tape.gradient(naive, x).numpy()))


def test_targets_registered_by_name():
    assert isinstance(tfpath.get_target("entropy"), Entropy)
    assert isinstance(tfpath.get_target("aleatoric"), Aleatoric)
    assert isinstance(tfpath.get_target("epistemic"), Epistemic)
    assert isinstance(tfpath.get_target("mutual_information"), Epistemic)
    assert not Entropy.needs_class and not Epistemic.needs_class


def test_deterministic_model_entropy_equals_aleatoric(x6):
    model = _dense_member(6)
    u = predictive_uncertainty(model, x6)
    assert np.all(u.epistemic == 0.0)
    np.testing.assert_allclose(u.total, u.aleatoric, atol=1e-12)
    a = tfpath.ModelFunction(model, target="entropy").predict(x6)
    b = tfpath.ModelFunction(Deterministic(model), target="aleatoric").predict(x6)
    np.testing.assert_allclose(a, b, atol=1e-6)


# --------------------------------------------------------------------------- gradients
def _fd_check(mf, x, directions=4, eps=1e-2, seed=0):
    rng = np.random.default_rng(seed)
    _, grads = mf.value_and_gradient(tf.constant(x))
    grads = grads.numpy().astype(np.float64)
    worst = 0.0
    for _ in range(directions):
        v = rng.normal(size=x.shape).astype(np.float32)
        fd = (mf.predict(x + eps * v).astype(np.float64)
              - mf.predict(x - eps * v).astype(np.float64)) / (2 * eps)
        analytic = (grads * v).reshape(len(x), -1).sum(1)
        scale = np.abs(analytic) + 1e-3
        worst = max(worst, float(np.max(np.abs(fd - analytic) / scale)))
    return worst


@pytest.mark.parametrize("target", TARGETS, ids=lambda t: t.__name__)
def test_gradients_match_central_finite_differences(target, ensemble, mc_dense, x6):
    prob_ensemble = DeepEnsemble([_dense_member(s, softmax=True) for s in range(3)])
    for model in (ensemble, prob_ensemble, mc_dense):
        mf = tfpath.ModelFunction(model, target=target())
        error = _fd_check(mf, x6)
        print(target.__name__, model, f"finite-difference relative error {error:.2e}")
        assert error < 2e-2, (target.__name__, model)
        # the check is sensitive: a wrong gradient (e.g. sign) fails it
        wrong = tfpath.ModelFunction(model, target=target())
        wrong.value_and_gradient = lambda x, c=None, _mf=mf: tuple(
            (v, -g) for v, g in [_mf.value_and_gradient(x, c)])[0]
        assert _fd_check(wrong, x6) > 0.5


# --------------------------------------------------------------------------- errors
def test_epistemic_of_deterministic_model_raises(x6):
    model = _dense_member(7)
    for wrapped in (model, Deterministic(model)):
        mf = tfpath.ModelFunction(wrapped, target="epistemic")
        with pytest.raises(ValueError, match="Epistemic.*S >= 2"):
            tfpath.IntegratedGradients().GetMask(x6[0], mf, None, x_steps=4)
        with pytest.raises(ValueError, match="Epistemic"):
            mf.predict(x6)


def test_probabilities_declared_as_logits_and_reverse_raise(x6):
    probs_model = _dense_member(8, softmax=True)
    logits_model = _dense_member(8)
    bad = tfpath.ModelFunction(DeepEnsemble([probs_model, probs_model], output="logits"),
                               target="entropy")
    with pytest.raises(ValueError, match="look like probabilities"):
        tfpath.IntegratedGradients().GetMask(x6[0], bad, None, x_steps=4)
    bad = tfpath.ModelFunction(DeepEnsemble([logits_model], output="probabilities"),
                               target="entropy")
    with pytest.raises(ValueError, match="look like logits"):
        tfpath.IntegratedGradients().GetMask(x6[0], bad, None, x_steps=4)
    with pytest.raises(ValueError, match="look like probabilities"):
        predictive_uncertainty(probs_model, x6, output="logits")
    with pytest.raises(ValueError, match="output"):
        tfpath.ModelFunction(lambda x: x, target="entropy", output="scores")
    with pytest.raises(ValueError, match="output"):
        DeepEnsemble([lambda x: x])          # a plain callable: kind unknown
    with pytest.raises(ValueError, match="members"):
        DeepEnsemble([probs_model, logits_model])


def test_bad_arguments_name_the_argument(x6):
    import keras
    member = _dense_member(9)
    with pytest.raises(ValueError, match="members"):
        DeepEnsemble([])
    with pytest.raises(TypeError, match="members"):
        DeepEnsemble(member)
    with pytest.raises(ValueError, match="num_samples"):
        MCDropout(keras.Sequential([keras.Input((3,)), keras.layers.Dropout(.5),
                                    keras.layers.Dense(2)]), num_samples=0)
    with pytest.raises(ValueError, match="no Dropout"):
        MCDropout(member)
    dropout_model = keras.Sequential([keras.Input((3,)), keras.layers.Dropout(.5),
                                      keras.layers.Dense(2)])
    with pytest.raises(ValueError, match="seed"):
        MCDropout(dropout_model, seed=-1)
    with pytest.raises(TypeError, match="seed"):
        MCDropout(dropout_model).resample(1.5)
    with pytest.raises(ValueError, match="outputs"):
        decompose(tf.zeros([2, 3, 4, 5]), "logits")
    with pytest.raises(ValueError, match="output_kind"):
        decompose(tf.zeros([2, 3]), "scores")
    with pytest.raises(ValueError, match="batch_size"):
        predictive_uncertainty(member, x6, batch_size=0)
