"""benchmarks/entropy_comparators.py: LIME and the authors' Lasso "KernelSHAP" of an
uncertainty (Perez et al., UAI 2022 §5), and exact Kernel SHAP through shap.KernelExplainer, on
analytic uncertainty functions driven by one 2×2 patch."""
import numpy as np
import pytest

from benchmark_modules import load

ec = load("entropy_comparators")
PATCH = (slice(3, 5), slice(3, 5))


def patch_image(size=8, seed=0, channels=1):
    """Dark noisy image with a bright 2×2 patch at rows/cols 3-4 (its own quickshift
    superpixel)."""
    x = 0.1 * np.random.default_rng(seed).random((size, size, channels))
    x[PATCH] = 0.9
    return x


def patch_mean(images):
    """The 'uncertainty' is the mean of the patch: nothing else matters."""
    return images[:, PATCH[0], PATCH[1], :].mean(axis=(1, 2, 3))


def patch_entropy(images):
    """A smooth, entropy-like function of the patch: the binary entropy of
    sigmoid(6 (mean − 0.2)): 0.08 nats with the bright patch, 0.54 with it black."""
    p = 1.0 / (1.0 + np.exp(-6.0 * (patch_mean(images) - 0.2)))
    return -(p * np.log(p) + (1 - p) * np.log(1 - p))


def outside_patch():
    out = np.ones((8, 8), bool)
    out[PATCH] = False
    return out


def assert_patch_drives(attribution, superpixels=None):
    a = np.abs(attribution)
    out = outside_patch()
    if superpixels is not None:                     # pixels sharing a superpixel with the patch
        out &= ~np.isin(superpixels, np.unique(superpixels[PATCH]))
    assert np.unravel_index(np.argmax(a), a.shape) in {(r, c) for r in (3, 4) for c in (3, 4)}
    assert a[PATCH].min() > 0.05
    assert a[out].max() < 1e-3 * a.max()


# LIME ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("fn, sign", [(patch_mean, 1.0), (patch_entropy, -1.0)])
def test_lime_puts_the_attribution_on_the_driving_patch(fn, sign):
    x = patch_image()
    a, details = ec.lime_entropy(fn, x, seed=0, return_details=True)
    labels = details["superpixels"]
    assert a.shape == (8, 8) and a.dtype == np.float64
    assert np.all(labels[PATCH] == labels[3, 3]) and np.sum(labels == labels[3, 3]) == 4
    assert_patch_drives(a)
    assert np.all(sign * a[PATCH] > 0)   # present bright patch: raises the mean, lowers entropy
    s = labels.max() + 1
    assert details["perturbations"].shape == (int((10 * s + 100) / 2), s)
    assert 0.7 < details["perturbations"].mean() < 0.9              # Bernoulli(0.8)
    if fn is patch_mean:                    # dropping the patch superpixel costs 0.9 exactly
        np.testing.assert_allclose(a[PATCH], 0.9, rtol=0.02)


def test_lime_perturbs_with_black_and_calls_in_batches():
    x = patch_image(seed=1)
    seen = []

    def recording(images):
        seen.append(images.copy())
        return patch_mean(images)

    a, details = ec.lime_entropy(recording, x, seed=3, batch_size=16, return_details=True)
    assert max(len(b) for b in seen) <= 16 and len(seen) > 1
    images = np.concatenate(seen)
    z = details["perturbations"]
    keep = z[:, details["superpixels"]][..., None]
    np.testing.assert_array_equal(images, x[None] * keep)          # dropped -> 0 (black)
    kept = z.sum(1)                 # cosine distance to all-ones: 1 − √(kept / S); 1 if none
    distance = np.where(kept > 0, 1 - np.sqrt(kept / z.shape[1]), 1.0)
    np.testing.assert_allclose(details["weights"], np.exp(-distance), rtol=1e-12)


def test_lime_regression_is_limes_own_with_the_authors_kernel_and_lasso():
    lime_base = pytest.importorskip("lime.lime_base")
    from sklearn.linear_model import LassoCV
    from sklearn.metrics import pairwise_distances

    x = patch_image(size=8, seed=2)
    a, d = ec.lime_entropy(patch_entropy, x, seed=5, return_details=True)
    z, y = d["perturbations"], d["responses"]
    distances = pairwise_distances(z, np.ones((1, z.shape[1])), metric="cosine").ravel()
    base = lime_base.LimeBase(kernel_fn=lambda dist: np.exp(-dist))
    _, weights, _, _ = base.explain_instance_with_data(
        z, y[:, None], distances, 0, z.shape[1], feature_selection="none",
        model_regressor=LassoCV(cv=5))
    coef = np.zeros(z.shape[1])
    for feature, weight in weights:
        coef[feature] = weight
    np.testing.assert_allclose(d["coefficients"], coef, rtol=1e-10, atol=1e-12)


def test_lime_seeds_reproduce():
    x = patch_image(seed=4)
    one = ec.lime_entropy(patch_entropy, x, seed=7, return_details=True)
    two = ec.lime_entropy(patch_entropy, x, seed=7, return_details=True)
    other = ec.lime_entropy(patch_entropy, x, seed=8, return_details=True)
    np.testing.assert_array_equal(one[0], two[0])
    np.testing.assert_array_equal(one[1]["perturbations"], two[1]["perturbations"])
    assert not np.array_equal(one[1]["perturbations"], other[1]["perturbations"])


# the authors' Lasso "KernelSHAP" -------------------------------------------------------------

@pytest.mark.parametrize("fn, sign", [(patch_mean, 1.0), (patch_entropy, -1.0)])
def test_lasso_shap_puts_the_attribution_on_the_driving_patch(fn, sign):
    x = patch_image()
    background = np.random.default_rng(1).random((6, 8, 8, 1)) * 0.2   # darker patch there
    a, d = ec.kernel_shap_entropy(fn, x, background, seed=0, return_details=True)
    assert a.shape == (8, 8)
    n = 3 * 8 ** 2 + 2 ** 11
    assert d["mask"].shape == (n, 8, 8)
    # int(0.05 · 64) = 3 positions drawn with replacement: 1-3 pixels replaced each time
    replaced = (d["mask"] == 0).reshape(n, -1).sum(1)
    assert replaced.min() >= 1 and replaced.max() == 3
    assert_patch_drives(a)
    assert np.all(sign * a[PATCH] > 0)


def test_lasso_shap_seeds_reproduce():
    x = patch_image(seed=2)
    background = np.random.default_rng(2).random((4, 8, 8, 1))
    one = ec.kernel_shap_entropy(patch_mean, x, background, seed=11, num_samples=600)
    two = ec.kernel_shap_entropy(patch_mean, x, background, seed=11, num_samples=600)
    other = ec.kernel_shap_entropy(patch_mean, x, background, seed=12, num_samples=600)
    np.testing.assert_array_equal(one, two)
    assert not np.array_equal(one, other)


def test_counterfactual_option_replaces_with_the_counterfactual_not_the_background():
    x = patch_image()
    counterfactual = np.full_like(x, 0.5)
    counterfactual[PATCH] = 0.1
    # background images agree with x on the patch: replacing by them changes nothing there,
    # so an implementation that used the background would give ~0 on the patch.
    background = np.random.default_rng(3).random((5, 8, 8, 1))
    background[:, PATCH[0], PATCH[1], :] = x[PATCH]
    seen = []

    def recording(images):
        seen.append(images.copy())
        return patch_mean(images)

    with_bg = ec.kernel_shap_entropy(patch_mean, x, background, seed=0)
    np.testing.assert_allclose(with_bg, 0.0, atol=1e-12)
    a, d = ec.kernel_shap_entropy(recording, x, counterfactual=counterfactual, seed=0,
                                  return_details=True)
    # the response is exactly linear in the mask: coefficient (x − c) / 4 = 0.2 on the patch
    np.testing.assert_allclose(a[PATCH], (0.9 - 0.1) / 4, rtol=0.02)
    np.testing.assert_allclose(a[outside_patch()], 0.0, atol=1e-6)
    images = np.concatenate(seen)
    replaced = d["mask"] == 0
    np.testing.assert_array_equal(images[replaced], np.broadcast_to(
        counterfactual[None], images.shape)[replaced])
    np.testing.assert_array_equal(images[~replaced], np.broadcast_to(x[None],
                                                                     images.shape)[~replaced])
    with pytest.raises(ValueError, match="background, counterfactual"):
        ec.kernel_shap_entropy(patch_mean, x, background, counterfactual=counterfactual, seed=0)


def test_lasso_reproduces_the_old_normalize_true_aic_fit():
    """Against a from-scratch version of scikit-learn <= 1.0's LassoLarsIC(normalize=True):
    the public lars_path on centred, L2-normalised columns, criterion n·MSE/var(y) + 2 df."""
    from sklearn.linear_model import lars_path

    rng = np.random.default_rng(0)
    mask = (rng.random((400, 12)) > 0.2).astype(float)
    mask[:, 5] = 1.0                                      # never replaced: zero norm -> 0
    y = mask[:, :4] @ np.array([1.0, -2.0, 0.5, 0.0]) + 0.05 * rng.normal(size=400)
    coef, _, _ = ec._lasso_lars_aic_normalized(mask, y, "response")
    xc = mask - mask.mean(0)
    norms = np.linalg.norm(xc, axis=0)
    used = norms > 0
    xn = xc[:, used] / norms[used]
    yc = y - y.mean()
    _, _, path = lars_path(xn, yc, method="lasso", alpha_min=0.0, max_iter=500)
    mse = np.mean((yc[:, None] - xn @ path) ** 2, axis=0)
    df = np.sum(np.abs(path) > np.finfo(float).eps, axis=0)
    best = np.argmin(len(y) * mse / (np.var(yc) + np.finfo(float).eps) + 2 * df)
    expected = np.zeros(12)
    expected[used] = path[:, best] / norms[used]
    np.testing.assert_allclose(coef, expected, rtol=1e-10, atol=1e-12)
    assert coef[5] == 0.0


# exact Kernel SHAP with shap.KernelExplainer -------------------------------------------------

def test_shap_kernel_explainer_gives_exact_shapley_values_without_touching_the_global_rng():
    pytest.importorskip("shap")
    x = patch_image()
    background = np.random.default_rng(4).random((3, 8, 8, 1))
    features = ec.grid_features(x.shape, (4, 4))          # the patch spans 4 blocks of 2×2
    state = np.random.get_state()
    a, d = ec.shap_kernel_entropy(patch_mean, x, background, features=features,
                                  max_features=16, return_details=True)
    after = np.random.get_state()
    assert state[0] == after[0] and np.array_equal(state[1], after[1]) and state[2:] == after[2:]
    # linear value function: a block's Shapley value is Σ over its patch pixels of
    # (x − mean background) / 4, the same on every pixel of the block
    effect = np.zeros((8, 8))
    effect[PATCH] = (x[PATCH][..., 0] - background[:, PATCH[0], PATCH[1], 0].mean(0)) / 4
    np.testing.assert_allclose(a, _block_sum(effect, features), atol=1e-10)
    assert np.count_nonzero(np.abs(d["shapley_values"]) > 1e-10) == 4
    # efficiency: Σφ = v(x) − E_b v(b)
    assert np.isclose(d["shapley_values"].sum(),
                      patch_mean(x[None])[0] - patch_mean(background).mean(), atol=1e-10)
    cf = np.zeros_like(x)
    phi_cf = ec.shap_kernel_entropy(patch_mean, x, counterfactual=cf, features=features,
                                    max_features=16, return_details=True)[1]["shapley_values"]
    assert np.isclose(phi_cf.sum(), patch_mean(x[None])[0], atol=1e-10)


def _block_sum(pixel_values, features):
    """Each pixel gets the sum of pixel_values over its block."""
    sums = np.bincount(features.ravel(), weights=pixel_values.ravel())
    return sums[features]


def test_shap_kernel_refuses_more_groups_than_it_can_enumerate():
    pytest.importorskip("shap")
    x = patch_image()
    with pytest.raises(ValueError, match="max_features"):
        ec.shap_kernel_entropy(patch_mean, x, np.zeros((1, 8, 8, 1)),
                               features=ec.grid_features(x.shape, (4, 4)))


# validation -----------------------------------------------------------------------------------

@pytest.mark.parametrize("call, argument", [
    (lambda x: ec.lime_entropy(patch_mean, x[..., 0], seed=0), "image"),
    (lambda x: ec.lime_entropy(patch_mean, np.where(x > 0.5, np.nan, x), seed=0), "image"),
    (lambda x: ec.lime_entropy(patch_mean, x, seed=-1), "seed"),
    (lambda x: ec.lime_entropy(patch_mean, x, seed=0, num_samples=2), "num_samples"),
    (lambda x: ec.lime_entropy(patch_mean, x, seed=0, keep_probability=1.0), "keep_probability"),
    (lambda x: ec.lime_entropy(patch_mean, x, seed=0, max_dist=0), "max_dist"),
    (lambda x: ec.lime_entropy(patch_mean, x, seed=0, superpixels=np.zeros((8, 7), int)),
     "superpixels"),
    (lambda x: ec.lime_entropy(lambda im: np.zeros((len(im), 2)), x, seed=0), "uncertainty_fn"),
    (lambda x: ec.lime_entropy(lambda im: np.full(len(im), np.nan), x, seed=0),
     "uncertainty_fn"),
    (lambda x: ec.kernel_shap_entropy(patch_mean, x, seed=0), "background"),
    (lambda x: ec.kernel_shap_entropy(patch_mean, x, np.zeros((2, 8, 8, 3)), seed=0),
     "background"),
    (lambda x: ec.kernel_shap_entropy(patch_mean, x, counterfactual=np.zeros((8, 8)), seed=0),
     "counterfactual"),
    (lambda x: ec.kernel_shap_entropy(patch_mean, x, x, seed=0, fraction=0.01), "fraction"),
    (lambda x: ec.kernel_shap_entropy(patch_mean, x, x, seed=0, aic_variance="bic"),
     "aic_variance"),
    (lambda x: ec.kernel_shap_entropy(patch_mean, x, x, seed=0, num_samples=50,
                                      aic_variance="ols"), "num_samples"),
    (lambda x: ec.kernel_shap_entropy(patch_mean, x, x, seed=1.5), "seed"),
])
def test_errors_name_the_argument(call, argument):
    with pytest.raises(ValueError, match=argument):
        call(patch_image())
