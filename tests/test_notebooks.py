"""Executes every ``colab/*.ipynb`` offline with nbclient and checks that it draws its figures.

The notebooks detect by themselves that ImageNet weights cannot be downloaded and fall back to
small models trained on the offline datasets. Each runs in a fresh kernel, as its own test (so
xdist spreads them over its workers), with a private tfpath cache directory (no other test's
cache is touched concurrently). The kernel uses ipykernel's default
(inline) matplotlib backend, whatever ``MPLBACKEND`` the suite runs with.
"""
import os
import tempfile
import time
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

COLAB = Path(__file__).resolve().parents[1] / "colab"
NOTEBOOKS = sorted(COLAB.glob("*.ipynb"))
CELL_TIMEOUT = 600          # seconds per cell: a guard against a hung kernel, not a speed test


def _figures_drawn(nb):
    """Code cells that draw a figure (plt.show())."""
    return sum(cell.source.count("plt.show()") for cell in nb.cells if cell.cell_type == "code")


def _images(nb):
    return sum(1 for cell in nb.cells if cell.cell_type == "code"
               for out in cell.get("outputs", [])
               if out.get("output_type") in ("display_data", "execute_result")
               and "image/png" in out.get("data", {}))


def test_notebooks_are_stored_without_outputs():
    assert NOTEBOOKS, f"no notebooks in {COLAB}"
    for path in NOTEBOOKS:
        nb = nbformat.read(path, as_version=4)
        dirty = [i for i, c in enumerate(nb.cells) if c.cell_type == "code"
                 and (c.get("outputs") or c.get("execution_count"))]
        assert not dirty, f"{path.name}: cells {dirty} hold outputs; clear them before committing"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_executes_offline(path, tmp_path, capsys):
    """One notebook in a fresh kernel, with a private cache (the notebooks run in parallel
    under xdist; the models they share, e.g. ``zoo.digits_cnn``, train in seconds)."""
    env_backup = {k: os.environ.get(k) for k in ("MPLBACKEND", "TFPATH_CACHE")}
    os.environ.pop("MPLBACKEND", None)                 # ipykernel's inline backend
    os.environ["TFPATH_CACHE"] = str(tmp_path / "cache")
    nb = nbformat.read(path, as_version=4)
    workdir = tempfile.mkdtemp(dir=tmp_path)            # files the notebook writes land here
    client = nbclient.NotebookClient(nb, timeout=CELL_TIMEOUT, kernel_name="python3",
                                     resources={"metadata": {"path": workdir}})
    start = time.perf_counter()
    try:
        client.execute()
    finally:
        for key, value in env_backup.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    seconds = time.perf_counter() - start
    images, expected = _images(nb), _figures_drawn(nb)
    with capsys.disabled():                             # the time is reported, not tested
        print(f"\n{path.name:26s} {seconds:6.1f} s  {images} images (>= {expected})", end="")
    assert images >= expected, f"{path.name}: {images} image outputs, expected >= {expected}"
