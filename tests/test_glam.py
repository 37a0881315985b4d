"""GLAM-CLUE (Ley, Bhatt and Weller, AAAI 2022, Eq. 2) and the baselines of its Table 2, against
closed forms and brute-force NumPy nearest neighbours."""
import numpy as np
import pytest
import tensorflow as tf

from tfpath.counterfactuals import glam
from tfpath.generative import encode_mean, mlp_vae, train_vae

C = np.array([2.0, -1.0, 0.5], np.float32)


def identity(x):
    return x


def half(x):
    return 0.5 * x


def _linear_decoder(m, d, seed=0):
    import keras
    rng = np.random.default_rng(seed)
    inp = keras.Input((m,))
    model = keras.Model(inp, keras.layers.Dense(d)(inp))
    model.layers[-1].set_weights([rng.normal(size=(m, d)), rng.normal(size=d)])
    return model


def _brute_nn(queries, references):
    q = queries.reshape(len(queries), -1).astype(np.float64)
    r = references.reshape(len(references), -1).astype(np.float64)
    d = ((q[:, None, :] - r[None, :, :]) ** 2).sum(-1)
    return d.argmin(axis=1), d.min(axis=1)


@pytest.fixture(scope="module")
def cloud():
    """Uncertain points in R³, their copy shifted by C, and 10 extra certain points that pull
    the difference of means away from C (so the fit has work to do)."""
    rng = np.random.default_rng(0)
    x_u = rng.normal(size=(50, 3)).astype(np.float32)
    extra = (C + np.array([3.0, 3.0, 0.0]) + 0.1 * rng.normal(size=(10, 3))).astype(np.float32)
    return x_u, (x_u + C).astype(np.float32), np.concatenate([x_u + C, extra])


@pytest.fixture(scope="module")
def digits():
    """A tiny VAE on scikit-learn's 8×8 digits; certain / uncertain by reconstruction error
    (a stand-in entropy: the machinery only needs a score per point)."""
    from tfpath.datasets.digits import load_digits
    split = load_digits(seed=0)
    vae = mlp_vae((8, 8, 1), latent_dim=4, hidden=(32,), seed=0)
    train_vae(vae, split.x_train, epochs=3, batch_size=64, progress=False, seed=0)
    x, y = split.x_train, split.y_train
    score = ((vae.reconstruct(x) - x) ** 2).reshape(len(x), -1).sum(1)
    certain, uncertain = glam.split_by_uncertainty(score, 0.4, 0.6)
    return dict(vae=vae, x_u=x[uncertain], y_u=y[uncertain], x_c=x[certain], y_c=y[certain],
                x_test=split.x_test[:40], y_test=split.y_test[:40])


# ----------------------------------------------------------------------------- closed forms
def test_shifted_copy_dbm_is_the_shift_and_the_fit_keeps_it(cloud):
    x_u, shifted, _ = cloud
    g = glam.GLAMCLUE(identity, identity).fit(x_u, 0, shifted, 0)
    np.testing.assert_allclose(g.dbm[(0, 0)], C, atol=1e-6)
    np.testing.assert_allclose(g.shifts[(0, 0)], C, atol=1e-3)
    assert g.losses[(0, 0)] < 1e-4


def test_fit_recovers_the_shift_from_a_biased_dbm(cloud):
    x_u, _, biased = cloud
    g = glam.GLAMCLUE(identity, identity, glam.GLAMSettings(steps=300)).fit(x_u, 0, biased, 0)
    assert np.abs(g.dbm[(0, 0)] - C).max() > 0.3                   # the start is off
    np.testing.assert_allclose(g.shifts[(0, 0)], C, atol=1e-3)     # the 1-NN minimum θ = C
    assert g.losses[(0, 0)] < 1e-5 < g.initial_losses[(0, 0)]
    assert g.training_seconds[(0, 0)] > 0


def test_paired_recovers_the_least_squares_shift(cloud):
    # encoder z = x/2, ψ = identity, target of row k: x_k + C. Paired loss mean ‖z_k + θ − x_c,k‖²
    # is minimised at θ* = mean(x_c − x_u/2) = C + mean(x_u)/2; DBM = C/2.
    x_u, shifted, _ = cloud
    settings = glam.GLAMSettings(steps=300, paired=True)
    g = glam.GLAMCLUE(half, identity, settings).fit(x_u, 0, shifted, 0)
    expected = (shifted.astype(np.float64) - 0.5 * x_u).mean(0)
    np.testing.assert_allclose(g.dbm[(0, 0)], C / 2, atol=1e-6)
    np.testing.assert_allclose(g.shifts[(0, 0)], expected, atol=1e-3)
    # the rows do correspond: shuffling the targets changes the paired loss, not the set loss
    z = 0.5 * x_u
    perm = np.random.default_rng(1).permutation(len(x_u))
    theta = g.shifts[(0, 0)]
    assert glam.translation_loss(theta, z, shifted[perm], identity, paired=True) > \
        glam.translation_loss(theta, z, shifted, identity, paired=True) + 0.1
    assert glam.translation_loss(theta, z, shifted[perm], identity) == pytest.approx(
        glam.translation_loss(theta, z, shifted, identity), rel=1e-6)


def test_large_l1_weight_drives_the_shift_to_zero(cloud):
    x_u, _, biased = cloud
    small = glam.GLAMCLUE(identity, identity, glam.GLAMSettings(steps=100, l1_weight=1e-3))
    large = glam.GLAMCLUE(identity, identity, glam.GLAMSettings(steps=100, l1_weight=1e3))
    small_norm = np.abs(small.fit(x_u, 0, biased, 0).shifts[(0, 0)]).sum()
    large_norm = np.abs(large.fit(x_u, 0, biased, 0).shifts[(0, 0)]).sum()
    assert small_norm > 3.0
    assert large_norm < 0.1 * small_norm


# ----------------------------------------------------------------------------- the 1-NN loss
@pytest.mark.parametrize("chunk_size", [1, 7, 1024])
def test_chunked_loss_equals_brute_force(chunk_size):
    rng = np.random.default_rng(2)
    m, d = 3, 5
    decoder = _linear_decoder(m, d)
    a, b = (w.astype(np.float64) for w in decoder.layers[-1].get_weights())
    z = rng.normal(size=(20, m)).astype(np.float32)
    x_c = rng.normal(size=(45, d)).astype(np.float32)
    theta = rng.normal(size=m).astype(np.float32)
    decoded = (z + theta).astype(np.float64) @ a + b
    _, nearest = _brute_nn(decoded, x_c)
    expected = 0.3 * np.abs(theta).sum() + nearest.mean()
    got = glam.translation_loss(theta, z, x_c, decoder, l1_weight=0.3, chunk_size=chunk_size)
    assert got == pytest.approx(expected, rel=1e-5)
    index, dist = glam.nearest_neighbours(decoded, x_c, chunk_size=chunk_size)
    np.testing.assert_array_equal(index, _brute_nn(decoded, x_c)[0])
    np.testing.assert_allclose(dist, nearest, rtol=1e-9)


def test_stored_losses_are_eq2_at_the_stored_shifts(digits):
    s = digits
    g = glam.GLAMCLUE(s["vae"], settings=glam.GLAMSettings(chunk_size=50))
    g.fit(s["x_u"], s["y_u"], s["x_c"], s["y_c"], pairs=[(3, 3), (5, "*")])
    z_u = encode_mean(s["vae"], s["x_u"])

    def eq2(theta, z, x_c):                 # Eq. 2 by brute force in NumPy (no l1 weight)
        decoded = np.asarray(s["vae"].decoder(z + theta, training=False), np.float64)
        return _brute_nn(decoded.reshape(len(z), -1), x_c.reshape(len(x_c), -1))[1].mean()

    for (i, j), theta in g.shifts.items():
        x_c = s["x_c"] if j == "*" else s["x_c"][s["y_c"] == j]
        z = z_u[s["y_u"] == i]
        assert g.losses[(i, j)] == pytest.approx(eq2(theta, z, x_c), rel=1e-4)
        assert g.initial_losses[(i, j)] == pytest.approx(eq2(g.dbm[(i, j)], z, x_c), rel=1e-4)
        assert g.losses[(i, j)] < g.initial_losses[(i, j)]      # the fit lowers the loss


# ----------------------------------------------------------------------------- VAE on digits
def test_steps_zero_is_the_latent_dbm(digits):
    s = digits
    g = glam.GLAMCLUE(s["vae"], settings=glam.GLAMSettings(steps=0))
    g.fit(s["x_u"], s["y_u"], s["x_c"], s["y_c"])
    assert sorted(g.shifts) == [(k, k) for k in range(10)]
    for key in g.shifts:
        np.testing.assert_array_equal(g.shifts[key], g.dbm[key])
    ce = g.explain(s["x_test"], s["y_test"])
    dbm = glam.latent_dbm(s["x_test"], s["y_test"], s["x_u"], s["y_u"], s["x_c"], s["y_c"],
                          s["vae"])
    np.testing.assert_allclose(ce.x, dbm, atol=1e-6)  # compiled vs eager rounding
    np.testing.assert_array_equal(ce.z_original, encode_mean(s["vae"], s["x_test"]))
    np.testing.assert_array_equal(ce.z, ce.z_original + np.stack(
        [g.dbm[(k, k)] for k in s["y_test"].tolist()]))


def test_fit_lowers_the_loss_on_every_group(digits):
    s = digits
    g = glam.GLAMCLUE(s["vae"]).fit(s["x_u"], s["y_u"], s["x_c"], s["y_c"])
    for key in g.shifts:
        assert g.losses[key] < g.initial_losses[key]
    ce = g.explain(s["x_test"], s["y_test"])
    assert ce.x.shape == s["x_test"].shape and ce.z.shape == (40, 4)


def test_explain_with_target_groups_and_the_pooled_mapper(digits):
    s = digits
    g = glam.GLAMCLUE(s["vae"], settings=glam.GLAMSettings(steps=5))
    g.fit(s["x_u"], s["y_u"], s["x_c"], s["y_c"], pairs=[(1, 7), ("*", "*")])
    x = s["x_test"][:3]
    one = g.explain(x, 1, target_groups=[7, 7, 7])
    np.testing.assert_allclose(one.z - one.z_original, np.tile(g.shifts[(1, 7)], (3, 1)),
                               atol=1e-6)
    mixed = g.explain(x[:2], [1, "*"], target_groups=[7, "*"])
    np.testing.assert_allclose(mixed.z - mixed.z_original,
                               np.stack([g.shifts[(1, 7)], g.shifts[("*", "*")]]), atol=1e-6)
    pooled = g.explain(x, "*")
    np.testing.assert_allclose(pooled.z - pooled.z_original,
                               np.tile(g.shifts[("*", "*")], (3, 1)), atol=1e-6)


def test_nearest_neighbour_baselines_are_the_brute_force_neighbours(digits):
    s = digits
    x, y = s["x_test"], s["y_test"]
    got = glam.input_nn(x, y, s["x_c"], s["y_c"], chunk_size=13)
    z, z_c = encode_mean(s["vae"], x), encode_mean(s["vae"], s["x_c"])
    got_latent = glam.latent_nn(x, y, s["x_c"], s["y_c"], s["vae"], chunk_size=13)
    for k in range(len(x)):
        members = np.flatnonzero(s["y_c"] == y[k])
        best = members[_brute_nn(x[k:k + 1], s["x_c"][members])[0][0]]
        np.testing.assert_array_equal(got[k], s["x_c"][best])
        best = members[_brute_nn(z[k:k + 1], z_c[members])[0][0]]
        np.testing.assert_array_equal(got_latent[k], s["x_c"][best])
    pooled = glam.input_nn(x, y, s["x_c"], s["y_c"], target_groups="*")
    np.testing.assert_array_equal(pooled, s["x_c"][_brute_nn(x, s["x_c"])[0]])


def test_input_dbm_stays_within_bounds(digits):
    s = digits
    args = (s["x_test"], s["y_test"], s["x_u"], s["y_u"], s["x_c"], s["y_c"])
    raw = glam.input_dbm(*args, reconstruct=False, bounds=(0.0, 0.5))
    assert raw.min() >= 0.0 and raw.max() <= 0.5
    delta = s["x_c"][s["y_c"] == 0].mean(0) - s["x_u"][s["y_u"] == 0].mean(0)
    row = int(np.flatnonzero(s["y_test"] == 0)[0])
    np.testing.assert_allclose(raw[row], np.clip(s["x_test"][row] + delta, 0.0, 0.5), atol=1e-6)
    rec = glam.input_dbm(*args, encoder=s["vae"])
    assert rec.shape == s["x_test"].shape and rec.min() >= 0.0 and rec.max() <= 1.0
    clipped = glam.input_dbm(*args, reconstruct=False)
    assert clipped.min() >= 0.0 and clipped.max() <= 1.0
    np.testing.assert_allclose(rec, s["vae"].decode(encode_mean(s["vae"], clipped)), atol=1e-6)


def test_save_load_round_trip(digits, tmp_path):
    s = digits
    g = glam.GLAMCLUE(s["vae"], settings=glam.GLAMSettings(steps=3, l1_weight=0.25))
    g.fit(s["x_u"], s["y_u"], s["x_c"], s["y_c"], pairs=[(2, 2), (4, "*"), ("*", "*")])
    path = tmp_path / "glam.model"                 # any name: written exactly there
    g.save(path)
    back = glam.GLAMCLUE.load(path, s["vae"])
    assert back.settings == g.settings
    assert list(back.shifts) == list(g.shifts)
    for key in g.shifts:
        np.testing.assert_array_equal(back.shifts[key], g.shifts[key])
        np.testing.assert_array_equal(back.dbm[key], g.dbm[key])
    assert back.losses == g.losses and back.training_seconds == g.training_seconds
    x = s["x_test"][:6]
    for groups, targets in (([2] * 6, None), ([4] * 6, "*"), ("*", None)):
        np.testing.assert_array_equal(back.explain(x, groups, targets).x,
                                      g.explain(x, groups, targets).x)


def test_inputs_are_not_written(cloud):
    x_u, shifted, _ = cloud
    before = x_u.copy(), shifted.copy()
    groups = np.zeros(len(x_u), np.int64)
    glam.GLAMCLUE(identity, identity).fit(x_u, groups, shifted, groups).explain(x_u, groups)
    np.testing.assert_array_equal(x_u, before[0])
    np.testing.assert_array_equal(shifted, before[1])
    np.testing.assert_array_equal(groups, 0)


# ----------------------------------------------------------------------------- split
def test_split_by_uncertainty():
    h = np.arange(10, dtype=np.float64)
    certain, uncertain = glam.split_by_uncertainty(h)
    np.testing.assert_array_equal(np.flatnonzero(certain), [0, 1])
    np.testing.assert_array_equal(np.flatnonzero(uncertain), [8, 9])
    certain, uncertain = glam.split_by_uncertainty(h, certain_below=3.0, uncertain_above=6.5)
    np.testing.assert_array_equal(np.flatnonzero(certain), [0, 1, 2, 3])
    np.testing.assert_array_equal(np.flatnonzero(uncertain), [7, 8, 9])
    with pytest.raises(ValueError, match="certain_below, uncertain_above"):
        glam.split_by_uncertainty(h, certain_below=5.0, uncertain_above=5.0)
    with pytest.raises(ValueError, match="certain_quantile"):
        glam.split_by_uncertainty(h, certain_quantile=1.5)
    with pytest.raises(ValueError, match="entropy"):
        glam.split_by_uncertainty([0.1, np.nan])


# ----------------------------------------------------------------------------- errors
def test_errors(cloud, tmp_path):
    x_u, shifted, _ = cloud
    g_u = np.array([0] * 25 + [4] * 25)
    fit = glam.GLAMCLUE(identity, identity)
    with pytest.raises(ValueError, match="groups_certain: group 4 has no certain members"):
        fit.fit(x_u, g_u, shifted, np.zeros(50, np.int64))
    with pytest.raises(ValueError, match="groups_uncertain: group 7 has no uncertain members"):
        fit.fit(x_u, g_u, shifted, g_u, pairs=[(7, 0)])
    with pytest.raises(ValueError, match="decoder"):
        glam.GLAMCLUE(identity, lambda z: tf.concat([z, z], 1)).fit(x_u, 0, shifted, 0)
    bad = x_u.copy()
    bad[3, 1] = np.nan
    with pytest.raises(ValueError, match="x_uncertain"):
        fit.fit(bad, 0, shifted, 0)
    with pytest.raises(ValueError, match="x_certain"):
        fit.fit(x_u, 0, np.where(np.isfinite(shifted), np.inf, 0).astype(np.float32), 0)
    with pytest.raises(ValueError, match="encoder"):
        glam.GLAMCLUE(lambda x: x * np.nan, identity).fit(x_u, 0, shifted, 0)
    with pytest.raises(ValueError, match="l1_weight"):
        glam.GLAMSettings(l1_weight=-1.0)
    with pytest.raises(ValueError, match="steps"):
        glam.GLAMSettings(steps=-1)
    with pytest.raises(TypeError, match="settings"):
        glam.GLAMCLUE(identity, identity, settings={"steps": 0})
    with pytest.raises(ValueError, match="groups_uncertain"):
        fit.fit(x_u, g_u[:10], shifted, g_u)
    with pytest.raises(ValueError, match="x_certain"):
        fit.fit(x_u, 0, shifted[:, :2], 0)
    with pytest.raises(ValueError, match="x_certain: paired"):
        glam.GLAMCLUE(identity, identity, glam.GLAMSettings(paired=True)).fit(
            x_u, 0, shifted[:10], 0)
    with pytest.raises(ValueError, match="pairs"):
        fit.fit(x_u, g_u, shifted, g_u, pairs="between")
    with pytest.raises(TypeError, match="groups_uncertain"):
        fit.fit(x_u, np.full(50, 0.5), shifted, g_u)
    with pytest.raises(ValueError, match="decoder"):
        glam.GLAMCLUE(identity)
    with pytest.raises(ValueError, match="groups: no group pair is fitted"):
        glam.GLAMCLUE(identity, identity).explain(x_u[:2], 0)

    fitted = glam.GLAMCLUE(identity, identity, glam.GLAMSettings(steps=2)).fit(
        x_u, g_u, shifted, g_u)
    with pytest.raises(ValueError, match="groups: no shift was fitted"):
        fitted.explain(x_u[:2], [0, 5])
    with pytest.raises(ValueError, match="groups: no shift was fitted"):
        fitted.explain(x_u[:2], [0, 0], target_groups=[4, 4])
    with pytest.raises(ValueError, match="groups: expected 3 group labels"):
        fitted.explain(x_u[:3], [0, 0])
    with pytest.raises(ValueError, match="target_groups"):
        fitted.explain(x_u[:3], 0, target_groups=[0])
    with pytest.raises(ValueError, match="x: contains NaN"):
        fitted.explain(bad[:5], 0)
    path = tmp_path / "glam.npz"
    fitted.save(path)
    with pytest.raises(ValueError, match="decoder"):
        glam.GLAMCLUE.load(path, identity, lambda z: z[:, :2]).explain(x_u[:2], 0)
    with pytest.raises(ValueError, match="path"):
        glam.GLAMCLUE(identity, identity).save(tmp_path / "empty.npz")

    # baselines
    with pytest.raises(ValueError, match="groups_certain: group 4 has no certain members"):
        glam.input_nn(x_u[:2], 4, shifted, 0)
    with pytest.raises(ValueError, match="groups_certain: group 4 has no certain members"):
        glam.latent_nn(x_u[:2], 4, shifted, 0, identity)
    with pytest.raises(ValueError, match="groups_uncertain: group 4 has no uncertain members"):
        glam.latent_dbm(x_u[:2], 4, x_u, 0, shifted, 4, identity, identity)
    with pytest.raises(ValueError, match="groups: expected 2 group labels"):
        glam.input_nn(x_u[:2], [0, 0, 0], shifted, 0)
    with pytest.raises(ValueError, match="x_certain"):
        glam.input_nn(x_u[:2], 0, shifted[:, :2], 0)
    with pytest.raises(ValueError, match="encoder"):
        glam.input_dbm(x_u[:2], 0, x_u, 0, shifted, 0)
    with pytest.raises(ValueError, match="bounds"):
        glam.input_dbm(x_u[:2], 0, x_u, 0, shifted, 0, reconstruct=False, bounds=(1.0, 0.0))
    with pytest.raises(ValueError, match="shift"):
        glam.translation_loss(np.zeros(2, np.float32), x_u, shifted, identity)
