"""The evaluation runner: table contents, formats, CSV, errors."""
import csv
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402

import tfpath  # noqa: E402
from tfpath import datasets, metrics  # noqa: E402
from tfpath.evaluation import evaluate  # noqa: E402


@pytest.fixture(scope="module")
def shapes_case():
    d = datasets.make_shapes(6, size=16, seed=0, dark_fraction=0.0)
    w = tf.constant(d.masks.mean(axis=0)[..., None].astype(np.float32) + 0.05)

    def two_class(v):
        s = tf.reduce_sum(v * w, axis=[1, 2, 3])
        return tf.stack([s - 10.0, tf.zeros_like(s)], axis=1) * 0.5

    mf = tfpath.ModelFunction(two_class, target="logit", output="logits")
    return d, mf


def test_runner_table_matches_direct_metrics(shapes_case, tmp_path):
    d, mf = shapes_case
    rng = np.random.default_rng(0)

    def random_method(images, class_idx):
        return rng.random(images.shape).astype(np.float32)

    table = evaluate(mf, d.images, 0,
                     {"IG": (tfpath.IntegratedGradients(), {"x_steps": 8}),
                      "random": random_method},
                     metrics=["insertion", "deletion", "pointing_game"],
                     metric_kwargs={"insertion": {"steps": 10}}, masks=d.masks, batch_size=4,
                     progress=False, csv_path=tmp_path / "t.csv")
    ig = tfpath.IntegratedGradients().GetMaskBatch(d.images, mf, {"class_idx": 0}, x_steps=8)
    direct = metrics.insertion(mf, d.images, ig, 0, steps=10)
    assert table.value("IG", "insertion") == pytest.approx(direct.value, rel=1e-5)
    assert table.value("IG", "insertion") > table.value("random", "insertion")
    assert table.value("IG", "deletion") < table.value("random", "deletion")
    r = table.results["IG"]["insertion"]
    assert r.standard_error == pytest.approx(np.std(r.per_image, ddof=1) / np.sqrt(6))
    text, md = table.to_text(), table.to_markdown()
    assert "insertion ↑" in text and "deletion ↓" in text and "±" in text
    assert md.startswith("| method |") and md.count("\n") == 3
    rows = list(csv.DictReader(open(tmp_path / "t.csv")))
    assert len(rows) == 6 and {r["method"] for r in rows} == {"IG", "random"}
    ins = [r for r in rows if r["method"] == "IG" and r["metric"] == "insertion"][0]
    assert float(ins["value"]) == pytest.approx(direct.value, rel=1e-5)


def test_runner_progress_and_errors(shapes_case, capsys):
    d, mf = shapes_case
    evaluate(mf, d.images[:2], 0, {"grad": tfpath.GradientSaliency()}, ["deletion"],
             progress=True)
    assert "evaluate" in capsys.readouterr().err
    with pytest.raises(ValueError, match="metrics"):
        evaluate(mf, d.images, 0, {"grad": tfpath.GradientSaliency()}, ["accuracy"])
    with pytest.raises(ValueError, match="masks"):
        evaluate(mf, d.images, 0, {"grad": tfpath.GradientSaliency()}, ["pointing_game"],
                 progress=False)
    with pytest.raises(TypeError, match="methods"):
        evaluate(mf, d.images, 0, {"bad": 3}, ["deletion"])
    with pytest.raises(ValueError, match="images.*empty"):
        evaluate(mf, d.images[:0], 0, {"grad": tfpath.GradientSaliency()}, ["deletion"])


def test_uncertainty_metrics_share_one_removal_pass(monkeypatch):
    """eic, urc@1% and urc@5% come from one uncertainty_curves pass per method (not three), and
    the table is identical to the direct calls, also when one metric has its own keywords."""
    rng = np.random.default_rng(0)
    x = rng.random((3, 10, 10, 1)).astype(np.float32)
    v = rng.normal(size=(100,))

    def H(images):
        s = np.asarray(images, np.float64).reshape(len(images), -1) @ v * 0.3
        return np.logaddexp(0.0, s) + 0.1

    attr = rng.normal(size=x.shape).astype(np.float32)
    methods = {"a": lambda im, c: attr, "b": lambda im, c: -attr}
    calls = []
    real = metrics.uncertainty_curves
    monkeypatch.setattr(metrics, "uncertainty_curves",
                        lambda *a, **k: calls.append(k) or real(*a, **k))
    names = ["eic", "urc@1%", "urc@5%"]
    table = evaluate(H, x, None, methods, names, metric_kwargs={n: {"steps": 20} for n in names},
                     progress=False)
    assert len(calls) == 2                                   # one pass per method
    for name, sign in (("a", 1), ("b", -1)):
        direct = real(H, x, sign * attr, steps=20)
        for m in names:
            r = table.results[name][m]
            assert r.value == direct[m].value
            np.testing.assert_array_equal(r.per_image, direct[m].per_image)
            assert r.standard_error == direct[m].standard_error
            assert table.metric_seconds[name][m] >= 0
    calls.clear()
    table = evaluate(H, x, None, {"a": methods["a"]}, names,
                     metric_kwargs={"eic": {"steps": 10}}, progress=False)
    assert len(calls) == 2                                   # eic's own keywords: its own pass
    assert table.value("a", "eic") == real(H, x, attr, steps=10)["eic"].value
    assert table.value("a", "urc@5%") == real(H, x, attr)["urc@5%"].value
