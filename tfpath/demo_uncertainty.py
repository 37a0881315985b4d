"""Demo: a gallery of Generative IG attributions of total / aleatoric / epistemic uncertainty.

``uncertainty_gallery`` trains (or loads from :func:`tfpath.zoo.cache_dir`) an MC-dropout CNN
on uncertainty-induced scikit-learn digits (:func:`tfpath.datasets.load_uncertain_digits`) and a
VAE on the clean training digits, picks the held-out clean and blended digits with the highest
predictive entropy, searches their counterfactual fiducials (same class, H ≈ 0: Perez et al.,
"Attribution of Predictive Uncertainties in Classification Models", UAI 2022, Eq. 2), and
attributes Entropy, Aleatoric and Epistemic with Generative IG along the decoded latent line
(§3.1, Eq. 3) — one fiducial search, three targets on the same path. The attributions of each
target sum to its value at x minus its value at the fiducial; the PNG shows the input, the
fiducial and the three maps.
"""
from __future__ import annotations

import dataclasses
import warnings
from pathlib import Path

import numpy as np

from tfpath.uncertainty.targets import Aleatoric, Entropy, Epistemic

TARGETS = (("total", Entropy), ("aleatoric", Aleatoric), ("epistemic", Epistemic))


def _trained_model(size, epochs, progress):
    import keras
    from tfpath import zoo
    from tfpath.datasets import load_uncertain_digits
    from tfpath.uncertainty.training import mc_dropout_cnn
    data = load_uncertain_digits(size=size, seed=0)
    path = zoo.cache_dir() / f"uncertainty_mc_dropout_{size}_{epochs}.keras"
    if path.exists():
        progress(f"loading {path}")
        return keras.models.load_model(path), data
    progress(f"training an MC-dropout CNN on {len(data.split.y_train)} uncertainty-induced "
             f"{size}x{size} digits ({epochs} epochs)")
    model = mc_dropout_cnn(data.split.input_shape, data.split.num_classes, width=8, rate=0.25)
    zoo.train_classifier(model, data.split.x_train, data.split.y_train, epochs=epochs)
    model.save(path)
    return model, data


def _trained_vae(data, size, epochs, progress):
    import keras
    from tfpath import generative, zoo
    from tfpath.datasets.uncertain import CLEAN
    path = zoo.cache_dir() / f"uncertainty_vae_{size}_{epochs}.keras"
    if path.exists():
        progress(f"loading {path}")
        return keras.models.load_model(path)
    clean = data.split.x_train[data.train_kind == CLEAN]
    progress(f"training a VAE on {len(clean)} clean {size}x{size} digits ({epochs} epochs)")
    vae = generative.conv_vae(data.split.input_shape, latent_dim=8, seed=0)
    generative.train_vae(vae, clean, epochs=epochs, progress=False)
    vae.save(path)
    return vae


def uncertainty_gallery(out_path, progress=None, quick=False):
    """Writes a PNG gallery of uncertainty attributions for the most uncertain test digits.

    Args:
      out_path: PNG file to write (parent directories are created).
      progress: optional callable receiving one-line status strings.
      quick: smaller run (8×8 digits, fewer samples, steps and rows) for smoke tests.

    Returns:
      A list of dict rows, one per digit: ``source`` ("test" or "blended"), ``index`` (into
      ``x_test`` or ``x_blended_test`` of :func:`tfpath.datasets.load_uncertain_digits`),
      ``total`` / ``aleatoric`` / ``epistemic`` (nats), ``delta_total`` /
      ``delta_aleatoric`` / ``delta_epistemic`` (convergence deltas: Σ mask minus the
      target's change from the fiducial to x), ``convergence_delta`` (the largest of the
      three in absolute value), ``fiducial_entropy`` and ``fiducial_class_kept``.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    import tfpath
    from tfpath import generative
    from tfpath.uncertainty.mc_dropout import MCDropout
    from tfpath.uncertainty.measures import predictive_uncertainty
    progress = progress or (lambda message: None)
    size, epochs, vae_epochs, samples, steps, search_steps, rows = (
        (8, 15, 10, 8, 20, 300, 2) if quick else (16, 25, 60, 24, 200, 2000, 4))
    model, data = _trained_model(size, epochs, progress)
    vae = _trained_vae(data, size, vae_epochs, progress)
    bayes = MCDropout(model, num_samples=samples, seed=0)
    pool = np.concatenate([data.split.x_test, data.x_blended_test])
    source = ["test"] * len(data.split.x_test) + ["blended"] * len(data.x_blended_test)
    local = list(range(len(data.split.x_test))) + list(range(len(data.x_blended_test)))
    u = predictive_uncertainty(bayes, pool)
    order = np.argsort(-u.total)
    n_test = len(data.split.x_test)
    pick = np.concatenate([order[order < n_test][:rows - rows // 2],
                           order[order >= n_test][:rows // 2]])
    x = pool[pick]
    total_mf = tfpath.ModelFunction(bayes, target=Entropy())
    progress(f"counterfactual fiducials of {rows} digits (≤ {search_steps} Adam steps)")
    settings = dataclasses.replace(generative.CODE, max_steps=search_steps)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", UserWarning)
        latents = generative.generative_latents(x, total_mf, vae, vae.decoder, settings)
    for w in caught:
        progress(str(w.message))
    fiducial = latents.fiducial
    progress(f"Generative IG ({steps} nodes per piece, S = {samples}) on {rows} digits, "
             "3 targets")
    method = tfpath.GenerativeIG()
    masks, deltas = {}, {}
    for name, target in TARGETS:
        mf = tfpath.ModelFunction(bayes, target=target())
        d = method.GetMaskBatchWithDetails(x, mf, decoder=vae.decoder,
                                           z_baseline=latents.z_baseline,
                                           z_input=latents.z_input, steps=steps)
        masks[name], deltas[name] = d.mask[..., 0], d.convergence_delta
    fig = Figure(figsize=(10, 2 * rows))
    FigureCanvasAgg(fig)
    result = []
    for r, i in enumerate(pick):
        for c, (image, title) in enumerate(((x[r], f"{source[i]} #{local[i]}"), (
                fiducial.fiducial[r], f"fiducial H={fiducial.entropy[r]:.3f}"))):
            ax = fig.add_subplot(rows, 5, 5 * r + 1 + c)
            ax.imshow(image[..., 0], cmap="gray", vmin=0, vmax=1)
            ax.set_title(title, fontsize=8)
            ax.axis("off")
        for c, (name, _) in enumerate(TARGETS):
            ax = fig.add_subplot(rows, 5, 5 * r + 3 + c)
            m = masks[name][r]
            lim = float(np.abs(m).max()) or 1.0
            ax.imshow(m, cmap="bwr", vmin=-lim, vmax=lim)
            value = getattr(u, name)[i]
            ax.set_title(f"{name} {value:.2f}", fontsize=8)
            ax.axis("off")
        row = {"source": source[i], "index": int(local[i]), "total": float(u.total[i]),
               "aleatoric": float(u.aleatoric[i]), "epistemic": float(u.epistemic[i]),
               "fiducial_entropy": float(fiducial.entropy[r]),
               "fiducial_class_kept": bool(fiducial.class_kept[r])}
        for name, _ in TARGETS:
            row[f"delta_{name}"] = float(deltas[name][r])
        row["convergence_delta"] = max(abs(row[f"delta_{n}"]) for n, _ in TARGETS)
        result.append(row)
    fig.suptitle("Generative IG of predictive uncertainty from the counterfactual fiducial "
                 "(red: raises it, blue: lowers it)", fontsize=9)
    fig.tight_layout()
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out_path, dpi=100)
    progress(f"wrote {out_path}")
    return result
