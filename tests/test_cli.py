"""The `tfpath` command: explain on a tiny saved model and PNG, its errors, and the quick demo."""
import json
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from tfpath import cli, zoo


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("cli")
    model = zoo.small_cnn((12, 12, 1), num_classes=4, width=4)
    model.save(d / "tiny.keras")
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (30, 20, 3), dtype=np.uint8)).save(d / "img.png")
    return d


def _explain(files, *extra, out="heat.png"):
    return ["explain", "--model", str(files / "tiny.keras"), "--image", str(files / "img.png"),
            "--out", str(files / out), *extra]


@pytest.mark.parametrize("method, extra", [("ig", []), ("blur-ig", ["--idgi"]),
                                           ("guided-ig", ["--class", "2", "--signed"])])
def test_explain_writes_heatmap_of_image_size(files, capsys, method, extra):
    out = f"heat_{method}.png"
    assert cli.main(_explain(files, "--method", method, "--steps", "8", *extra, out=out)) == 0
    printed = capsys.readouterr().out
    assert "class:" in printed and "convergence delta:" in printed and "time:" in printed
    img = Image.open(files / out)
    assert img.size == (20, 30) and img.mode == "RGB"       # the input image's size
    if "--idgi" in extra:
        delta = float(printed.split("convergence delta:")[1].split()[0])
        assert abs(delta) < 1e-4


def test_explain_overlay_probability_and_mask(files, capsys):
    cli.main(_explain(files, "--method", "ig", "--steps", "4", "--overlay", "--target",
                      "probability", "--save-mask", str(files / "m.npy"), out="ov.png"))
    assert "target: probability" in capsys.readouterr().out
    assert np.load(files / "m.npy").shape == (12, 12, 1)
    assert Image.open(files / "ov.png").size == (20, 30)


@pytest.mark.parametrize("change, argument", [
    ({"--model": "missing.keras"}, "--model"),
    ({"--image": "missing.png"}, "--image"),
    ({"--image": "tiny.keras"}, "--image"),
    ({"--method": "lime"}, "--method"),
    ({"--class": "4"}, "--class"),
    ({"--class": "-1"}, "--class"),
    ({"--steps": "0"}, "--steps"),
    ({"--out": "heat.jpg"}, "--out"),
    ({"--input-range": "1,0"}, "--input-range"),
])
def test_explain_errors_are_one_line_naming_the_argument(files, capsys, change, argument):
    args = {"--model": "tiny.keras", "--image": "img.png", "--method": "ig", "--out": "e.png",
            "--steps": "2"}
    args.update(change)
    argv = ["explain"]
    for k, v in args.items():
        argv += [k, v if k in ("--method", "--class", "--steps", "--input-range")
                 else str(files / v)]
    with pytest.raises(SystemExit) as exc:
        cli.main(argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and argument in err and "Traceback" not in err


def test_explain_wrong_channels_model(tmp_path, files, capsys):
    zoo.small_cnn((8, 8, 2), num_classes=3, width=2).save(tmp_path / "two.keras")
    with pytest.raises(SystemExit):
        cli.main(["explain", "--model", str(tmp_path / "two.keras"), "--image",
                  str(files / "img.png"), "--method", "ig", "--out", str(tmp_path / "h.png")])
    assert "--model" in capsys.readouterr().err


def test_entry_point_exits_nonzero_without_traceback(files):
    proc = subprocess.run([sys.executable, "-m", "tfpath.cli", *_explain(files, "--method", "ig",
                                                                         "--class", "9")],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    # one line: no TensorFlow start-up lines, no progress line (stderr is not a terminal)
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert proc.stderr.startswith("tfpath explain: error: --class:")


def test_demo_quick(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("TFPATH_CACHE", str(tmp_path / "cache"))
    assert cli.main(["demo", "--quick", "--out", str(tmp_path / "out")]) == 0
    captured = capsys.readouterr()
    printed = captured.out
    assert "[demo] 15/15 IG² + IDGI" in captured.err              # progress on stderr
    for name in ("Gradient", "IG + IDGI", "Blur IG", "Guided IG + IDGI", "EG", "LPI + IDGI",
                 "AGI", "mean |delta|"):
        assert name in printed
    assert any((tmp_path / "cache").glob("digits_cnn_*.keras"))          # cached model
    table = json.loads((tmp_path / "out" / "methods_table.json").read_text())
    rows = {r["method"]: r for r in table["rows"]}
    assert len(rows) == 15 and table["quick"]
    for name in ("IG + IDGI", "Blur IG + IDGI", "Guided IG + IDGI", "EG + IDGI", "LPI + IDGI",
                 "AGI + IDGI", "IG² + IDGI"):
        assert rows[name]["max |delta|"] < 1e-4                       # IDGI is complete
    assert rows["Gradient"]["mean |delta|"] is None
    w, h = Image.open(tmp_path / "out" / "methods_gallery.png").size
    assert w > 800 and h > 300
    assert (tmp_path / "out" / "methods_gallery_signed.png").exists()


def test_run_demo_returns_rows_and_paths(tmp_path, monkeypatch):
    from tfpath import demo
    monkeypatch.setenv("TFPATH_CACHE", str(tmp_path / "cache"))
    from tfpath import demo_uncertainty
    calls = []                           # the gallery itself is tested in test_uncertainty_demo

    def gallery(path, progress=None, quick=False):
        calls.append((path, quick))
        return [{"source": "test"}]

    monkeypatch.setattr(demo_uncertainty, "uncertainty_gallery", gallery)
    # two methods suffice here: every method's row is tested by test_demo_quick
    from tfpath.methods import registry
    monkeypatch.setattr(registry, "METHODS", dict(list(registry.METHODS.items())[:2]))
    result = demo.run_demo(tmp_path / "o", quick=True, progress=False)
    assert [r["method"] for r in result["rows"]][0] == "Gradient"
    assert calls == [(tmp_path / "o" / "uncertainty_gallery.png", True)]
    assert result["uncertainty_rows"] == [{"source": "test"}]
    assert result["paths"]["gallery"].exists()


def test_demo_out_must_be_a_directory(tmp_path, capsys):
    f = tmp_path / "file"
    f.write_text("x")
    with pytest.raises(SystemExit):
        cli.main(["demo", "--out", str(f)])
    assert "--out" in capsys.readouterr().err


# ---------------------------------------------------------------------------- start-up
OLD_EXPORTS = ["CONVOLUTION_LAYER_VALUES", "CONVOLUTION_OUTPUT_GRADIENTS", "INPUT_OUTPUT_GRADIENTS",
               "OUTPUT_LAYER_VALUES", "ModelFunction", "baselines", "targets", "Logit",
               "Probability", "Score", "Target", "get_target", "__version__", "LocalDistribution",
               "AGI", "IG2", "LPI", "BlurIG", "ExpectedGradients", "GenerativeIG",
               "GenerativeIGDetails", "GradientSaliency", "GuidedIG", "IG2Details",
               "IntegratedGradients", "NoiseTunnel", "PathDetails", "Aleatoric", "Entropy",
               "Epistemic", "TextModel", "TokenAttribution"]


def _python(code, timeout=120):
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=timeout)


def test_help_does_not_import_tensorflow():
    proc = subprocess.run([sys.executable, "-m", "tfpath", "--help"], capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0 and "explain" in proc.stdout
    assert proc.stderr == ""                                   # no TensorFlow log lines
    proc = _python(
        "import sys, tfpath.cli\n"
        "p = tfpath.cli.build_parser()\n"
        "a = p.parse_args(['explain', '--model', 'm.keras', '--image', 'i.png', '--method', 'ig',"
        " '--out', 'h.png', '--input-range', '-1,1'])\n"
        "try:\n    p.parse_args(['explain', '--help'])\nexcept SystemExit:\n    pass\n"
        "print(a.input_range, tfpath.__version__, 'tensorflow' in sys.modules)")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == "-1,1 0.1.0 False"


@pytest.mark.parametrize("argv, message", [
    (["explain", "--model", "m.keras", "--image", "i.png", "--method", "lime", "--out", "h.png"],
     "invalid choice"),
    (["explain", "--model", "m.keras", "--method", "ig", "--out", "h.png"], "required"),
    (["explain", "--model", "m.keras", "--image", "missing.png", "--method", "ig", "--out",
      "h.png"], "--image: file not found"),
    (["explain", "--model", "m.keras", "--image", "i.png", "--method", "ig", "--out", "h.png",
      "--preprocess", "imagenet"], "mobilenet_v2"),
])
def test_argument_errors_exit_2_without_importing_tensorflow(argv, message):
    proc = _python("import sys, tfpath.cli\n"
                   "try:\n"
                   f"    tfpath.cli.main({argv!r})\n"
                   "except SystemExit as e:\n"
                   "    print(e.code, 'tensorflow' in sys.modules)\n")
    assert proc.stdout.strip() == "2 False", proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and message in proc.stderr
    assert proc.stderr.startswith("tfpath")


def test_lazy_package_exports_every_name_and_uncertainty_targets():
    proc = _python(
        "import sys, tfpath\n"
        f"names = {OLD_EXPORTS!r}\n"
        "assert set(names) <= set(tfpath.__all__) and set(names) <= set(dir(tfpath))\n"
        "assert 'tensorflow' not in sys.modules\n"
        "assert 'tfpath.uncertainty' not in sys.modules\n"
        "print(type(tfpath.get_target('entropy')).__name__)\n"
        "mf = tfpath.ModelFunction(lambda x: x, target='epistemic', output='probabilities')\n"
        "print(type(mf.target).__name__, type(tfpath.get_target('aleatoric')).__name__)\n"
        "from tfpath import GuidedIG, Entropy, INPUT_OUTPUT_GRADIENTS\n"
        "assert all(getattr(tfpath, n) is not None for n in names)\n"
        "print(tfpath.zoo.__name__, tfpath.uncertainty.Entropy is Entropy)\n")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["Entropy", "Epistemic", "Aleatoric", "tfpath.zoo", "True"]


# ---------------------------------------------------------------------------- --input-range
def test_option_values_starting_with_a_minus_sign():
    assert cli.join_option_values(["--input-range", "-1,1", "--class", "-1"]) == \
        ["--input-range=-1,1", "--class", "-1"]
    assert cli.join_option_values(["--preprocess", "-.5,.5", "--", "--input-range", "-1,1"]) \
        == ["--preprocess=-.5,.5", "--", "--input-range", "-1,1"]
    assert cli.join_option_values(["--preprocess", "--out"]) == ["--preprocess", "--out"]


def test_input_range_both_spellings(files, capsys):
    masks = []
    for i, spelling in enumerate((["--input-range", "-1,1"], ["--input-range=-1,1"])):
        assert cli.main(_explain(files, "--method", "ig", "--steps", "4", *spelling,
                                 "--save-mask", str(files / f"r{i}.npy"), out=f"r{i}.png")) == 0
        assert "input range: -1,1" in capsys.readouterr().out
        masks.append(np.load(files / f"r{i}.npy"))
    np.testing.assert_array_equal(masks[0], masks[1])
    zero_to_one = cli.main(_explain(files, "--method", "ig", "--steps", "4",
                                    "--save-mask", str(files / "r01.npy"), out="r01.png"))
    assert zero_to_one == 0 and not np.allclose(np.load(files / "r01.npy"), masks[0])


# ---------------------------------------------------------------------------- --preprocess
def test_preprocess_family_explains_pixels_with_the_preprocessing_inside(files, capsys):
    import tfpath
    from keras.models import load_model
    argv = _explain(files, "--method", "ig", "--steps", "8", "--class", "1",
                    "--save-mask", str(files / "p.npy"), out="p.png")
    assert cli.main(argv + ["--preprocess", "mobilenet_v2"]) == 0
    assert "preprocess: mobilenet_v2" in capsys.readouterr().out
    model = load_model(files / "tiny.keras", compile=False)
    x, _ = cli.load_image(files / "img.png", (12, 12, 1), (0, 255))
    assert x.max() > 1.5                                            # pixels 0..255
    expected = tfpath.IntegratedGradients().GetMask(
        x, tfpath.ModelFunction(model, preprocess="mobilenet_v2"), {"class_idx": 1}, x_steps=8)
    np.testing.assert_allclose(np.load(files / "p.npy"), expected, rtol=1e-5, atol=1e-7)
    # a range preprocessing, written with a leading minus sign
    assert cli.main(argv + ["--preprocess", "-1,1"]) == 0
    np.testing.assert_allclose(np.load(files / "p.npy"), expected, rtol=1e-4, atol=1e-6)


def test_preprocess_and_input_range_exclude_each_other(files, capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(_explain(files, "--method", "ig", "--preprocess", "resnet50", "--input-range",
                          "0,1"))
    assert exc.value.code == 2 and "--preprocess" in capsys.readouterr().err


# ---------------------------------------------------------------------------- errors
def _save(model, path):
    model.save(path)
    return path


@pytest.fixture(scope="module")
def odd_models(tmp_path_factory):
    import keras
    d = tmp_path_factory.mktemp("odd")
    inputs = keras.Input((12, 12, 1))
    flat = keras.layers.Flatten()(inputs)
    hidden = keras.layers.Reshape((3,))(keras.layers.Softmax()(keras.layers.Dense(3)(flat)))
    einsum = keras.layers.EinsumDense("ab,bc->ac", output_shape=3, activation="softmax")(flat)
    zero = keras.layers.Dense(4, kernel_initializer="zeros", bias_initializer="zeros")(
        keras.layers.Conv2D(2, 3, activation="relu")(inputs))
    zero = keras.layers.Dense(4, kernel_initializer="zeros")(keras.layers.Flatten()(zero))
    (d / "notes.txt").write_text("not a model\n")
    (d / "notes.keras").write_text("not a model either\n")
    return {"hidden": _save(keras.Model(inputs, hidden), d / "hidden.keras"),
            "einsum": _save(keras.Model(inputs, einsum), d / "einsum.keras"),
            "untrained": _save(keras.Model(inputs, zero), d / "untrained.keras"),
            "txt": d / "notes.txt", "fake_keras": d / "notes.keras"}


def _explain_model(files, model, *extra):
    return ["explain", "--model", str(model), "--image", str(files / "img.png"), "--method",
            "ig", "--steps", "4", "--out", str(files / "odd.png"), *extra]


@pytest.mark.parametrize("name", ["hidden", "einsum"])
def test_target_logit_on_a_softmax_model_answers_in_cli_terms(files, odd_models, capsys, name):
    with pytest.raises(SystemExit) as exc:
        cli.main(_explain_model(files, odd_models[name], "--target", "logit"))
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert err.startswith("tfpath explain: error: --target: --target logit needs")
    assert "use --target probability" in err and "output=" not in err and "target=" not in err
    assert cli.main(_explain_model(files, odd_models[name], "--target", "probability")) == 0
    assert "target: probability" in capsys.readouterr().out
    assert cli.main(_explain_model(files, odd_models[name])) == 0      # the default works too
    assert "target: probability" in capsys.readouterr().out


@pytest.mark.parametrize("name, what", [("txt", "a .txt file"), ("fake_keras", "not a zip")])
def test_a_file_that_is_not_a_keras_model(files, odd_models, capsys, name, what):
    with pytest.raises(SystemExit) as exc:
        cli.main(_explain_model(files, odd_models[name]))
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "not a Keras model file" in err and what in err
    assert "File not found" not in err and "file not found" not in err


def test_degenerate_map_warns_once_on_stderr(files, odd_models, capsys):
    for target in ("logit", "probability"):
        assert cli.main(_explain_model(files, odd_models["untrained"], "--target", target)) == 0
        captured = capsys.readouterr()
        assert "convergence delta:" in captured.out
        assert captured.err.count("expected to be all zero") == 1
        assert captured.err.lower().count("degenerate") == 0       # the API's warning: once
        assert "F(x) = F(x')" in captured.err
    assert cli.main(_explain(files, "--method", "ig", "--steps", "4", out="ok.png")) == 0
    assert "all zero" not in capsys.readouterr().err


# ---------------------------------------------------------------------------- progress
def test_progress_on_stderr_only_when_asked_or_a_terminal(files):
    argv = _explain(files, "--method", "ig", "--steps", "4", out="prog.png")
    proc = subprocess.run([sys.executable, "-m", "tfpath", *argv, "--progress"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "[tfpath explain] loading TensorFlow" in proc.stderr
    assert "[tfpath explain] computing IG" in proc.stderr
    assert "I0000" not in proc.stderr and "cuInit" not in proc.stderr    # TF start-up lines
    assert "convergence delta:" in proc.stdout and "[tfpath" not in proc.stdout
    status = cli.Status(enabled=False)
    status.stage("x")
    status.close()
