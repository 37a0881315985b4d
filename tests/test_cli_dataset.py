"""`tfpath explain-dataset` and `tfpath evaluate`: folders of images and a (mocked) TFDS split
into shards, resume and job arrays, the table, and errors naming the option."""
import json

import numpy as np
import pytest
from PIL import Image

import tfpath
from tfpath import cli, zoo
from tfpath.dataset import load_shards


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("cli_dataset")
    model = zoo.small_cnn((8, 8, 1), num_classes=3, width=4, seed=2)
    model.save(d / "m.keras")
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, (9, 10, 10), dtype=np.uint8)
    for i, image in enumerate(pixels):
        folder = d / "classes" / f"c{i % 3}"
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(image).save(folder / f"{i}.png")
        (d / "flat").mkdir(exist_ok=True)
        Image.fromarray(image).save(d / "flat" / f"{i}.png")
    return d, model


def _run(files, *extra, images="classes", out="out"):
    d, _ = files
    return cli.main(["explain-dataset", "--model", str(d / "m.keras"), "--images",
                     str(d / images), "--method", "ig", "--steps", "8", "--out", str(d / out),
                     "--shard-size", "4", "--no-progress", *extra])


def _expected(files, images):
    """The folder's images as the command converts them, and their sub-folder classes."""
    d, model = files
    paths = sorted((d / images).rglob("*.png"))
    x = np.stack([cli.load_image(p, (8, 8, 1))[0] for p in paths])
    labels = [int(p.parent.name[1:]) for p in paths] if images == "classes" else None
    return x, labels


def test_explain_dataset_then_evaluate(files, capsys, tmp_path):
    d, model = files
    assert _run(files, "--metrics", "insertion") == 0
    shards = load_shards(d / "out")
    x, labels = _expected(files, "classes")
    mf = tfpath.ModelFunction(model)
    direct = tfpath.IntegratedGradients().GetMaskBatch(x, mf, {"class_idx": labels}, x_steps=8)
    np.testing.assert_allclose(shards["masks"], direct, atol=1e-6)
    np.testing.assert_array_equal(shards["class_idx"], labels)       # classes by sub-folder
    assert len(list((d / "out").glob("shard-*.npz"))) == 3
    capsys.readouterr()
    csv = tmp_path / "table.csv"
    assert cli.main(["evaluate", str(d / "out"), "--metrics", "insertion,diffid", "--csv",
                     str(csv)]) == 0
    printed = capsys.readouterr().out
    insertion = tfpath.metrics.insertion(mf, x, direct, labels).value
    diffid = tfpath.metrics.diffid(mf, x, direct, labels).value   # from the model and images
    rows = {line.split(",")[1]: float(line.split(",")[2]) for line in
            csv.read_text().splitlines()[1:]}
    assert rows["insertion"] == pytest.approx(insertion, abs=1e-6)
    assert rows["diffid"] == pytest.approx(diffid, abs=1e-6)
    assert f"{insertion:.3f}" in printed


def test_resume_and_job_arrays(files, capsys):
    d, _ = files
    assert _run(files, "--shard", "1/2", images="flat", out="jobs") == 0
    assert sorted(json.loads((d / "jobs" / "index-1-of-2.json").read_text())["shards"]) == [
        "shard-00001.npz"]
    with pytest.raises(SystemExit):
        _run(files, "--shard", "0/2", images="flat", out="jobs")     # without --resume
    assert "pass --resume" in capsys.readouterr().err
    assert _run(files, "--shard", "0/2", "--resume", images="flat", out="jobs") == 0
    shards = load_shards(d / "jobs")
    np.testing.assert_array_equal(shards["index"], np.arange(9))
    x, _ = _expected(files, "flat")
    model = files[1]
    np.testing.assert_array_equal(shards["class_idx"], model.predict(x, verbose=0).argmax(1))


@pytest.mark.parametrize("extra, message", [
    (["--shard", "2/2"], "--shard: expected i/n with 0 <= i < n"),
    (["--shard", "x"], "--shard: expected i/n"),
    (["--metrics", "aic"], "--metrics: unknown metric 'aic'"),
    (["--shard-size", "0"], "--shard-size: expected an integer >= 1"),
    (["--resume", "--steps", "16"], "--out: "),             # another configuration
])
def test_errors_name_the_option(files, capsys, extra, message):
    d, _ = files
    if "--resume" in extra:
        _run(files, out="conf")
    capsys.readouterr()
    with pytest.raises(SystemExit) as e:
        _run(files, *extra, out="conf" if "--resume" in extra else "bad")
    err = capsys.readouterr().err.strip()
    assert e.value.code == 2 and len(err.splitlines()) == 1
    assert err.startswith(f"tfpath explain-dataset: error: {message}"), err
    with pytest.raises(SystemExit):
        _run(files, images="missing", out="none")
    assert "--images: " in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.main(["evaluate", str(d / "classes")])
    assert "evaluate: error: folders: " in capsys.readouterr().err


def test_the_commands_shard_metrics_are_the_librarys():
    from tfpath.cli import dataset as command
    assert command.SHARD_METRICS == tfpath.dataset.SHARD_METRICS


def test_tfds_split(files, tmp_path, capsys):
    tfds = pytest.importorskip("tensorflow_datasets")
    model = zoo.small_cnn((28, 28, 1), num_classes=10, width=4, seed=3)
    model.save(tmp_path / "mnist.keras")
    with tfds.testing.mock_data(num_examples=6):
        assert cli.main(["explain-dataset", "--model", str(tmp_path / "mnist.keras"), "--tfds",
                         "mnist", "--split", "test", "--method", "ig", "--steps", "4",
                         "--out", str(tmp_path / "out"), "--limit", "5", "--no-progress"]) == 0
        reference = tfds.load("mnist", split="test", as_supervised=True).take(5)
        images = np.stack([im.numpy() for im, _ in reference]).astype(np.float32) / 255.0
        labels = np.array([int(c) for _, c in reference])
    shards = load_shards(tmp_path / "out")
    np.testing.assert_array_equal(shards["class_idx"], labels)
    direct = tfpath.IntegratedGradients().GetMaskBatch(images, tfpath.ModelFunction(model),
                                                        {"class_idx": labels}, x_steps=4)
    np.testing.assert_allclose(shards["masks"], direct, atol=1e-6)
