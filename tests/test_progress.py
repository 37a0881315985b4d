"""Progress bars: on a terminal by themselves, off elsewhere or when asked."""
import io

import numpy as np
import pytest

from tfpath import generative as gen
from tfpath.core.progress import Progress, wanted


class Terminal(io.StringIO):
    def isatty(self):
        return True


def test_bars_show_on_a_terminal_only_unless_asked():
    pipe, tty = io.StringIO(), Terminal()
    assert not wanted(None, pipe) and wanted(None, tty)
    with Progress(4, "work", stream=pipe) as bar:
        bar.update(4)
    assert pipe.getvalue() == ""
    with Progress(4, "work", stream=tty, unit="image") as bar:
        bar.update(2, "half")
        bar.update(2)
    out = tty.getvalue()
    assert "work" in out and "4/4" in out and "image/s" in out and "half" in out
    forced = io.StringIO()
    with Progress(2, "forced", enabled=True, stream=forced) as bar:
        bar.update(2)
    assert "2/2" in forced.getvalue()
    silent = Terminal()
    with Progress(2, "off", enabled=False, stream=silent) as bar:
        bar.update(2)
    assert silent.getvalue() == ""
    with pytest.raises(TypeError, match="progress"):
        wanted("yes")


def test_training_and_glam_are_silent_off_a_terminal(capsys):
    from tfpath.counterfactuals import GLAMCLUE
    x = np.random.default_rng(0).random((32, 6)).astype(np.float32)
    vae = gen.mlp_vae((6,), latent_dim=2, hidden=(8,))
    gen.train_vae(vae, x, epochs=2)                           # progress=None: not a terminal
    GLAMCLUE(vae).fit(x[:16], 0, x[16:], 0)
    assert capsys.readouterr().err == ""
    GLAMCLUE(vae).fit(x[:16], 0, x[16:], 0, progress=True)
    assert "GLAMCLUE.fit" in capsys.readouterr().err


def test_method_calls_show_a_bar_of_model_calls(capsys):
    import tensorflow as tf
    import tfpath

    def f(x):
        return tf.reduce_sum(tf.square(x), axis=1)
    mf = tfpath.ModelFunction(f, target="score")
    x = np.random.default_rng(0).random((6, 5)).astype(np.float32)
    quiet = tfpath.IntegratedGradients().GetMaskBatch(x, mf, x_steps=40, batch_size=20)
    assert capsys.readouterr().err == ""                      # not a terminal: no bar
    shown = tfpath.IntegratedGradients(progress=True).GetMaskBatch(x, mf, x_steps=40,
                                                                   batch_size=20)
    err = capsys.readouterr().err
    assert "IntegratedGradients" in err and "call" in err
    # 6 inputs × 40 nodes in calls of at most 20 points: 3 nodes of the 6 rows per call,
    # ceil(40 / 3) = 14 calls, each ticked
    assert "14/14" in err
    np.testing.assert_allclose(shown, quiet, rtol=1e-6)
    with pytest.raises(TypeError, match="progress"):
        tfpath.GuidedIG(progress="yes")


def test_long_scorings_show_a_bar_when_asked(capsys):
    from tfpath.metrics import Scorer

    def score(images):
        return images.reshape(len(images), -1).sum(1)
    x = np.random.default_rng(1).random((40, 3)).astype(np.float32)
    values, _ = Scorer(score, batch_size=4)(x)
    assert capsys.readouterr().err == ""
    forced, _ = Scorer(score, batch_size=4, progress=True)(x)
    err = capsys.readouterr().err
    assert "scoring" in err and "10/10" in err              # 40 images in calls of 4
    np.testing.assert_allclose(forced, x.sum(1), rtol=1e-6)
    np.testing.assert_array_equal(values, forced)
