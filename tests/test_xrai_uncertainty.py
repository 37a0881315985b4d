"""tfpath.xrai: PAIR's XRAI on a given attribution, and the uncertainty (lowest-mean-first)
variant of Perez et al., UAI 2022 §5, checked against an independent greedy."""
import numpy as np
import pytest

from tfpath.xrai import felzenszwalb_segments, xrai


def greedy_lowest_first(attr, masks, min_pixels):
    """Independent implementation of the authors' loop: repeatedly add the mask whose not yet
    covered pixels have the lowest mean attribution (strict <, first wins ties); masks adding
    fewer than ``min_pixels`` new pixels are dropped; newly covered pixels get that mean;
    never covered pixels get their own mean. Returns (values, order of added masks, covered)."""
    values = np.full(attr.shape, np.nan)
    covered = np.zeros(attr.shape, bool)
    remaining = list(range(len(masks)))
    order = []
    while covered.mean() <= 1.0:
        remaining = [k for k in remaining if (masks[k] & ~covered).sum() >= min_pixels]
        if not remaining:
            break
        gains = [attr[masks[k] & ~covered].mean() for k in remaining]
        best = remaining[int(np.argmin(gains))]          # argmin: first of equal minima
        new = masks[best] & ~covered
        values[new] = attr[new].mean()
        covered |= masks[best]
        order.append(best)
        remaining.remove(best)
    if np.isnan(values).any():
        values[np.isnan(values)] = attr[np.isnan(values)].mean()
    return values, order, covered


def random_masks(rng, shape, count):
    """Overlapping rectangles plus a few random blobs."""
    h, w = shape
    masks = []
    for _ in range(count):
        r0, c0 = rng.integers(0, h - 2), rng.integers(0, w - 2)
        r1, c1 = rng.integers(r0 + 2, h + 1), rng.integers(c0 + 2, w + 1)
        m = np.zeros(shape, bool)
        m[r0:r1, c0:c1] = True
        masks.append(m)
    masks += [rng.random(shape) < 0.3 for _ in range(3)]
    return masks


@pytest.mark.parametrize("seed, ties", [(0, False), (1, False), (2, False), (3, True),
                                         (4, True)])
def test_negative_variant_equals_an_independent_lowest_mean_first_greedy(seed, ties):
    rng = np.random.default_rng(seed)
    h, w = 12, 10
    image = rng.random((h, w, 3))
    # ties: a constant attribution per 2×2 cell, so many segments have equal means
    attr = (np.kron(rng.integers(-1, 2, (h // 2, w // 2)), np.ones((2, 2))) if ties
            else rng.normal(size=(h, w)))
    masks = random_masks(rng, (h, w), 12)
    min_new_area = 0.05                                   # 6 of 120 pixels
    values, ranks = xrai(image, attr, prefer="negative", segments=masks,
                         min_new_area=min_new_area, return_ranks=True)
    expected, order, covered = greedy_lowest_first(attr, masks, min_new_area * h * w)
    np.testing.assert_allclose(values, expected, rtol=0, atol=1e-12)
    assert len(order) >= 3                                # a real multi-step greedy
    # rank 1 = the region of the lowest value; the chosen regions' ranks follow their values,
    # the never covered rest (if any) comes last
    n_chosen = ranks.max() - (0 if covered.all() else 1)
    assert n_chosen == len(order)
    region_values = [values[ranks == r][0] for r in range(1, n_chosen + 1)]
    assert np.all(np.diff(region_values) >= 0)
    if not covered.all():
        np.testing.assert_array_equal(ranks == ranks.max(), ~covered)
    # "positive" on -attr is the same greedy (the negation argument, seen from the other side)
    np.testing.assert_allclose(-xrai(image, -attr, segments=masks, min_new_area=min_new_area),
                               values, rtol=0, atol=1e-12)


def test_negative_and_positive_variants_differ_and_pick_the_lowest_or_highest_region_first():
    image = np.random.default_rng(0).random((6, 6, 1))
    attr = np.zeros((6, 6))
    attr[:3, :3] = -2.0                                   # the uncertainty-reducing block
    attr[3:, 3:] = 5.0                                    # the uncertainty-raising block
    quads = [np.zeros((6, 6), bool) for _ in range(4)]
    quads[0][:3, :3] = quads[1][:3, 3:] = quads[2][3:, :3] = quads[3][3:, 3:] = True
    neg, neg_ranks = xrai(image, attr, prefer="negative", segments=quads, return_ranks=True)
    pos, pos_ranks = xrai(image, attr, prefer="positive", segments=quads, return_ranks=True)
    np.testing.assert_array_equal(neg, attr)              # disjoint segments keep their means
    np.testing.assert_array_equal(pos, attr)
    assert np.all(neg_ranks[:3, :3] == 1) and np.all(pos_ranks[3:, 3:] == 1)


def test_output_shape_single_batch_and_channel_attributions_are_summed():
    rng = np.random.default_rng(3)
    images = rng.random((2, 9, 7, 3))
    attr = rng.normal(size=(2, 9, 7, 3))
    labels = np.repeat(np.arange(7)[None] // 3, 9, axis=0)   # 3 vertical bands
    out = xrai(images, attr, segments=labels)
    assert out.shape == (2, 9, 7) and out.dtype == np.float64
    one = xrai(images[1], attr[1], segments=labels)
    assert one.shape == (9, 7)
    np.testing.assert_array_equal(out[1], one)
    # channels are summed (signed), not PAIR's max
    np.testing.assert_allclose(one, xrai(images[1], attr[1].sum(-1), segments=labels))
    band = attr[1].sum(-1)[:, labels[0] == 0].mean()
    np.testing.assert_allclose(one[:, 0], band)
    # per-image segmentations for a batch: label map for one image, mask stack for the other
    rows = np.repeat(np.arange(9)[:, None] // 3, 7, axis=1)
    masks = np.stack([rows == k for k in range(3)])
    per = xrai(images, attr, segments=[labels, masks])
    np.testing.assert_array_equal(per[0], out[0])
    np.testing.assert_array_equal(per[1], xrai(images[1], attr[1], segments=rows))


def test_pair_segmentation_is_used_and_the_model_function_is_never_called():
    # segments=None goes through PAIR's XRAI with its own Felzenszwalb segmentation and a model
    # function that raises if called: a finished run proves base_attribution short-cuts IG.
    rng = np.random.default_rng(4)
    image = np.zeros((28, 28, 1))
    image[6:22, 10:18] = 1.0
    image += 0.05 * rng.random(image.shape)
    attr = rng.normal(size=(28, 28))
    out = xrai(image, attr, prefer="negative")
    assert out.shape == (28, 28) and np.all(np.isfinite(out))
    assert len(np.unique(out)) > 2
    # the exposed segmentation reproduces PAIR's built-in one
    np.testing.assert_array_equal(
        out, xrai(image, attr, prefer="negative", segments=felzenszwalb_segments(image)))


def test_constant_attribution_gives_a_constant_map():
    rng = np.random.default_rng(5)
    image = rng.random((8, 8, 3))
    masks = random_masks(rng, (8, 8), 6)
    for prefer in ("positive", "negative"):
        np.testing.assert_allclose(xrai(image, np.full((8, 8), 0.7), prefer=prefer,
                                        segments=masks), 0.7)
    np.testing.assert_allclose(xrai(image, np.full((8, 8), -1.5), prefer="negative"), -1.5)


@pytest.mark.parametrize("kwargs, argument", [
    (dict(image=np.zeros((4, 4))), "image"),
    (dict(image=np.full((4, 4, 1), np.nan)), "image"),
    (dict(attribution=np.zeros((4, 5))), "attribution"),
    (dict(attribution=np.full((4, 4), np.inf)), "attribution"),
    (dict(attribution=np.zeros((4, 4, 2))), "attribution"),
    (dict(prefer="lowest"), "prefer"),
    (dict(min_new_area=0.0), "min_new_area"),
    (dict(segments=np.zeros((3, 4), int)), "segments"),
    (dict(segments=np.full((4, 4), 0.5)), "segments"),
    (dict(segments=np.full((2, 4, 4), 2)), "segments"),
    (dict(segments=[]), "segments"),
    (dict(algorithm="slow"), "algorithm"),
    (dict(return_xrai_segments=True), "return_xrai_segments"),
])
def test_errors_name_the_argument(kwargs, argument):
    args = dict(image=np.random.default_rng(0).random((4, 4, 1)),
                attribution=np.zeros((4, 4)), segments=np.zeros((4, 4), int))
    args.update(kwargs)
    image, attribution = args.pop("image"), args.pop("attribution")
    with pytest.raises(ValueError, match=argument):
        xrai(image, attribution, **args)


def test_constant_image_without_segments_is_refused_and_batch_errors_name_the_image():
    with pytest.raises(ValueError, match="image"):
        xrai(np.ones((8, 8, 1)), np.zeros((8, 8)))
    images = np.random.default_rng(0).random((2, 8, 8, 1))
    images[1] = 0.3
    with pytest.raises(ValueError, match=r"image\[1\]"):
        xrai(images, np.zeros((2, 8, 8)))
    with pytest.raises(ValueError, match="segments"):
        xrai(images, np.zeros((2, 8, 8)), segments=[np.zeros((8, 8), int)] * 3)
