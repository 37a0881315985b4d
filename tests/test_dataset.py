"""explain_dataset: sharded, resumable attribution of a tf.data.Dataset."""
import json

import numpy as np
import pytest
import tensorflow as tf

import tfpath
from tfpath.dataset import explain_dataset, load_shards


@pytest.fixture(scope="module")
def setup():
    model = tfpath.zoo.small_cnn((8, 8, 1), 3, width=4, seed=2)
    mf = tfpath.ModelFunction(model)
    x = np.random.default_rng(0).random((23, 8, 8, 1)).astype(np.float32)
    y = np.arange(23) % 3
    return mf, x, y


def test_shards_equal_one_batch_call(setup, tmp_path):
    mf, x, y = setup
    ds = tf.data.Dataset.from_tensor_slices((x, y))
    index = explain_dataset(tfpath.IntegratedGradients(), mf, ds, tmp_path, shard_size=5,
                            x_steps=8)
    assert index["images"] == 23 and len(index["shards"]) == 5          # 5+5+5+5+3
    got = load_shards(tmp_path)
    direct = tfpath.IntegratedGradients().GetMaskBatchWithDetails(x, mf, {"class_idx": y},
                                                                    x_steps=8)
    np.testing.assert_allclose(got["masks"], direct.mask, atol=1e-6)
    np.testing.assert_allclose(got["convergence_delta"], direct.convergence_delta, atol=1e-6)
    np.testing.assert_array_equal(got["index"], np.arange(23))
    np.testing.assert_array_equal(got["class_idx"], y)
    # images without classes: the predicted class is explained and recorded
    half = explain_dataset(tfpath.IntegratedGradients(), mf, tf.data.Dataset.from_tensor_slices(
        x), tmp_path / "plain", shard_size=8, x_steps=8, float16=True)
    plain = load_shards(tmp_path / "plain")
    assert plain["masks"].dtype == np.float16 and half["images"] == 23
    np.testing.assert_array_equal(plain["class_idx"], mf.model.predict(x, verbose=0).argmax(1))


def test_a_killed_run_resumes_and_equals_an_uninterrupted_one(setup, tmp_path):
    mf, x, y = setup
    fail_at = [12]                                   # element 12 is in shard 2 (of 5 each)

    def maybe_fail(i, image):
        if int(i) == fail_at[0]:
            raise RuntimeError("killed")
        return image

    def dataset():
        ds = tf.data.Dataset.from_tensor_slices((np.arange(23), x, y))
        return ds.map(lambda i, image, c: (tf.numpy_function(
            maybe_fail, [i, image], tf.float32), c))
    with pytest.raises(Exception, match="killed"):
        explain_dataset(tfpath.IntegratedGradients(), mf, dataset(), tmp_path / "run",
                        shard_size=5, x_steps=8)
    done = json.loads((tmp_path / "run" / "index.json").read_text())["shards"]
    assert sorted(done) == ["shard-00000.npz", "shard-00001.npz"]         # lost only shard 2
    before = {name: (tmp_path / "run" / name).stat().st_mtime_ns for name in done}
    fail_at[0] = -1
    explain_dataset(tfpath.IntegratedGradients(), mf, dataset(), tmp_path / "run",
                    shard_size=5, x_steps=8)
    assert all((tmp_path / "run" / n).stat().st_mtime_ns == t for n, t in before.items())
    explain_dataset(tfpath.IntegratedGradients(), mf, dataset(), tmp_path / "whole",
                    shard_size=5, x_steps=8)
    resumed, whole = load_shards(tmp_path / "run"), load_shards(tmp_path / "whole")
    assert set(resumed) == set(whole)
    for key in set(whole) - {"seconds"}:                 # (the time each shard took differs)
        np.testing.assert_array_equal(resumed[key], whole[key])


def test_job_arrays_split_the_shards(setup, tmp_path):
    mf, x, y = setup
    ds = tf.data.Dataset.from_tensor_slices((x, y))
    for job in range(3):
        explain_dataset(tfpath.IntegratedGradients(), mf, ds, tmp_path, shard_size=4,
                        shard=(job, 3), x_steps=8)
    listed = [json.loads((tmp_path / f"index-{j}-of-3.json").read_text())["shards"]
              for j in range(3)]
    assert sorted(listed[1]) == ["shard-00001.npz", "shard-00004.npz"]
    np.testing.assert_array_equal(load_shards(tmp_path)["index"], np.arange(23))


def test_bad_input_is_named(setup, tmp_path):
    mf, x, y = setup
    ds = tf.data.Dataset.from_tensor_slices((x, y))
    method = tfpath.IntegratedGradients()
    explain_dataset(method, mf, ds, tmp_path, shard_size=8, x_steps=8)
    with pytest.raises(ValueError, match="out: .* another configuration"):
        explain_dataset(method, mf, ds, tmp_path, shard_size=8, x_steps=16)
    for bad in ((3, 3), (-1, 2), (0, 0), "0/2"):
        with pytest.raises(ValueError, match="shard"):
            explain_dataset(method, mf, ds, tmp_path / "s", shard=bad, x_steps=8)
    with pytest.raises(TypeError, match="dataset"):
        explain_dataset(method, mf, x, tmp_path / "d")
    ragged = tf.data.Dataset.from_generator(
        lambda: (np.zeros(s, np.float32) for s in [(8, 8, 1)] * 4 + [(6, 6, 1)] * 4),
        output_signature=tf.TensorSpec([None, None, 1], tf.float32))
    with pytest.raises(ValueError, match="dataset: element 4 has shape"):
        explain_dataset(method, mf, ragged, tmp_path / "r", shard_size=4, x_steps=8)


def test_metric_scores_in_shards_equal_the_metric_on_all_images(setup, tmp_path):
    mf, x, y = setup
    ds = tf.data.Dataset.from_tensor_slices((x, y))
    explain_dataset(tfpath.IntegratedGradients(), mf, ds, tmp_path, shard_size=6, x_steps=8,
                    metrics=["insertion", "deletion"], metric_kwargs={"deletion": {
                        "fill": "blur"}})
    shards = load_shards(tmp_path)
    whole = tfpath.metrics.insertion(mf, x, shards["masks"], y)
    np.testing.assert_allclose(shards["metric.insertion"], whole.per_image, atol=1e-6)
    table = tfpath.evaluate_shards({"IG": tmp_path}, ["insertion", "deletion", "diffid"],
                                   model_function=mf, dataset=ds,
                                   metric_kwargs={"deletion": {"fill": "blur"}})
    assert table.value("IG", "insertion") == pytest.approx(whole.value, abs=1e-9)
    blurred = tfpath.metrics.deletion(mf, x, shards["masks"], y, fill="blur")
    assert table.value("IG", "deletion") == pytest.approx(blurred.value, abs=1e-9)
    # DiffID is not stored: computed from the stored maps and the dataset's images
    assert table.value("IG", "diffid") == pytest.approx(
        tfpath.metrics.diffid(mf, x, shards["masks"], y).value, abs=1e-9)
    # the stored deletion was blurred; asked with the default fill, it is recomputed
    plain = tfpath.evaluate_shards(tmp_path, ["deletion"], model_function=mf, dataset=ds)
    assert plain.value(tmp_path.name, "deletion") == pytest.approx(
        tfpath.metrics.deletion(mf, x, shards["masks"], y).value, abs=1e-9)
    with pytest.raises(ValueError, match="model_function: metric 'diffid' is not stored"):
        tfpath.evaluate_shards(tmp_path, ["diffid"])
    with pytest.raises(ValueError, match="metrics: 'aic' cannot be stored per shard"):
        explain_dataset(tfpath.IntegratedGradients(), mf, ds, tmp_path / "m", metrics=["aic"])


def test_strategy_and_shapes_are_checked(setup, tmp_path):
    mf, x, y = setup
    method = tfpath.IntegratedGradients()
    with pytest.raises(TypeError, match="strategy: expected a tf.distribute.Strategy"):
        explain_dataset(method, mf, tf.data.Dataset.from_tensor_slices(x), tmp_path,
                        strategy="mirrored")
    small = np.zeros((4, 6, 6, 1), np.float32)
    with pytest.raises(ValueError, match=r"dataset: elements have shape \(6, 6, 1\), the model "
                                         r"expects \(None, 8, 8, 1\)"):
        explain_dataset(method, mf, tf.data.Dataset.from_tensor_slices(small), tmp_path / "s")
    bad = x[:4].copy()
    bad[2, 0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="dataset: element 2 contains NaN"):
        explain_dataset(method, mf, tf.data.Dataset.from_tensor_slices(bad), tmp_path / "n")
    # the default strategy (one replica) writes what no strategy writes
    ds = tf.data.Dataset.from_tensor_slices((x[:7], y[:7]))
    explain_dataset(method, mf, ds, tmp_path / "a", shard_size=4, x_steps=8)
    explain_dataset(method, mf, ds, tmp_path / "b", shard_size=4, x_steps=8,
                    strategy=tf.distribute.OneDeviceStrategy("/cpu:0"))
    np.testing.assert_allclose(load_shards(tmp_path / "a")["masks"],
                               load_shards(tmp_path / "b")["masks"], atol=1e-7)


def test_uncertainty_targets_and_baseline_sets_stream_through(setup, tmp_path):
    mf, x, _ = setup
    entropy = tfpath.ModelFunction(mf.model, target="entropy")
    pool = np.random.default_rng(1).random((3, 8, 8, 1)).astype(np.float32)
    ds = tf.data.Dataset.from_tensor_slices(x[:9])
    explain_dataset(tfpath.IntegratedGradients(), entropy, ds, tmp_path, shard_size=4,
                    x_steps=8, baselines=pool, baseline_weights=[0.5, 0.3, 0.2])
    shards = load_shards(tmp_path)
    direct = tfpath.IntegratedGradients().GetMaskBatchWithDetails(
        x[:9], entropy, None, x_steps=8, baselines=pool, baseline_weights=[0.5, 0.3, 0.2])
    np.testing.assert_allclose(shards["masks"], direct.mask, atol=1e-6)
    np.testing.assert_allclose(shards["start_value"], direct.start_value, atol=1e-6)
    # the predicted class is recorded (a class-free target ignores it)
    np.testing.assert_array_equal(shards["class_idx"], mf.model.predict(x[:9], verbose=0)
                                  .argmax(1))
