"""The uncertainty gallery demo (quick mode), in a private cache directory."""
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402


def test_uncertainty_gallery_quick(tmp_path, monkeypatch):
    from tfpath.demo_uncertainty import uncertainty_gallery
    monkeypatch.setenv("TFPATH_CACHE", str(tmp_path / "cache"))
    messages = []
    out = tmp_path / "gallery.png"
    rows = uncertainty_gallery(out, progress=messages.append, quick=True)
    assert out.exists() and out.stat().st_size > 5000
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(rows) == 2 and {r["source"] for r in rows} == {"test", "blended"}
    for r in rows:
        assert abs(r["total"] - r["aleatoric"] - r["epistemic"]) < 1e-9
        assert r["epistemic"] >= 0 and r["total"] > 0.5
        # Generative IG sums to each target's change from the fiducial (midpoint rule)
        assert r["convergence_delta"] < 0.05 * r["total"]
        assert r["fiducial_entropy"] < r["total"]
    assert any("training" in m for m in messages)
    # second call loads the cached model instead of training
    messages.clear()
    again = uncertainty_gallery(out, progress=messages.append, quick=True)
    assert any("loading" in m for m in messages)
    np.testing.assert_allclose([r["total"] for r in again], [r["total"] for r in rows],
                               rtol=1e-5)
