"""Generative IG (Perez et al., UAI 2022, Eq. 3, Algorithm 1) and the latent toolkit, against
closed forms, an independent Jacobian-per-node oracle, TFP and Keras optimisers."""
import dataclasses
import warnings

import numpy as np
import pytest
import tensorflow as tf

import tfpath
from tfpath import generative as gen

D, M = 6, 3


def _dense_decoder(weights, bias, activation=None):
    import keras
    inp = keras.Input((weights.shape[0],))
    model = keras.Model(inp, keras.layers.Dense(weights.shape[1], activation=activation)(inp))
    model.layers[-1].set_weights([weights, bias])
    return model


def _mlp_decoder(seed=0, m=M, d=D, hidden=7):
    """z -> sigmoid(W2 tanh(W1 z + b1) + b2): a smooth nonlinear decoder."""
    import keras
    rng = np.random.default_rng(seed)
    inp = keras.Input((m,))
    h = keras.layers.Dense(hidden, activation="tanh")(inp)
    model = keras.Model(inp, keras.layers.Dense(d, activation="sigmoid")(h))
    model.layers[1].set_weights([rng.normal(size=(m, hidden)), rng.normal(size=hidden) * .3])
    model.layers[2].set_weights([rng.normal(size=(hidden, d)), rng.normal(size=d) * .3])
    return model


def _softmax_classifier(seed=1, d=D, classes=4, scale=2.0):
    import keras
    rng = np.random.default_rng(seed)
    inp = keras.Input((d,))
    model = keras.Model(inp, keras.layers.Dense(classes)(inp))
    model.layers[-1].set_weights([rng.normal(size=(d, classes)) * scale, np.zeros(classes)])
    return model


@pytest.fixture(scope="module")
def linear_setting():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(M, D)).astype(np.float32)
    b = rng.normal(size=D).astype(np.float32)
    w = rng.normal(size=D).astype(np.float32)
    f = tfpath.ModelFunction(lambda x: tf.reduce_sum(x * w, axis=1), target="score")
    x = rng.normal(size=(3, D)).astype(np.float32)
    z, z0 = (rng.normal(size=(3, M)).astype(np.float32) for _ in range(2))
    return dict(a=a, b=b, w=w, mf=f, decoder=_dense_decoder(a, b), x=x, z=z, z0=z0)


# ----------------------------------------------------------------------------- closed forms
@pytest.mark.parametrize("integrator", ["midpoint", "trapezoid", "gauss_legendre", "left"])
def test_linear_decoder_and_target_give_the_closed_form(linear_setting, integrator):
    s = linear_setting
    kw = dict(decoder=s["decoder"], z_baseline=s["z0"], z_input=s["z"], steps=4,
              integrator=integrator)
    latent = tfpath.GenerativeIG().GetMaskBatch(s["x"], s["mf"], tail=False, **kw)
    whole = tfpath.GenerativeIG().GetMaskBatch(s["x"], s["mf"], **kw)
    # latent piece: w ⊙ A(z - z0); the whole path: w ⊙ (x - ψ(z0))
    np.testing.assert_allclose(latent, s["w"] * ((s["z"] - s["z0"]) @ s["a"]), atol=2e-5)
    x0 = s["z0"] @ s["a"] + s["b"]
    np.testing.assert_allclose(whole, s["w"] * (s["x"] - x0), atol=2e-5)


def test_one_input_through_the_pair_face_and_details(linear_setting):
    s = linear_setting
    details = tfpath.GenerativeIG().GetMaskWithDetails(
        s["x"][0], s["mf"], decoder=s["decoder"], z_baseline=s["z0"][0], z_input=s["z"][0],
        steps=3)
    x0 = s["z0"][0] @ s["a"] + s["b"]
    np.testing.assert_allclose(details.fiducial, x0, atol=1e-5)
    np.testing.assert_allclose(details.reconstruction, s["z"][0] @ s["a"] + s["b"], atol=1e-5)
    np.testing.assert_allclose(details.fiducial_value, x0 @ s["w"], rtol=1e-5)
    np.testing.assert_allclose(details.end_value, s["x"][0] @ s["w"], rtol=1e-5)
    assert abs(details.completeness_gap) < 1e-4
    assert details.path_values.shape == (6,)          # 3 nodes on each piece
    assert details.fiducial_search is None


def _rule(name, steps):
    """Nodes and weights of a rule on [0, 1], written out here (not tfpath's tables)."""
    k = np.arange(steps)
    if name == "midpoint":
        return (k + 0.5) / steps, np.full(steps, 1.0 / steps)
    if name == "left":
        return k / steps, np.full(steps, 1.0 / steps)
    if name == "right":
        return (k + 1.0) / steps, np.full(steps, 1.0 / steps)
    if name == "trapezoid":
        w = np.full(steps, 1.0 / (steps - 1))
        w[[0, -1]] /= 2
        return k / (steps - 1), w
    nodes, weights = np.polynomial.legendre.leggauss(steps)             # gauss_legendre
    return (nodes + 1) / 2, weights / 2


def _node_terms(decoder, target, x, z0, z, alphas):
    """Per node of both pieces, in path order: (F, ∇F, velocity), the velocity of the latent
    piece by a Jacobian per node (tape.jacobian of ψ at z_α times z - z0: the authors' route)
    and x - ψ(z) on the tail."""
    out = []

    def value_grad(point):
        p = tf.constant(point[None], tf.float32)
        with tf.GradientTape() as tape:
            tape.watch(p)
            value = target(p)
        return float(value.numpy()[0]), tape.gradient(value, p).numpy()[0].astype(np.float64)

    for a in alphas:
        za = tf.constant((z0 + a * (z - z0))[None], tf.float32)
        with tf.GradientTape() as tape:
            tape.watch(za)
            decoded = decoder(za)
        jac = tape.jacobian(decoded, za).numpy()[0, :, 0, :]           # [d, m]
        out.append(value_grad(decoded.numpy()[0]) + (jac @ (z - z0),))
    xr = decoder(tf.constant(z[None])).numpy()[0]
    for b in alphas:
        out.append(value_grad(xr + b * (x - xr)) + (x - xr,))
    return out


def _entropy_of(classifier):
    def entropy(p):
        logp = tf.nn.log_softmax(classifier(p))
        return -tf.reduce_sum(tf.exp(logp) * logp, axis=1)
    return entropy


@pytest.mark.parametrize("integrator", ["midpoint", "trapezoid", "gauss_legendre", "left",
                                        "right"])
def test_nonlinear_path_matches_a_jacobian_per_node_oracle(integrator):
    decoder, classifier = _mlp_decoder(), _softmax_classifier()
    mf = tfpath.ModelFunction(classifier, target="entropy")
    rng = np.random.default_rng(3)
    x = rng.uniform(size=(2, D)).astype(np.float32)
    z0, z = (rng.normal(size=(2, M)).astype(np.float32) for _ in range(2))
    masks = tfpath.GenerativeIG().GetMaskBatch(x, mf, decoder=decoder, z_baseline=z0,
                                               z_input=z, steps=6, batch_size=5,
                                               integrator=integrator)
    alphas, weights = _rule(integrator, 6)
    for i in range(2):
        terms = _node_terms(decoder, _entropy_of(classifier), x[i], z0[i], z[i], alphas)
        expected = sum(w * g * v for w, (_, g, v) in zip(np.tile(weights, 2), terms))
        np.testing.assert_allclose(masks[i], expected, rtol=1e-4, atol=1e-6)


def test_idgi_on_the_generative_path_matches_a_numpy_idgi():
    decoder, classifier = _mlp_decoder(2), _softmax_classifier(3)
    mf = tfpath.ModelFunction(classifier, target="entropy")
    rng = np.random.default_rng(5)
    x = rng.uniform(size=(2, D)).astype(np.float32)
    z0, z = (rng.normal(size=(2, M)).astype(np.float32) for _ in range(2))
    d = tfpath.GenerativeIG().GetMaskBatchWithDetails(
        x, mf, decoder=decoder, z_baseline=z0, z_input=z, steps=5, integrator="idgi")
    assert d.path_values.shape == (2, 12)            # 6 closed nodes on each piece
    for i in range(2):
        # IDGI (Yang, Wang and Bilgic, CVPR 2023, Algorithm 1) on the nodes 0, 1/5, ..., 1 of
        # each piece in path order: Σ_j g_j² (F_{j+1} - F_j) / ‖g_j‖²
        terms = _node_terms(decoder, _entropy_of(classifier), x[i], z0[i], z[i],
                            np.linspace(0, 1, 6))
        values = np.array([f for f, _, _ in terms])
        expected = sum(g ** 2 * (values[j + 1] - values[j]) / np.sum(g ** 2)
                       for j, (_, g, _) in enumerate(terms[:-1]))
        np.testing.assert_allclose(d.mask[i], expected, rtol=1e-4, atol=1e-7)
        np.testing.assert_allclose(d.path_values[i], values, rtol=1e-5)


@pytest.mark.parametrize("integrator", ["midpoint", "trapezoid"])
def test_completeness_gap_shrinks_with_steps(integrator):
    decoder, classifier = _mlp_decoder(1), _softmax_classifier(2)
    mf = tfpath.ModelFunction(classifier, target="entropy")
    rng = np.random.default_rng(4)
    x = rng.uniform(size=(4, D)).astype(np.float32)
    z0, z = (rng.normal(size=(4, M)).astype(np.float32) * 1.5 for _ in range(2))
    gaps = []
    for steps in (4, 16, 64):
        d = tfpath.GenerativeIG().GetMaskBatchWithDetails(
            x, mf, decoder=decoder, z_baseline=z0, z_input=z, steps=steps,
            integrator=integrator)
        gaps.append(np.abs(d.completeness_gap).max())
    # second-order rules: 4x the steps, about 1/16 of the gap
    assert gaps[1] < gaps[0] / 8 and gaps[2] < gaps[1] / 8, gaps


def test_several_fiducials_per_input_are_weighted():
    decoder, classifier = _mlp_decoder(3), _softmax_classifier(4)
    mf = tfpath.ModelFunction(classifier, target="entropy")
    rng = np.random.default_rng(6)
    x = rng.uniform(size=(2, D)).astype(np.float32)
    z = rng.normal(size=(2, M)).astype(np.float32)
    z0 = rng.normal(size=(2, 2, M)).astype(np.float32)
    weights = np.array([0.25, 0.75])
    d = tfpath.GenerativeIG().GetMaskBatchWithDetails(
        x, mf, decoder=decoder, z_baseline=z0, z_input=z, steps=64, baseline_weights=weights)
    # Σ mask = Σ_b w_b (F(x) - F(ψ(z0_b))), with F at each fiducial computed here
    f0 = mf.predict(decoder(tf.constant(z0.reshape(4, M))).numpy()).reshape(2, 2)
    fx = mf.predict(x)
    np.testing.assert_allclose(d.mask.reshape(2, -1).sum(1), fx - f0 @ weights, atol=2e-3)
    assert d.fiducial.shape == (2, 2, D)


def test_uncertainty_components_add_up_on_an_ensemble():
    from tfpath.uncertainty import DeepEnsemble
    members = [_softmax_classifier(s) for s in (5, 6, 7)]
    ensemble = DeepEnsemble(members)
    decoder = _mlp_decoder(4)
    rng = np.random.default_rng(7)
    x = rng.uniform(size=(2, D)).astype(np.float32)
    z0, z = (rng.normal(size=(2, M)).astype(np.float32) for _ in range(2))
    masks = {t: tfpath.GenerativeIG().GetMaskBatchWithDetails(
        x, tfpath.ModelFunction(ensemble, target=t), decoder=decoder, z_baseline=z0,
        z_input=z, steps=32) for t in ("entropy", "aleatoric", "epistemic")}
    np.testing.assert_allclose(masks["entropy"].mask,
                               masks["aleatoric"].mask + masks["epistemic"].mask, atol=1e-5)
    for d in masks.values():
        assert np.all(np.abs(d.completeness_gap) < 2e-3)


# ----------------------------------------------------------------------------- bad input
def test_bad_inputs_name_the_argument(linear_setting):
    s = linear_setting
    g = tfpath.GenerativeIG()
    kw = dict(z_baseline=s["z0"], z_input=s["z"])
    wrong_out = _dense_decoder(s["a"][:, :4], s["b"][:4])
    with pytest.raises(ValueError, match="decoder: its output shape"):
        g.GetMaskBatch(s["x"], s["mf"], decoder=wrong_out, **kw)
    with pytest.raises(ValueError, match="z_input: expected latents of shape"):
        g.GetMaskBatch(s["x"], s["mf"], decoder=s["decoder"], z_baseline=s["z0"],
                       z_input=s["z"][:, :2])
    with pytest.raises(ValueError, match="z_baseline: expected latents"):
        g.GetMaskBatch(s["x"], s["mf"], decoder=s["decoder"], z_baseline=s["z0"][:2],
                       z_input=s["z"])
    nan = s["z0"].copy()
    nan[1, 0] = np.nan
    with pytest.raises(ValueError, match="z_baseline: contains NaN"):
        g.GetMaskBatch(s["x"], s["mf"], decoder=s["decoder"], z_baseline=nan, z_input=s["z"])
    with pytest.raises(ValueError, match="decoder: Generative IG needs a decoder"):
        g.GetMaskBatch(s["x"], s["mf"], **kw)
    with pytest.raises(ValueError, match="encoder: needed"):
        g.GetMaskBatch(s["x"], s["mf"], decoder=s["decoder"], z_input=s["z"])
    with pytest.raises(ValueError, match="steps"):
        g.GetMaskBatch(s["x"], s["mf"], decoder=s["decoder"], steps=0, **kw)
    with pytest.raises(ValueError, match="x_batch: is empty"):
        g.GetMaskBatch(s["x"][:0], s["mf"], decoder=s["decoder"], **kw)


def test_pair_callback_works_with_given_latents_and_refuses_searches(linear_setting):
    s = linear_setting

    def callback(x_batch, call_model_args=None, expected_keys=None):
        out = {tfpath.INPUT_OUTPUT_GRADIENTS: np.broadcast_to(s["w"], x_batch.shape).copy()}
        out[tfpath.OUTPUT_LAYER_VALUES] = x_batch @ s["w"]
        return out

    mask = tfpath.GenerativeIG().GetMaskBatch(s["x"], callback, decoder=s["decoder"],
                                              z_baseline=s["z0"], z_input=s["z"], steps=3)
    np.testing.assert_allclose(mask, s["w"] * (s["x"] - s["z0"] @ s["a"] - s["b"]), atol=2e-5)
    with pytest.raises(TypeError, match="call_model_function: the latent searches"):
        tfpath.GenerativeIG().GetMaskBatch(s["x"], callback, decoder=s["decoder"],
                                           encoder=lambda x: x[:, :M], z_input=s["z"])


# ----------------------------------------------------------------------------- latent toolkit
def test_adam_matches_keras_adam_step_by_step():
    import keras
    target = np.array([[1.0, -2.0, 0.5], [3.0, 0.0, -1.0]], np.float32)
    z0 = np.zeros((2, 3), np.float32)
    loss = lambda z, ctx: tf.reduce_sum((z - ctx["t"]) ** 2 * [1.0, 4.0, 0.25], axis=1)  # noqa
    ours = gen.minimize_latent(loss, z0, context={"t": target}, optimizer=gen.Adam(0.05),
                               max_steps=25)
    var = tf.Variable(z0)
    opt = keras.optimizers.Adam(0.05, beta_1=0.9, beta_2=0.999, epsilon=1e-7)
    for _ in range(25):
        with tf.GradientTape() as tape:
            value = tf.reduce_sum(loss(var, {"t": tf.constant(target)}))
        opt.apply_gradients([(tape.gradient(value, var), var)])
    np.testing.assert_allclose(ours.z, var.numpy(), rtol=1e-5, atol=1e-6)
    assert np.all(ours.steps == 25) and not ours.converged.any()


def test_loss_not_decreasing_stops_like_tfp():
    # two rows whose losses decrease at very different rates: each stops on its own
    scale = np.array([[1.0], [1e-3]], np.float32)
    z0 = np.full((2, 1), 5.0, np.float32)
    loss = lambda z, ctx: tf.reduce_sum(ctx["s"] * z ** 2, axis=1)  # noqa: E731
    for tolerance in ({"atol": 1e-3}, {"rtol": 1e-3}):
        rule = gen.LossNotDecreasing(**tolerance)
        ours = gen.minimize_latent(loss, z0, context={"s": scale}, optimizer=gen.Adam(0.1),
                                   stopping=rule, max_steps=3000)
        assert ours.steps.min() >= rule.min_steps
        _check_against_tfp(ours, z0, scale, tolerance)


def _check_against_tfp(ours, z0, scale, tolerance):
    import tensorflow_probability as tfp
    for row in range(2):                                    # TFP on each row alone
        var = tf.Variable(z0[row:row + 1])
        opt = tf.keras.optimizers.Adam(0.1)
        tfp.math.minimize(lambda: tf.reduce_sum(scale[row] * var ** 2), num_steps=3000,
                          optimizer=opt, trainable_variables=[var],
                          convergence_criterion=tfp.optimizer.convergence_criteria.
                          LossNotDecreasing(**tolerance))
        # the rule fires at the same step; tfp.math.minimize takes one more update
        assert ours.steps[row] == int(opt.iterations) - 1


def test_ball_projection_is_the_nearest_point_and_keeps_rows_inside():
    rng = np.random.default_rng(12)
    centre = rng.normal(size=(4, 3)).astype(np.float32)
    radius = np.array([0.5, 1.0, 2.0, 0.1], np.float32)
    z = centre + rng.normal(size=(4, 3)).astype(np.float32) * 2
    ctx = {"ball_centre": centre, "ball_radius": radius}
    l2 = gen.Ball()(tf.constant(z), ctx).numpy()
    offset = z - centre
    length = np.linalg.norm(offset, axis=1, keepdims=True)
    expected = np.where(length > radius[:, None], centre + offset * radius[:, None] / length, z)
    np.testing.assert_allclose(l2, expected, rtol=1e-5, atol=1e-6)
    linf = gen.Ball(norm=float("inf"))(tf.constant(z), ctx).numpy()
    np.testing.assert_allclose(linf, np.clip(z, centre - radius[:, None],
                                             centre + radius[:, None]), atol=1e-6)
    # in the loop: a minimum outside the ball ends on its sphere, one inside is found
    target = np.array([[3.0, 4.0], [0.3, 0.4]], np.float32)
    loss = lambda z, ctx: tf.reduce_sum((z - ctx["t"]) ** 2, axis=1)  # noqa: E731
    out = gen.minimize_latent(loss, np.zeros((2, 2), np.float32),
                              context={"t": target, "ball_centre": np.zeros((2, 2), np.float32),
                                       "ball_radius": np.ones(2, np.float32)},
                              optimizer=gen.Adam(0.05), max_steps=800, projection=gen.Ball())
    np.testing.assert_allclose(np.linalg.norm(out.z[0]), 1.0, atol=1e-5)
    np.testing.assert_allclose(out.z[1], [0.3, 0.4], atol=1e-3)


def test_minimize_latent_errors():
    loss = lambda z, ctx: tf.reduce_sum(z ** 2, axis=1)  # noqa: E731
    with pytest.raises(ValueError, match="z_init"):
        gen.minimize_latent(loss, np.zeros(3, np.float32))
    with pytest.raises(ValueError, match="context\\['c'\\]"):
        gen.minimize_latent(loss, np.zeros((2, 3), np.float32), context={"c": np.zeros(3)})
    with pytest.raises(ValueError, match="atol, rtol"):
        gen.LossNotDecreasing()
    with pytest.raises(ValueError, match="loss_fn: is not finite"):
        gen.minimize_latent(lambda z, ctx: tf.math.log(-tf.reduce_sum(z ** 2, 1) - 1.0),
                            np.ones((2, 3), np.float32), max_steps=2)


# ----------------------------------------------------------------------------- searches
def test_reconstruction_search_finds_the_exact_latent():
    decoder = _mlp_decoder(5)
    z_true = np.array([[0.5, -1.0, 0.3], [-0.2, 0.4, 1.1]], np.float32)
    x = decoder(tf.constant(z_true)).numpy()
    settings = dataclasses.replace(gen.CODE, prior_weight=0.0, optimizer=gen.Adam(0.02),
                                   max_steps=3000,
                                   reconstruction_stopping=gen.LossNotDecreasing(atol=1e-7))
    found = gen.reconstruction_latent(decoder, x, np.zeros_like(z_true), settings)
    # the BCE sum is minimised where ψ(z) = x: the generating latent (ψ is injective here)
    np.testing.assert_allclose(decoder(tf.constant(found.z)).numpy(), x, atol=2e-3)


def _numpy_fiducial_loss(decoded, x, z, probs, c, settings, scale):
    p = np.clip(decoded, 1e-7, 1 - 1e-7)
    d = -(x * np.log(p) + (1 - x) * np.log(1 - p)).sum(1)
    beta = 1.0 / (2 * z.shape[1]) if settings.prior_weight is None else settings.prior_weight
    onehot = np.eye(probs.shape[1])[c]
    if settings.class_loss == "cross_entropy":
        cls = -np.log(probs[np.arange(len(c)), c])
    else:
        q = np.clip(probs, 1e-7, 1 - 1e-7)
        cls = (-(onehot * np.log(q) + (1 - onehot) * np.log(1 - q))).mean(1)
    return d + beta * (z ** 2).sum(1) + scale * cls


@pytest.mark.parametrize("settings", [gen.CODE, gen.PAPER], ids=["code", "paper"])
def test_fiducial_loss_is_the_papers_or_the_codes(settings):
    decoder, classifier = _mlp_decoder(6), _softmax_classifier(8)
    mf = tfpath.ModelFunction(classifier, target="entropy")
    rng = np.random.default_rng(8)
    x = rng.uniform(size=(3, D)).astype(np.float32)
    z = rng.normal(size=(3, M)).astype(np.float32)
    found = gen.counterfactual_fiducial(decoder, mf, x, z, settings=settings, warn=False)
    decoded = decoder(tf.constant(z)).numpy().astype(np.float64)
    probs = tf.nn.softmax(classifier(tf.constant(decoded, tf.float32))).numpy()
    c = tf.argmax(classifier(tf.constant(x)), axis=1).numpy()
    scale = 1e4 * D
    np.testing.assert_allclose(found.search.initial_loss,
                               _numpy_fiducial_loss(decoded, x, z, probs, c, settings, scale),
                               rtol=1e-4)
    assert np.all(found.class_kept) and np.all(found.class_idx == c)
    assert np.all(found.entropy < found.input_entropy)


def test_generative_ig_searches_and_reports(linear_setting):
    decoder, classifier = _mlp_decoder(7), _softmax_classifier(9, scale=4.0)
    mf = tfpath.ModelFunction(classifier, target="entropy")
    rng = np.random.default_rng(9)
    x = rng.uniform(size=(4, D)).astype(np.float32)
    encoder = lambda t: (t[:, :M] - 0.5, t[:, :M] * 0.0)  # noqa: E731  (mean, log-variance)
    d = tfpath.GenerativeIG().GetMaskBatchWithDetails(x, mf, encoder=encoder, decoder=decoder,
                                                      steps=64)
    fid = d.fiducial_search
    assert np.all(fid.class_kept) and np.all(d.fiducial_class_kept)
    np.testing.assert_allclose(d.start_value, fid.entropy, rtol=1e-3, atol=1e-6)
    np.testing.assert_allclose(d.fiducial, fid.fiducial, atol=1e-6)
    assert np.all(np.abs(d.completeness_gap) < 0.01 * np.abs(d.end_value - d.start_value))
    assert d.reconstruction_search.z.shape == (4, M)
    one = d.item(0)
    assert one.z_baseline.shape == (M,) and one.fiducial.shape == (D,)


def test_a_fiducial_that_stays_uncertain_warns_naming_the_inputs():
    decoder = _mlp_decoder(8)
    # a classifier that is uncertain everywhere the decoder reaches: constant logits
    mf = tfpath.ModelFunction(lambda t: tf.zeros([tf.shape(t)[0], 3]) + 0.0 * t[:, :3],
                              target="entropy", output="logits")
    x = np.random.default_rng(10).uniform(size=(2, D)).astype(np.float32)
    settings = dataclasses.replace(gen.CODE, max_steps=30)
    with pytest.warns(UserWarning, match=r"did not reach low entropy for 2 of 2 inputs "
                                         r"\(indices \[0, 1\]"):
        gen.counterfactual_fiducial(decoder, mf, x, np.zeros((2, M), np.float32),
                                    settings=settings)


def test_counterfactual_fiducial_as_a_baseline_of_ig():
    decoder, classifier = _mlp_decoder(9), _softmax_classifier(10, scale=4.0)
    mf = tfpath.ModelFunction(classifier, target="entropy")
    x = np.random.default_rng(11).uniform(size=(3, D)).astype(np.float32)
    encoder = lambda t: t[:, :M] - 0.5  # noqa: E731
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        baseline = gen.CounterfactualFiducial(encoder, decoder)
        d = tfpath.IntegratedGradients().GetMaskBatchWithDetails(
            x, mf, baselines=baseline, x_steps=128, integrator="trapezoid")
        fid = gen.counterfactual_fiducial(decoder, mf, x, encoder(x), warn=False)
    np.testing.assert_allclose(d.baseline_values[:, 0], fid.entropy, rtol=1e-3, atol=1e-6)
    np.testing.assert_allclose(d.mask.reshape(3, -1).sum(1), d.end_value - d.start_value,
                               atol=5e-3)


def test_repeated_calls_reuse_one_compiled_loop(linear_setting):
    s = linear_setting
    mf = tfpath.ModelFunction(lambda x: tf.reduce_sum(x * s["w"], axis=1), target="score")
    kw = dict(decoder=s["decoder"], z_baseline=s["z0"], z_input=s["z"], steps=3)
    tfpath.GenerativeIG().GetMaskBatch(s["x"], mf, **kw)
    from tfpath import engine
    cache = engine.ModelEvaluator(mf).cache
    size = len(cache)
    tfpath.GenerativeIG().GetMaskBatch(s["x"], mf, **kw)
    assert len(cache) == size


def test_decoder_nan_and_ignored_fiducial_class_are_errors(linear_setting):
    s = linear_setting
    nan_decoder = lambda z: tf.math.log(-tf.abs(z[:, :1])) + tf.zeros([1, D])  # noqa: E731
    with pytest.raises(ValueError, match="decoder: returns NaN"):
        tfpath.GenerativeIG().GetMaskBatch(s["x"], s["mf"], decoder=nan_decoder,
                                           z_baseline=s["z0"], z_input=s["z"])
    with pytest.raises(ValueError, match="fiducial_class"):
        tfpath.GenerativeIG().GetMaskBatch(s["x"], s["mf"], decoder=s["decoder"],
                                           z_baseline=s["z0"], z_input=s["z"], fiducial_class=1)
    with pytest.raises(ValueError, match="loss_fn: must return one loss per latent row"):
        gen.minimize_latent(lambda z, ctx: tf.reduce_sum(z), np.zeros((2, 3), np.float32))


def test_training_keeps_the_callers_numpy_and_python_random_state():
    import random
    np.random.seed(7)
    random.seed(7)
    expected = (np.random.rand(), random.random())
    np.random.seed(7)
    random.seed(7)
    vae = gen.mlp_vae((4,), latent_dim=2, hidden=(8,), seed=0)
    gen.train_vae(vae, np.random.default_rng(0).uniform(size=(16, 4)).astype(np.float32),
                  epochs=1, progress=False, seed=3)
    assert (np.random.rand(), random.random()) == expected


def test_smoothgrad_over_generative_ig_with_given_latents(linear_setting):
    s = linear_setting
    kw = dict(decoder=s["decoder"], z_baseline=s["z0"][0], z_input=s["z"][0], steps=3)
    # a linear target and decoder: every noisy copy has the attribution w ⊙ (x̃ - ψ(z0)), so
    # the SmoothGrad mean is w ⊙ (mean of x̃ - ψ(z0)); with zero noise it is the closed form
    one = tfpath.GenerativeIG().GetSmoothedMask(s["x"][0], s["mf"], stdev_spread=0.0,
                                                nsamples=3, magnitude=False, **kw)
    x0 = s["z0"][0] @ s["a"] + s["b"]
    np.testing.assert_allclose(one, s["w"] * (s["x"][0] - x0), atol=2e-5)
    batch = tfpath.NoiseTunnel(tfpath.GenerativeIG()).GetMaskBatch(
        s["x"], s["mf"], nsamples=2, stdev_spread=0.0, decoder=s["decoder"],
        z_baseline=s["z0"], z_input=s["z"], steps=3)
    np.testing.assert_allclose(batch, s["w"] * (s["x"] - s["z0"] @ s["a"] - s["b"]), atol=2e-5)
