"""tfpath.generative.vae: the VAE of Perez et al., UAI 2022, §3.3.1, trained on the negative
ELBO of Kingma and Welling, ICLR 2014, Eq. 10 (Σ_pixels BCE + KL, one reparameterised sample)."""
import contextlib
import io

import keras
import numpy as np
import pytest

from tfpath.generative.vae import VAE, conv_vae, mlp_vae, train_vae


def numpy_bce(x, p):
    """Σ over pixels and channels of the clipped binary cross-entropy, per example."""
    p = np.clip(p.astype(np.float64), 1e-7, 1 - 1e-7)
    return -(x * np.log(p) + (1 - x) * np.log(1 - p)).reshape(len(x), -1).sum(1)


def numpy_kl(mean, log_variance):
    mean, log_variance = mean.astype(np.float64), log_variance.astype(np.float64)
    return (-0.5 * (1 + log_variance - mean ** 2 - np.exp(log_variance))).sum(1)


def set_log_variance(vae, value):
    """Makes log σ² = ``value`` for every input (zero kernel, constant bias)."""
    layer = vae.encoder.get_layer("log_variance")
    kernel, bias = layer.get_weights()
    layer.set_weights([np.zeros_like(kernel), np.full_like(bias, value)])


@pytest.fixture(scope="module")
def digits_vae():
    """The authors' conv VAE trained on scikit-learn digits (/16, 8×8×1), progress captured."""
    from sklearn.datasets import load_digits
    x = (load_digits().images / 16.0).astype(np.float32)[..., None]
    x_train, x_test = x[:1400], x[1400:]
    vae = conv_vae((8, 8, 1), latent_dim=8)
    log = io.StringIO()
    with contextlib.redirect_stderr(log):
        history = train_vae(vae, x_train, epochs=10, batch_size=32, learning_rate=3e-3,
                            validation_data=x_test, progress=True).history
    return vae, history, log.getvalue(), x_train, x_test


@pytest.mark.parametrize("builder, shape", [
    (conv_vae, (8, 8, 1)), (conv_vae, (10, 10, 1)), (conv_vae, (12, 12, 3)),
    (mlp_vae, (5,)), (mlp_vae, (8, 8, 1))])
def test_shapes(builder, shape):
    vae = builder(shape, latent_dim=3)
    x = np.random.default_rng(0).random((5, *shape)).astype(np.float32)
    assert vae.image_shape == shape and vae.latent_dim == 3
    mean, log_variance = vae.encode(x, batch_size=2)
    assert mean.shape == log_variance.shape == (5, 3)
    images = vae.decode(mean, batch_size=3)
    assert images.shape == x.shape and images.min() > 0 and images.max() < 1
    np.testing.assert_allclose(vae.reconstruct(x), images, atol=1e-6)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(vae(x)), images, atol=1e-6)


def test_builders_are_seeded_without_global_state():
    a, b, c = conv_vae((8, 8, 1), seed=1), conv_vae((8, 8, 1), seed=1), conv_vae((8, 8, 1), seed=2)
    for wa, wb in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_array_equal(wa, wb)
    assert not np.array_equal(a.get_weights()[0], c.get_weights()[0])
    kernels = [w for w in a.get_weights() if w.shape == (3, 3, 32, 32)]
    assert len(kernels) < 2 or not np.array_equal(kernels[0], kernels[1])  # a seed per layer


def test_kl_metric_equals_numpy_at_any_weights():
    # KL does not depend on ε: the reported mean over examples is exact, also across uneven
    # batches (30 rows, batches of 7).
    vae = conv_vae((8, 8, 1), latent_dim=4, seed=3)
    x = np.random.default_rng(1).random((30, 8, 8, 1)).astype(np.float32)
    vae.compile(optimizer="adam")
    result = vae.evaluate(x, batch_size=7, verbose=0, return_dict=True)
    mean, log_variance = vae.encode(x)
    assert np.abs(mean).max() > 1e-3 and np.abs(log_variance).max() > 1e-3
    np.testing.assert_allclose(result["kl"], numpy_kl(mean, log_variance).mean(), rtol=1e-5)


def test_loss_equals_numpy_elbo_when_the_sample_is_the_mean():
    # σ = exp(-20): z = μ to float32 precision, so train and test steps must report exactly
    # Σ BCE(x, decode(μ)) + KL. Three channels: the BCE is summed over them, not averaged.
    vae = conv_vae((12, 12, 3), latent_dim=4, seed=4)
    set_log_variance(vae, -40.0)
    x = np.random.default_rng(2).random((16, 12, 12, 3)).astype(np.float32)
    mean, log_variance = vae.encode(x)
    reconstruction = numpy_bce(x, vae.reconstruct(x)).mean()
    kl = numpy_kl(mean, log_variance).mean()
    vae.compile(optimizer=keras.optimizers.SGD(0.0))
    evaluated = vae.evaluate(x, batch_size=5, verbose=0, return_dict=True)
    trained = vae.fit(x, batch_size=16, epochs=1, shuffle=False, verbose=0).history
    for metrics in (evaluated, {k: v[0] for k, v in trained.items()}):
        np.testing.assert_allclose(metrics["reconstruction"], reconstruction, rtol=1e-5)
        np.testing.assert_allclose(metrics["kl"], kl, rtol=1e-5)
        np.testing.assert_allclose(metrics["loss"], reconstruction + kl, rtol=1e-5)


def test_reparameterised_sample_has_standard_deviation_exp_half_log_variance():
    # One pixel, one latent: μ = 0.5, log σ² = log 4 (σ = 2), x̂ = sigmoid(1.5 z − 0.3), x = 0.7.
    # E_z[BCE] by Gauss-Hermite quadrature vs the Monte Carlo mean over 20,000 sampled rows;
    # σ = 1 (no ½) or σ = 4 (exp of log σ² without the square root) would be far off.
    inputs = keras.Input((1,))
    mean = keras.layers.Dense(1, kernel_initializer="zeros", bias_initializer=keras
                              .initializers.Constant(0.5), name="mean")(inputs)
    log_variance = keras.layers.Dense(1, kernel_initializer="zeros", bias_initializer=keras
                                      .initializers.Constant(np.log(4.0)))(inputs)
    latent = keras.Input((1,))
    decoded = keras.layers.Dense(1, activation="sigmoid", kernel_initializer=keras.initializers
                                 .Constant(1.5), bias_initializer=keras.initializers
                                 .Constant(-0.3))(latent)
    vae = VAE(keras.Model(inputs, [mean, log_variance]), keras.Model(latent, decoded), seed=5)
    vae.compile(optimizer="adam")
    x = np.full((20000, 1), 0.7, np.float32)
    result = vae.evaluate(x, batch_size=5000, verbose=0, return_dict=True)
    nodes, weights = np.polynomial.hermite_e.hermegauss(80)

    def expected_bce(sigma):
        p = 1 / (1 + np.exp(-(1.5 * (0.5 + sigma * nodes) - 0.3)))
        return float(weights @ numpy_bce(np.full((80, 1), 0.7), p[:, None]) / weights.sum())

    assert abs(result["reconstruction"] - expected_bce(2.0)) < 0.05
    assert abs(expected_bce(1.0) - expected_bce(2.0)) > 0.3
    assert abs(expected_bce(4.0) - expected_bce(2.0)) > 0.3
    np.testing.assert_allclose(result["kl"], -0.5 * (1 + np.log(4.0) - 0.25 - 4.0), rtol=1e-5)


def test_training_is_reproducible_silent_and_uses_the_noise(capsys):
    x = np.random.default_rng(3).random((64, 5)).astype(np.float32)
    runs = [train_vae(mlp_vae((5,), latent_dim=2), x, epochs=2, batch_size=16, progress=False)
            .history["loss"] for _ in range(2)]
    assert runs[0] == runs[1]
    assert capsys.readouterr() == ("", "")  # progress=False prints nothing
    vae = mlp_vae((5,), latent_dim=2)
    vae.compile(optimizer="adam")
    first, second = (vae.evaluate(x, verbose=0, return_dict=True)["reconstruction"]
                     for _ in range(2))
    assert first != second  # a fresh ε per call (σ ≈ 1 at initialisation)


def test_training_on_digits_beats_the_mean_image(digits_vae):
    vae, history, log, x_train, x_test = digits_vae
    assert history["loss"][-1] < 0.9 * history["loss"][0]
    assert set(history) == {"loss", "reconstruction", "kl", "val_loss", "val_reconstruction",
                            "val_kl"}
    mean_image = np.broadcast_to(x_train.mean(0), x_test.shape)
    assert numpy_bce(x_test, vae.reconstruct(x_test)).mean() < 0.9 * numpy_bce(
        x_test, mean_image).mean()


def test_progress_prints_one_line_per_epoch(digits_vae):
    log = digits_vae[2].splitlines()
    assert len(log) == 10 and log[0].startswith("epoch 1/10 loss ")
    assert log[-1].startswith("epoch 10/10 loss ") and " val_kl " in log[-1]


def test_save_load_round_trip(digits_vae, tmp_path):
    vae, _, _, _, x_test = digits_vae
    path = tmp_path / "vae.keras"
    vae.save(path)
    loaded = keras.models.load_model(path)
    assert type(loaded) is VAE
    assert (loaded.image_shape, loaded.latent_dim) == (vae.image_shape, vae.latent_dim)
    for a, b in zip(vae.encode(x_test), loaded.encode(x_test)):
        np.testing.assert_array_equal(a, b)
    z = np.random.default_rng(5).normal(size=(7, 8)).astype(np.float32)
    np.testing.assert_array_equal(vae.decode(z), loaded.decode(z))
    # the optimizer state came back too (10 epochs of 44 steps)
    assert int(loaded.optimizer.iterations.numpy()) == 440


def test_save_load_round_trip_cropped_mlp_untrained(tmp_path):
    for vae in (conv_vae((10, 10, 1), latent_dim=3), mlp_vae((6,), latent_dim=3)):
        vae.save(tmp_path / "vae.keras")
        loaded = keras.models.load_model(tmp_path / "vae.keras")
        z = np.random.default_rng(6).normal(size=(4, 3)).astype(np.float32)
        np.testing.assert_array_equal(vae.decode(z), loaded.decode(z))
        assert loaded.get_config()["seed"] == 0


def test_bad_inputs_name_the_argument():
    vae = conv_vae((8, 8, 1), latent_dim=3)
    good = np.random.default_rng(6).random((4, 8, 8, 1)).astype(np.float32)
    with pytest.raises(ValueError, match=r"x: expected shape \[n, 8, 8, 1\], received \(4, 8, 8\)"):
        vae.encode(good[..., 0])
    with pytest.raises(ValueError, match="x: contains NaN"):
        vae.reconstruct(np.where(good > 0.5, np.nan, good))
    with pytest.raises(ValueError, match="z: is empty"):
        vae.decode(np.zeros((0, 3), np.float32))
    with pytest.raises(ValueError, match=r"z: expected shape \[n, 3\], received \(2, 4\)"):
        vae.decode(np.zeros((2, 4), np.float32))
    with pytest.raises(ValueError, match="batch_size"):
        vae.encode(good, batch_size=0)
    with pytest.raises(ValueError, match=r"x: expected values in \[0, 1\]"):
        train_vae(vae, good * 2, epochs=1, progress=False)
    with pytest.raises(ValueError, match="validation_data: expected shape"):
        train_vae(vae, good, epochs=1, validation_data=good[:, :4], progress=False)
    with pytest.raises(ValueError, match="x: is empty"):
        train_vae(vae, good[:0], epochs=1, progress=False)
    with pytest.raises(ValueError, match="image_shape: expected 3 dimensions"):
        conv_vae((8, 8))
    with pytest.raises(ValueError, match="decoder: expected output shape"):
        VAE(vae.encoder, mlp_vae((5,), latent_dim=3).decoder)
