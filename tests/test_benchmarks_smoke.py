"""The benchmark scripts run (tiny settings) and report what they promise."""
import importlib.util
import pathlib

ROOT = pathlib.Path(__file__).resolve().parents[1]


def load(name):
    spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_speed_benchmark_reports_ratios_to_the_limit(capsys):
    results = load("speed").main(["--images", "2", "--steps", "4", "--repeats", "1"])
    out = capsys.readouterr().out
    assert "× limit" in out and "PAIR Guided IG" in out
    assert set(results) >= {"tfpath IG", "tfpath Guided IG", "PAIR IG (batch_size=steps)"}
    assert all(seconds > 0 for seconds in results.values())


def test_memory_benchmark_runs(capsys):
    load("memory").main(["--size", "32", "--steps", "12", "--compare-steps", "4",
                         "--batch-size", "4"])
    out = capsys.readouterr().out
    assert out.count("peak RSS") == 3 and "convergence delta" in out
