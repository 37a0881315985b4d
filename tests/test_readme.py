"""Every ```python block of README.md runs (in order, in one namespace), offline."""
import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def python_blocks(text):
    return re.findall(r"```python\n(.*?)```", text, flags=re.S)


def test_readme_quickstart_commands():
    text = README.read_text(encoding="utf-8")
    first = re.search(r"```bash\n(.*?)```", text, flags=re.S).group(1).strip().splitlines()
    assert first == ['pip install -e . && tfpath demo',
                     'pip install -e ".[test]" && python -m pytest -q -n 2 tests']
    ci = (README.parent / ".ci" / "run").read_text(encoding="utf-8")
    assert "pip install -q -e \".[test]\"" in ci and "pytest -q -n 2 tests" in ci


def test_readme_python_blocks_run(tmp_path, monkeypatch):
    blocks = python_blocks(README.read_text(encoding="utf-8"))
    assert len(blocks) >= 6
    monkeypatch.setenv("TFPATH_CACHE", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)
    namespace = {"__name__": "readme"}
    for i, block in enumerate(blocks):
        assert 'weights="imagenet"' not in block, "README code must not download weights"
        exec(compile(block, f"README.md python block {i + 1}", "exec"), namespace)
    assert (tmp_path / "gallery.png").exists()
    assert namespace["xrai_mask"].shape == namespace["x"].shape[:2]
