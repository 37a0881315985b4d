"""The benchmark scripts measure what they claim: the same number of gradient evaluations as
the methods make, and memory that does not grow with the number of steps."""
import numpy as np

import tfpath

from benchmark_modules import load


def recorded_rows(method, x, model_function, args, **kwargs):
    """Rows the method sends to the model, through a recording PAIR call_model_function."""
    rows = []

    def recording(x_batch, call_model_args=None, expected_keys=None):
        rows.append(len(x_batch))
        return model_function(x_batch, call_model_args, expected_keys)

    method.GetMaskBatch(x, recording, args, **kwargs)
    return sum(rows)


def test_speed_benchmark_limits_count_the_methods_gradient_evaluations():
    speed = load("speed")
    out = speed.main(["--images", "2", "--steps", "4", "--lpi-references", "3", "--repeats", "1",
                      "--skip-pair-guided", "--chunks", "4", "8", "--min-seconds", "0"])
    counts = out["counts"]
    assert counts == {"IG / Guided IG": 8, "EG": 8, "LPI": 6}
    # the same numbers of gradient evaluations as tfpath's methods make on such a batch
    from tfpath.datasets import load_mnist_subset
    from tfpath.zoo import small_cnn
    split = load_mnist_subset()
    x, c = split.x_test[:2], {"class_idx": [int(v) for v in split.y_test[:2]]}
    mf = tfpath.ModelFunction(small_cnn((28, 28, 1), 10), target="logit")
    assert recorded_rows(tfpath.IntegratedGradients(), x, mf, c, x_steps=4) == 8
    assert recorded_rows(tfpath.GuidedIG(), x, mf, c, x_steps=4) == 8
    assert recorded_rows(tfpath.ExpectedGradients(), x, mf, c, references=split.x_train[:20],
                         nsamples=4) == 8
    distribution = tfpath.LocalDistribution.fit(mf.model, split.x_train[:200], 2, 3, seed=0)
    assert recorded_rows(tfpath.LPI(distribution), x, mf, c) == 6
    assert all(np.isfinite(r) and r > 0 for r in out["ratios"].values())
    assert set(out["paired"]) == set(out["ratios"])
    assert all(np.isfinite(r) and r > 0 for r in out["paired"].values())
    # each target is judged on its method's paired ratio
    assert set(out["targets"]) == set(speed.TARGETS)
    assert out["targets"]["LPI"] == (out["paired"]["tfpath LPI (m=3, k=1)"],
                                     out["paired"]["tfpath LPI (m=3, k=1)"] <= 1.2)
    assert {"tfpath IG", "tfpath EG (4 samples)", "tfpath LPI (m=3, k=1)",
            "tfpath IG² (1 reference)"} <= set(out["ratios"])


def test_memory_benchmark_peak_does_not_grow_with_steps():
    runs = load("memory").main(["--model", "tiny", "--size", "64", "--steps", "3000",
                                "--compare-steps", "10", "--batch-size", "16"])
    short, long = runs
    assert long["held_mb"] > 250                       # holding every point would show
    assert long["peak_rss_mb"] - short["peak_rss_mb"] < 0.2 * long["held_mb"], runs
    assert abs(long["convergence_delta"]) < abs(short["convergence_delta"]) + 1e-3


def test_diffid_table_ranks_informative_maps_above_random(tmp_path, monkeypatch):
    monkeypatch.setenv("TFPATH_CACHE", str(tmp_path / "cache"))
    out = load("diffid_table").main(["--images", "40", "--no-ablations"])
    rows = out["rows"]
    assert set(rows) == {"Random", "Gradient", "IG", "IG + IDGI", "EG", "EG + IDGI", "AGI",
                         "AGI + IDGI", "LPI", "LPI + IDGI"}
    assert out["accuracy"] > 0.9
    assert abs(rows["Random"]["DiffID"]) < 0.1                 # random maps: Ins ≈ Del
    for name, row in rows.items():
        if name != "Random":
            assert row["DiffID"] > rows["Random"]["DiffID"] + 0.2, name


def test_ig2_table_ranks_methods_above_random(tmp_path, monkeypatch):
    monkeypatch.setenv("TFPATH_CACHE", str(tmp_path / "cache"))
    out = load("ig2_table").main(["--steps", "8", "--images", "20", "--text-items", "20"])
    methods = {"Gradient", "IG", "Guided IG", "EG", "LPI", "IG²"}
    expected = {"Random"} | methods | {m + " + IDGI" for m in methods - {"Gradient"}}
    for section in ("tabular", "mnist", "text"):
        assert set(out[section]["rows"]) == expected, section
        assert out[section]["accuracy"] > 0.85, section
    tab, mnist, text = (out[s]["rows"] for s in ("tabular", "mnist", "text"))
    # exact Shapley values are known: path methods correlate with them, random maps do not
    assert abs(tab["Random"]["GT-Shapley"]) < 0.2
    for name in ("IG", "EG", "IG²"):
        assert tab[name]["GT-Shapley"] > 0.4, name
        assert mnist[name]["DiffID"] > mnist["Random"]["DiffID"] + 0.2, name
        assert text[name]["GT-AUC"] > 0.8, name          # the trigger tokens are found
    assert abs(text["Random"]["GT-AUC"] - 0.5) < 0.15


def test_generative_speed_benchmark_routes_agree():
    """The Jacobian-per-node route (the authors') and tfpath's forward-mode path compute the
    same attribution; the limit counts the same evaluations."""
    speed = load("generative_speed")
    out = speed.main(["--images", "2", "--steps", "4", "--repeats", "1", "--jacobian-images",
                      "1", "--chunks", "4", "8", "--latent-dim", "4"])
    assert out["agreement"] < 1e-4
    assert all(np.isfinite(v) and v > 0 for k, v in out.items() if k != "agreement")


def test_uncertainty_table_quick_run():
    table = load("uncertainty_table")
    out = table.main(["--quick", "--no-comparators", "--images", "4", "--xrai-images", "1"])
    names = [name for name, _ in out["rows"]]
    for expected in ("IG", "IG + (B+W)", "IG + Counterfactual", "Blur IG", "Guided IG",
                     "Guided IG + Counterfactual", "Generative IG", "Generative IG + IDGI",
                     "XRAI + Generative IG", "Random"):
        assert expected in names
    rows = dict(out["rows"])
    # IDGI rows are complete; every score is a finite number
    assert rows["Generative IG + IDGI"]["gap median"] < 1e-6
    assert all(np.isfinite(v) for row in rows.values() for v in row.values())


def test_clue_table_quick_run():
    out = load("clue_table").main(["--quick"])
    # (GLAM 2 / 3 rows exist when some training CLUE keeps the class)
    for name in ("input DBM", "latent DBM", "input NN", "latent NN", "GLAM 1 (certain data)",
                 "CLUE 1 (λx 0)", "CLUE 2 (λx 0.03)"):
        row = out["table"][name]
        assert 0.0 <= row["class_kept"] <= 1.0 and row["seconds_per_explanation"] > 0
        assert np.isfinite(row["uncertainty"]) and row["input_distance"] >= 0
    # δ-CLUE latents stay in their balls, so the spread of the sets grows with δ
    deltas = sorted(out["by_delta"])
    assert out["by_delta"][deltas[0]]["apd_z"] < out["by_delta"][deltas[-1]]["apd_z"]
    assert all(0.0 <= row["dpp_z"] <= 1.0 for row in out["by_delta"].values())


def test_dataset_scale_benchmark_counts_every_image_against_the_limit():
    bench = load("dataset_scale")
    out = bench.main(["--images", "24", "--shard-size", "8", "--steps", "4", "--repeats", "1",
                      "--chunks", "32", "--methods", "IG"])
    memory = out["rows"]["IG"]["memory"]
    assert [count for count, _ in memory] == [8, 16, 24]    # growing stages, all images
    assert out["limit_seconds"] > 0 and out["rows"]["IG"]["ratio"] > 0
