"""explain_dataset under tf.distribute: a MirroredStrategy over two logical CPU devices and a
two-process MultiWorkerMirroredStrategy on localhost write the same shards as one device.

Each run is a fresh process (logical devices and TF_CONFIG must be set before TensorFlow
starts): tests/distributed_run.py.
"""
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tfpath.dataset import load_shards

SCRIPT = Path(__file__).with_name("distributed_run.py")
TIMEOUT = 300


def _run(out, *args):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    return subprocess.Popen([sys.executable, str(SCRIPT), str(out), *args], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _finish(process):
    stdout, stderr = process.communicate(timeout=TIMEOUT)
    assert process.returncode == 0, stderr[-3000:]
    return json.loads(stdout.strip().splitlines()[-1])


def _free_ports(n):
    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("localhost", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return [str(p) for p in ports]


@pytest.fixture(scope="module")
def single(tmp_path_factory):
    """The reference: one device, in this process."""
    from distributed_run import run
    out = tmp_path_factory.mktemp("single")
    assert run(out) == 1
    return out


def _same_shards(a, b):
    for name in ("ig", "gig"):
        files_a = sorted(p.name for p in (a / name).glob("shard-*.npz"))
        assert files_a == sorted(p.name for p in (b / name).glob("shard-*.npz"))
        assert len(files_a) == 3                       # 11 images in shards of 4 / of 5
        one, other = load_shards(a / name), load_shards(b / name)
        assert set(one) == set(other)
        np.testing.assert_array_equal(one["index"], np.arange(11))
        np.testing.assert_array_equal(one["class_idx"], other["class_idx"])
        assert np.abs(one["masks"]).max() > 1e-3                          # not all zero
        for key in set(one) - {"index", "class_idx", "seconds"}:
            np.testing.assert_allclose(one[key], other[key], atol=1e-6, rtol=0, err_msg=key)
    assert "metric.insertion" in load_shards(a / "ig")


def test_mirrored_strategy_on_two_devices_equals_one_device(single, tmp_path):
    assert _finish(_run(tmp_path, "mirrored"))["replicas"] == 2
    _same_shards(tmp_path, single)


def test_two_worker_processes_equal_one_process(single, tmp_path):
    ports = _free_ports(2)
    workers = [_run(tmp_path, "worker", str(i), *ports) for i in range(2)]
    try:
        reports = [_finish(w) for w in workers]
    finally:
        for w in workers:
            w.kill()
    assert [r["replicas"] for r in reports] == [2, 2]
    _same_shards(tmp_path, single)
