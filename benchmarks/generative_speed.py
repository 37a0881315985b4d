"""Speed of Generative IG against the authors' Jacobian-per-node route and the honest limit.

Setup: MNIST-size images (28×28×1), the authors' low-res VAE architecture (m = 32) and their
low-res classifier (both untrained: speed does not depend on the weights), the entropy target,
``--steps`` nodes on each of the two pieces (the latent line and the straight tail), given
latents (the searches are not timed).

* **tfpath**: ``GenerativeIG().GetMaskBatch`` on all images at once (one forward-mode JVP of the
  decoder per latent node, batched with the classifier's gradient).
* **Jacobian per node** (the authors' ``ig_latent_curve``): per image and per node,
  ``tape.jacobian(ψ(z0 + α (z - z0)), α)`` for a scalar α, then ∇H at the decoded point; one
  compiled call per node, images one at a time, as their code loops.
* **Limit**: the same number of decoder JVPs with classifier gradients (latent nodes) and of
  classifier gradients (tail nodes), on precomputed points, in one compiled program per chunk
  size; the fastest chunk size of ``--chunks`` is the limit. It does no path construction or
  accumulation, so it bounds what any implementation can do with these evaluations.

Each time is the fastest of ``--repeats`` runs after a warm-up (tracing excluded). The
Jacobian route is timed on ``--jacobian-images`` images and reported per image.

    python benchmarks/generative_speed.py [--images 16] [--steps 50] [--repeats 3]
"""
import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import tfpath  # noqa: E402
from tfpath import generative as gen  # noqa: E402
from tfpath.zoo import lowres_classifier  # noqa: E402

DEFAULT_CHUNKS = (50, 100, 200, 400, 800)


def fastest(fn, repeats):
    fn()                                                    # warm-up (tracing)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def entropy_of(classifier):
    def entropy(points):
        logp = tf.nn.log_softmax(classifier(points, training=False))
        return -tf.reduce_sum(tf.exp(logp) * logp, axis=1)
    return entropy


def limit_program(decoder, entropy, chunk):
    """Latent chunks: JVP of ψ and ∇H at ψ(z); tail chunks: ∇H. Sums results so nothing is
    optimised away."""

    def gradient(points):
        with tf.GradientTape() as tape:
            tape.watch(points)
            value = tf.reduce_sum(entropy(points))
        return tape.gradient(value, points)

    @tf.function(reduce_retracing=True)
    def run(z, dz, tail_points):
        n = tf.shape(z)[0] // chunk
        total = tf.constant(0.0)
        for i in tf.range(n):
            sl = slice(i * chunk, (i + 1) * chunk)
            zc = z[sl]
            with tf.autodiff.ForwardAccumulator(zc, dz[sl]) as acc:
                decoded = decoder(zc, training=False)
            total += tf.reduce_sum(gradient(decoded) * acc.jvp(decoded))
            total += tf.reduce_sum(gradient(tail_points[sl]))
        return total
    return run


def jacobian_route(decoder, entropy):
    """One node of the authors' route: d ψ(z_α) / dα by tape.jacobian, then ∇H there."""

    @tf.function(reduce_retracing=True)
    def node(z0, dz, alpha):
        with tf.GradientTape() as tape:
            tape.watch(alpha)
            decoded = decoder((z0 + alpha * dz)[None], training=False)
        velocity = tape.jacobian(decoded, alpha)
        with tf.GradientTape() as tape:
            tape.watch(decoded)
            value = tf.reduce_sum(entropy(decoded))
        return tape.gradient(value, decoded) * velocity

    @tf.function(reduce_retracing=True)
    def tail_node(point):
        with tf.GradientTape() as tape:
            tape.watch(point)
            value = tf.reduce_sum(entropy(point[None]))
        return tape.gradient(value, point)

    def explain(x, z0, z, steps):
        masks = []
        for i in range(x.shape[0]):
            xr = decoder(z[i:i + 1], training=False)[0]
            latent = tf.zeros_like(xr)
            tail = tf.zeros_like(xr)
            for k in range(steps):
                alpha = tf.constant((k + 0.5) / steps)
                latent += node(tf.constant(z0[i]), tf.constant(z[i] - z0[i]), alpha)[0] / steps
                tail += tail_node(xr + alpha * (x[i] - xr)) / steps
            masks.append((latent + (x[i] - xr) * tail).numpy())
        return np.stack(masks)
    return explain


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=16)
    parser.add_argument("--steps", type=int, default=50, help="nodes per piece")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--jacobian-images", type=int, default=2)
    parser.add_argument("--chunks", type=int, nargs="+", default=list(DEFAULT_CHUNKS))
    parser.add_argument("--latent-dim", type=int, default=32)
    args = parser.parse_args(argv)

    rng = np.random.default_rng(0)
    shape = (28, 28, 1)
    vae = gen.conv_vae(shape, latent_dim=args.latent_dim, seed=0)
    classifier = lowres_classifier(shape)
    entropy = entropy_of(classifier)
    mf = tfpath.ModelFunction(classifier, target="entropy")
    n, steps = args.images, args.steps
    x = rng.uniform(size=(n,) + shape).astype(np.float32)
    z0, z = (rng.normal(size=(n, args.latent_dim)).astype(np.float32) for _ in range(2))

    method = tfpath.GenerativeIG()
    ours = fastest(lambda: method.GetMaskBatch(x, mf, decoder=vae.decoder, z_baseline=z0,
                                               z_input=z, steps=steps), args.repeats)

    # the same evaluations on precomputed points: n·steps latent nodes and n·steps tail nodes
    alphas = (np.arange(steps) + 0.5) / steps
    z_nodes = (z0[:, None] + alphas[None, :, None] * (z - z0)[:, None]).reshape(n * steps, -1)
    dz_nodes = np.repeat(z - z0, steps, axis=0)
    xr = vae.decode(z)
    tail_nodes = (xr[:, None] + alphas[None, :, None, None, None] * (x - xr)[:, None]).reshape(
        (n * steps,) + shape)
    limits = {}
    for chunk in args.chunks:
        if (n * steps) % chunk:
            continue
        program = limit_program(vae.decoder, entropy, chunk)
        tensors = [tf.constant(a.astype(np.float32)) for a in (z_nodes, dz_nodes, tail_nodes)]
        limits[chunk] = fastest(lambda: program(*tensors).numpy(), args.repeats)
    chunk, limit = min(limits.items(), key=lambda kv: kv[1])

    k = max(1, min(args.jacobian_images, n))
    route = jacobian_route(vae.decoder, entropy)
    jac = fastest(lambda: route(x[:k], z0[:k], z[:k], steps), max(1, args.repeats - 2)) / k

    # the two routes compute the same attribution
    check = method.GetMaskBatch(x[:k], mf, decoder=vae.decoder, z_baseline=z0[:k],
                                z_input=z[:k], steps=steps)
    agreement = float(np.abs(check - route(x[:k], z0[:k], z[:k], steps)).max())

    per = ours / n
    print(f"{n} images 28×28×1, VAE m = {args.latent_dim}, {steps} nodes per piece "
          f"({2 * steps} gradient evaluations and {steps} decoder JVPs per image)")
    print("| route | s / image | × tfpath |")
    print("|---|---|---|")
    print(f"| tfpath GenerativeIG | {per:.4f} | 1.00 |")
    print(f"| limit (chunk {chunk}) | {limit / n:.4f} | {limit / ours:.2f} |")
    print(f"| Jacobian per node (authors' route) | {jac:.4f} | {jac / per:.1f} |")
    print(f"tfpath / limit = {ours / limit:.2f}; Jacobian route / tfpath = {jac / per:.1f}; "
          f"max |difference| of the two routes' masks = {agreement:.2e}")
    print("limit by chunk: " + ", ".join(f"{c}: {t / n:.4f}" for c, t in sorted(limits.items())))
    return {"ours": per, "limit": limit / n, "jacobian": jac, "agreement": agreement}


if __name__ == "__main__":
    main()
