"""Runs explain_dataset in a fresh process (for tests/test_distributed.py).

    python distributed_run.py OUT single|mirrored
    python distributed_run.py OUT worker INDEX PORT0 PORT1

(or ``run(out)`` imported: one device, in the importing process). ``single``: one device, no
strategy. ``mirrored``: two logical CPU devices and a
MirroredStrategy over them. ``worker``: one of the two workers of a MultiWorkerMirroredStrategy
on localhost (TF_CONFIG set here). Every mode explains the same model and dataset: integrated
gradients into OUT/ig (with insertion scores per shard) and Guided IG into OUT/gig.
"""
import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

out, mode = (sys.argv[1], sys.argv[2]) if __name__ == "__main__" else (None, "import")
if mode == "worker":
    index, ports = int(sys.argv[3]), sys.argv[4:6]
    os.environ["TF_CONFIG"] = json.dumps({
        "cluster": {"worker": [f"localhost:{p}" for p in ports]},
        "task": {"type": "worker", "index": index}})

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

if mode == "mirrored":
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
elif mode == "worker":
    strategy = tf.distribute.MultiWorkerMirroredStrategy()
else:
    strategy = None

import tfpath  # noqa: E402


def run(out, strategy=None):
    """Explains the test model and dataset into ``out/ig`` and ``out/gig``; returns the
    number of replicas."""
    model = tfpath.zoo.small_cnn((8, 8, 1), 3, width=4, seed=2)
    mf = tfpath.ModelFunction(model)
    rng = np.random.default_rng(0)
    x = rng.random((11, 8, 8, 1)).astype(np.float32)
    y = np.arange(11) % 3
    dataset = tf.data.Dataset.from_tensor_slices((x, y))
    tfpath.explain_dataset(tfpath.IntegratedGradients(), mf, dataset, os.path.join(out, "ig"),
                           shard_size=4, strategy=strategy, metrics=["insertion"], x_steps=16)
    tfpath.explain_dataset(tfpath.GuidedIG(), mf, dataset.map(lambda image, c: image),
                           os.path.join(out, "gig"), shard_size=5, strategy=strategy,
                           x_steps=8)
    return 1 if strategy is None else strategy.num_replicas_in_sync


if __name__ == "__main__":
    print(json.dumps({"replicas": run(out, strategy)}))
