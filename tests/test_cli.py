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
    assert proc.stderr.strip().splitlines()[-1].startswith("tfpath explain: error: --class:")


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
