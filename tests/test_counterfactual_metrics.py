"""tfpath.metrics.counterfactual_quantities against direct NumPy computations."""
import keras
import numpy as np
import pytest

from tfpath.metrics import counterfactual_quantities
from tfpath.uncertainty import DeepEnsemble


@pytest.fixture(scope="module")
def ensemble():
    def member(seed):
        init = keras.initializers.GlorotNormal(seed=seed)
        return keras.Sequential([keras.Input((5,)), keras.layers.Dense(3, kernel_initializer=init)])
    return [member(1), member(2)]


def _entropy_and_label(members, x):
    logits = np.stack([m.predict(x, verbose=0) for m in members]).astype(np.float64)
    p = np.exp(logits - logits.max(-1, keepdims=True))
    p = (p / p.sum(-1, keepdims=True)).mean(0)
    return -(p * np.log(p)).sum(-1), p.argmax(-1)


def test_quantities_match_a_direct_computation(ensemble):
    rng = np.random.default_rng(0)
    x0 = rng.normal(size=(4, 5)).astype(np.float32)
    ces = (x0[:, None] + rng.normal(size=(4, 3, 5))).astype(np.float32)
    z0, zc = rng.normal(size=(4, 2)), rng.normal(size=(4, 3, 2))
    q = counterfactual_quantities(DeepEnsemble(ensemble), x0, ces, class_idx=[0, 1, 2, 0],
                                  z_original=z0, z_counterfactual=zc, distance_weight=0.5,
                                  seconds=1.2)
    h, label = _entropy_and_label(ensemble, ces.reshape(12, 5))
    h0, _ = _entropy_and_label(ensemble, x0)
    d = np.abs(ces - x0[:, None]).sum(-1)
    np.testing.assert_allclose(q.uncertainty, h.reshape(4, 3), rtol=1e-5)
    np.testing.assert_allclose(q.original_uncertainty, h0, rtol=1e-5)
    np.testing.assert_allclose(q.input_distance, d, rtol=1e-5)
    np.testing.assert_allclose(q.cost, h.reshape(4, 3) + 0.5 * d, rtol=1e-5)
    np.testing.assert_allclose(q.latent_distance, np.linalg.norm(zc - z0[:, None], axis=-1),
                               rtol=1e-5)
    np.testing.assert_array_equal(q.class_kept, label.reshape(4, 3) == [[0], [1], [2], [0]])
    assert q.seconds_per_explanation == pytest.approx(0.1)
    summary = q.summary()
    assert summary["reduced"] == pytest.approx(np.mean(h.reshape(4, 3) < h0[:, None]))
    # one CE per input: no k axis; the class defaults to x0's prediction
    single = counterfactual_quantities(DeepEnsemble(ensemble), x0, ces[:, 0])
    assert single.uncertainty.shape == (4,)
    _, label0 = _entropy_and_label(ensemble, x0)
    np.testing.assert_array_equal(single.class_kept, label.reshape(4, 3)[:, 0] == label0)


def test_quantities_errors(ensemble):
    x0 = np.zeros((2, 5), np.float32)
    model = DeepEnsemble(ensemble)
    with pytest.raises(ValueError, match="x_counterfactual: expected shape"):
        counterfactual_quantities(model, x0, np.zeros((3, 5), np.float32))
    with pytest.raises(ValueError, match="x_counterfactual: contains NaN"):
        counterfactual_quantities(model, x0, np.full((2, 5), np.nan, np.float32))
    with pytest.raises(ValueError, match="z_counterfactual: give both"):
        counterfactual_quantities(model, x0, x0, z_original=np.zeros((2, 2)))
    with pytest.raises(ValueError, match="class_idx"):
        counterfactual_quantities(model, x0, x0, class_idx=3)
    with pytest.raises(ValueError, match="distance_weight"):
        counterfactual_quantities(model, x0, x0, distance_weight=-1.0)
