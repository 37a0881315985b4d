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
