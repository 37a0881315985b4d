"""Visualisation of attribution masks: heatmaps, overlays and galleries as arrays, figures or PNG.

A mask has its input's shape (``[H, W, C]``, or ``[H, W]``); to show it as an image the channels
are reduced to one value per pixel and the values are clipped at a percentile, as PAIR's
``saliency.core.VisualizeImageGrayscale`` / ``VisualizeImageDiverging`` do:

* :func:`heatmap` with ``signed=False`` gives PAIR's grayscale map: ``Σ_c |mask|``, rescaled so
  that its minimum is 0 and its ``percentile``-th percentile is 1, clipped to [0, 1]
  (identical to ``VisualizeImageGrayscale`` whenever that one is defined).
* :func:`heatmap` with ``signed=True`` gives a diverging map in [-1, 1]: ``Σ_c mask`` divided by
  the ``percentile``-th percentile of its absolute values, clipped. Departure from PAIR:
  ``VisualizeImageDiverging`` takes the percentile of the *signed* values (so the span is
  unrelated to the size of negative attributions) and maps ``[-span, span]`` to ``[0, 1]``
  while clipping to ``[-1, 1]``; tfpath's map is symmetric, 0 means 0, and its sign is the sign
  of the attribution.
* A constant mask (e.g. all zeros) gives zeros instead of PAIR's NaN from ``0 / 0``.

Arrays and figures, no global state: :func:`heatmap`, :func:`colorize`, :func:`overlay` and
:func:`heatmap_image` return NumPy arrays, and :func:`gallery` returns a
:class:`matplotlib.figure.Figure` (shown inline by a notebook when displayed or returned as a
cell's value; :func:`figure_to_array` renders it to an RGBA array). tfpath never changes
matplotlib's backend or ``rcParams`` and never uses pyplot: figures are built with the
object-oriented API (``matplotlib.figure.Figure``, rendered by ``FigureCanvasAgg``), so they need no
display and are not registered in pyplot's figure list (``plt.get_fignums()`` is unchanged; a
gallery figure is freed as soon as it is no longer referenced). The ``save_*`` functions write
files: single heatmaps pixel-exact with Pillow (so a heatmap PNG has exactly the size asked
for), galleries with :meth:`~matplotlib.figure.Figure.savefig`.
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Mapping, Optional, Sequence

import numpy as np

from tfpath.core import reductions, validation

if TYPE_CHECKING:
    from matplotlib.figure import Figure

#: the channel reductions, shared with the metrics (one implementation:
#: :func:`tfpath.core.reductions.reduce_channels`)
CHANNEL_REDUCTIONS = reductions.REDUCTIONS
GRAY_CMAP = "inferno"
DIVERGING_CMAP = "RdBu_r"


def _check_percentile(percentile):
    return validation.check_fraction(percentile, "percentile", 0.0, 100.0, low_open=True)


def _as_mask(mask, name="mask"):
    """A finite float array of rank 2 (``[H, W]``) or 3 (``[H, W, C]``)."""
    arr = np.asarray(mask)
    if arr.dtype != object and np.issubdtype(arr.dtype, np.integer):
        arr = arr.astype(np.float32)
    arr = validation.check_array(arr, name, min_rank=2)
    if arr.ndim > 3:
        raise ValueError(f"{name}: expected one mask of shape [H, W] or [H, W, C], received shape "
                         f"{arr.shape} (for a batch, pass one mask at a time)")
    return arr


def reduce_channels(mask, reduction: str = "abs_sum") -> np.ndarray:
    """Reduces a mask ``[H, W, C]`` to one value per pixel ``[H, W]``.

    Args:
      mask: array ``[H, W, C]`` or ``[H, W]`` (returned as is, as float32).
      reduction: ``"abs_sum"`` (Σ_c |m|, PAIR's grayscale reduction), ``"sum"`` (Σ_c m, signed,
        PAIR's diverging reduction) or ``"max_abs"`` (max_c |m|).

    Returns:
      float32 array ``[H, W]``.

    Raises:
      ValueError: unknown ``reduction``; a mask of rank other than 2 or 3, NaN or inf.
      TypeError: a non-numeric mask.
    """
    reductions.check_reduction(reduction, "reduction")
    arr = _as_mask(mask)
    if arr.ndim == 2:
        return arr.astype(np.float32)
    return reductions.reduce_channels(arr, reduction, "reduction").astype(np.float32)


def heatmap(mask, signed: bool = False, percentile: float = 99,
            reduction: Optional[str] = None) -> np.ndarray:
    """A mask as a normalised 2-D heatmap (see the module docstring for the exact rules).

    Args:
      mask: ``[H, W, C]`` or ``[H, W]``.
      signed: False gives magnitudes in [0, 1] (PAIR's ``VisualizeImageGrayscale``); True gives
        signed values in [-1, 1] (a symmetric diverging map).
      percentile: values above this percentile saturate (PAIR's default 99); in (0, 100].
      reduction: channel reduction; default ``"abs_sum"`` if unsigned, ``"sum"`` if signed.

    Returns:
      float32 ``[H, W]``, in [0, 1] (unsigned) or [-1, 1] (signed).

    Raises:
      ValueError: ``percentile`` outside (0, 100]; unknown ``reduction``; a signed map asked
        with the ``abs_sum``/``max_abs`` reduction; bad mask (see :func:`reduce_channels`).
    """
    percentile = _check_percentile(percentile)
    if reduction is None:
        reduction = "sum" if signed else "abs_sum"
    if signed and reduction != "sum":
        raise ValueError(f"reduction: a signed heatmap needs reduction='sum', received "
                         f"{reduction!r}")
    m = reduce_channels(mask, reduction).astype(np.float64)
    if signed:
        span = np.percentile(np.abs(m), percentile)
        if span <= 0:
            span = np.abs(m).max()
        if span <= 0:
            return np.zeros(m.shape, np.float32)
        return np.clip(m / span, -1.0, 1.0).astype(np.float32)
    if reduction == "sum":      # unsigned view of a signed reduction: use magnitudes
        m = np.abs(m)
    vmin = m.min()
    vmax = np.percentile(m, percentile)
    if vmax <= vmin:
        vmax = m.max()
    if vmax <= vmin:
        return np.zeros(m.shape, np.float32)
    return np.clip((m - vmin) / (vmax - vmin), 0.0, 1.0).astype(np.float32)


def _as_image(image, name="image"):
    """An image ``[H, W]``/``[H, W, 1]``/``[H, W, 3]`` as float RGB ``[H, W, 3]`` in [0, 1]."""
    arr = np.asarray(image)
    if arr.dtype == np.uint8:
        arr = arr.astype(np.float32) / 255.0
    arr = validation.check_array(arr, name, min_rank=2)
    if arr.ndim == 2:
        arr = arr[..., None]
    if arr.ndim != 3 or arr.shape[2] not in (1, 3, 4):
        raise ValueError(f"{name}: expected an image [H, W], [H, W, 1], [H, W, 3] or [H, W, 4], "
                         f"received shape {arr.shape}")
    arr = arr[..., :3]
    lo, hi = float(arr.min()), float(arr.max())
    if lo < 0.0 or hi > 1.0:    # e.g. [-1, 1] or [0, 255] inputs: rescale for display only
        arr = (arr - lo) / (hi - lo) if hi > lo else np.zeros_like(arr)
    if arr.shape[2] == 1:
        arr = np.repeat(arr, 3, axis=2)
    return arr.astype(np.float32)


def colorize(heat, cmap: Optional[str] = None, signed: Optional[bool] = None) -> np.ndarray:
    """Maps a normalised heatmap to RGB with a matplotlib colormap.

    Args:
      heat: ``[H, W]`` from :func:`heatmap`, in [0, 1] or (signed) [-1, 1].
      cmap: colormap name; default ``"inferno"`` (unsigned) or ``"RdBu_r"`` (signed, red > 0).
      signed: whether ``heat`` is signed; default: True if it has negative values.

    Returns:
      float32 RGB ``[H, W, 3]`` in [0, 1].

    Raises:
      ValueError: ``heat`` is not 2-D or has NaN; unknown colormap.
    """
    import matplotlib
    h = validation.check_array(np.asarray(heat, np.float32), "heat", min_rank=2)
    if h.ndim != 2:
        raise ValueError(f"heat: expected a 2-D heatmap [H, W], received shape {h.shape}")
    if signed is None:
        signed = bool(h.min() < 0)
    cmap = cmap or (DIVERGING_CMAP if signed else GRAY_CMAP)
    try:
        cm = matplotlib.colormaps[cmap]
    except KeyError:
        raise ValueError(f"cmap: unknown matplotlib colormap {cmap!r}") from None
    values = (np.clip(h, -1, 1) + 1.0) / 2.0 if signed else np.clip(h, 0, 1)
    return cm(values)[..., :3].astype(np.float32)


def overlay(image, heat, alpha: float = 0.6, cmap: Optional[str] = None) -> np.ndarray:
    """Blends a colorized heatmap over an image, weighted by the heat's magnitude.

    Each pixel is ``(1 - a) * gray(image) + a * color(heat)`` with ``a = alpha * |heat|``, so
    unattributed pixels show the (grayscale) image and strongly attributed ones the colour.

    Args:
      image: ``[H, W]``, ``[H, W, 1]`` or ``[H, W, 3]`` (float in [0, 1], uint8, or any range,
        rescaled for display).
      heat: ``[H, W]`` normalised heatmap (see :func:`heatmap`); resized to the image if needed.
      alpha: largest opacity of the heatmap, in [0, 1].
      cmap: colormap (see :func:`colorize`).

    Returns:
      float32 RGB ``[H, W, 3]`` in [0, 1].

    Raises:
      ValueError: bad image or heat shape, ``alpha`` outside [0, 1].
    """
    alpha = validation.check_fraction(alpha, "alpha")
    img = _as_image(image)
    h = validation.check_array(np.asarray(heat, np.float32), "heat", min_rank=2)
    if h.ndim != 2:
        raise ValueError(f"heat: expected a 2-D heatmap [H, W], received shape {h.shape}")
    if h.shape != img.shape[:2]:
        h = resize(h, img.shape[:2])
    gray = np.repeat(img.mean(axis=2, keepdims=True), 3, axis=2)
    color = colorize(h, cmap)
    a = alpha * np.clip(np.abs(h), 0, 1)[..., None]
    return np.clip((1 - a) * gray + a * color, 0, 1).astype(np.float32)


def resize(array, size: Sequence[int], resample: str = "bilinear") -> np.ndarray:
    """Resizes a 2-D float array or an ``[H, W, C]`` image to ``size = (height, width)``.

    Args:
      array: ``[H, W]`` or ``[H, W, C]`` float array.
      size: ``(height, width)``, positive ints.
      resample: ``"bilinear"`` or ``"nearest"`` (crisp pixels, good for tiny inputs).

    Returns:
      float32 array of the new size.

    Raises:
      ValueError: bad ``size`` or ``resample``.
    """
    from PIL import Image
    if len(size) != 2:
        raise ValueError(f"size: expected (height, width), received {size!r}")
    height = validation.check_positive_int(int(size[0]), "size[0]")
    width = validation.check_positive_int(int(size[1]), "size[1]")
    modes = {"bilinear": Image.BILINEAR, "nearest": Image.NEAREST}
    if resample not in modes:
        raise ValueError(f"resample: expected one of {sorted(modes)}, received {resample!r}")
    arr = np.asarray(array, np.float32)
    if arr.shape[:2] == (height, width):
        return arr
    if arr.ndim == 2:
        return np.asarray(Image.fromarray(arr, mode="F").resize((width, height), modes[resample]))
    return np.stack([resize(arr[..., c], (height, width), resample)
                     for c in range(arr.shape[2])], axis=2)


def _to_uint8(rgb):
    return (np.clip(rgb, 0, 1) * 255 + 0.5).astype(np.uint8)


def heatmap_image(mask, image=None, signed: bool = False, percentile: float = 99,
                  size: Optional[Sequence[int]] = None, alpha: float = 0.6,
                  cmap: Optional[str] = None, resample: str = "bilinear") -> np.ndarray:
    """A mask as a colour heatmap, optionally over ``image`` (the pixels of :func:`save_heatmap`).

    Args:
      mask: ``[H, W, C]`` or ``[H, W]`` attribution.
      image: optional image to overlay the heatmap on (see :func:`overlay`); any size (the
        heatmap is resized to it unless ``size`` is given).
      signed: diverging (signed) map instead of magnitudes (see :func:`heatmap`).
      percentile: saturation percentile (see :func:`heatmap`).
      size: ``(height, width)`` of the result; default: the image's size, else the mask's.
      alpha: overlay opacity (with ``image``).
      cmap: colormap (see :func:`colorize`).
      resample: ``"bilinear"`` or ``"nearest"`` when resizing.

    Returns:
      float32 RGB ``[height, width, 3]`` in [0, 1] (:func:`save_heatmap` writes it as 8-bit RGB).

    Raises:
      ValueError / TypeError: bad mask, image, size or options (messages name the argument).
    """
    heat = heatmap(mask, signed=signed, percentile=percentile)
    if size is None:
        size = np.asarray(image).shape[:2] if image is not None else heat.shape
    heat = resize(heat, size, resample)
    if image is not None:
        img = _as_image(image)
        if img.shape[:2] != tuple(size):
            img = resize(img, size, resample)
        return overlay(img, heat, alpha=alpha, cmap=cmap)
    return colorize(heat, cmap, signed=signed)


def save_heatmap(mask, path, image=None, signed: bool = False, percentile: float = 99,
                 size: Optional[Sequence[int]] = None, alpha: float = 0.6,
                 cmap: Optional[str] = None, resample: str = "bilinear") -> Path:
    """Writes a mask as a colour heatmap PNG of an exact pixel size (no axes, no margins).

    The pixels are those of :func:`heatmap_image`, written with Pillow (no matplotlib figure).

    Args:
      mask: ``[H, W, C]`` or ``[H, W]`` attribution.
      path: output file (``.png``); parent directories are created.
      image: optional image to overlay the heatmap on (see :func:`overlay`); any size (the
        heatmap is resized to it unless ``size`` is given).
      signed: diverging (signed) map instead of magnitudes (see :func:`heatmap`).
      percentile: saturation percentile (see :func:`heatmap`).
      size: ``(height, width)`` of the PNG; default: the image's size, else the mask's.
      alpha: overlay opacity (with ``image``).
      cmap: colormap (see :func:`colorize`).
      resample: ``"bilinear"`` or ``"nearest"`` when resizing.

    Returns:
      The written path.

    Raises:
      ValueError / TypeError: bad mask, image, size or options (messages name the argument).
    """
    from PIL import Image
    rgb = heatmap_image(mask, image=image, signed=signed, percentile=percentile, size=size,
                        alpha=alpha, cmap=cmap, resample=resample)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(_to_uint8(rgb)).save(path)
    return path


def gallery(images, columns: Mapping[str, np.ndarray], row_labels=None,
            notes: Optional[Mapping[str, Sequence[str]]] = None, signed: bool = False,
            percentile: float = 99, title: Optional[str] = None, cell_size: float = 1.9,
            dpi: int = 110) -> "Figure":
    """A grid of heatmaps (rows: inputs; columns: the input, then one per method) as a Figure.

    Every heatmap cell is normalised on its own (as PAIR's visualisations are) and each column
    has a colorbar under it showing the scale (``0`` to ``1`` of the ``percentile`` clip, or
    ``-1`` to ``1`` if ``signed``).

    The figure is built with matplotlib's object-oriented API and drawn by its own
    ``FigureCanvasAgg``: the backend, ``rcParams`` and pyplot's figure list are left untouched.
    In a notebook, ``display(fig)`` (or returning ``fig`` as a cell's value) shows it inline;
    ``fig.savefig(path)`` writes it and :func:`figure_to_array` renders it to pixels.

    Args:
      images: ``[B, H, W, C]`` (or ``[B, H, W]``) inputs, shown in the first column.
      columns: ordered mapping ``title -> masks [B, ...]`` (one column per method).
      row_labels: optional ``B`` strings shown left of each row (e.g. "label 3 / pred 3").
      notes: optional mapping ``title -> B strings`` printed under each cell (e.g. "δ=0.01").
      signed: diverging maps (red positive, blue negative) instead of magnitudes.
      percentile: saturation percentile (see :func:`heatmap`).
      title: figure title.
      cell_size: inches per cell; the figure is ``cell_size * (1 + len(columns))`` inches wide
        and ``cell_size * (B + 0.15) + 0.9`` inches high.
      dpi: the figure's resolution (dots per inch).

    Returns:
      A :class:`matplotlib.figure.Figure` with a ``FigureCanvasAgg`` canvas, not registered with
      pyplot (no ``plt.close`` needed).

    Raises:
      ValueError: no columns; masks whose batch size differs from ``images``; labels or notes of
        the wrong length; bad images or masks.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    imgs = np.asarray(images)
    if imgs.ndim not in (3, 4) or imgs.shape[0] == 0:
        raise ValueError(f"images: expected a non-empty batch [B, H, W(, C)], received shape "
                         f"{imgs.shape}")
    if not columns:
        raise ValueError("columns: expected at least one method column (title -> masks)")
    b = imgs.shape[0]
    for name, masks in columns.items():
        if np.shape(masks)[0] != b:
            raise ValueError(f"columns[{name!r}]: expected {b} masks (one per image), received "
                             f"{np.shape(masks)[0]}")
    if row_labels is not None and len(row_labels) != b:
        raise ValueError(f"row_labels: expected {b} labels, received {len(row_labels)}")
    notes = dict(notes or {})
    for name, n in notes.items():
        if name not in columns:
            raise ValueError(f"notes: key {name!r} is not a column; columns are {list(columns)}")
        if len(n) != b:
            raise ValueError(f"notes[{name!r}]: expected {b} strings, received {len(n)}")
    ncols = 1 + len(columns)
    fig = Figure(figsize=(cell_size * ncols, cell_size * (b + 0.15) + 0.9), dpi=dpi)
    FigureCanvasAgg(fig)
    grid = fig.add_gridspec(b + 1, ncols, height_ratios=[1.0] * b + [0.07], hspace=0.35,
                            wspace=0.18)
    axes = np.empty((b, ncols), dtype=object)
    cmap = DIVERGING_CMAP if signed else GRAY_CMAP
    vmin = -1.0 if signed else 0.0
    last_im = [None] * ncols
    for i in range(b):
        ax = axes[i, 0] = fig.add_subplot(grid[i, 0])
        ax.imshow(_as_image(imgs[i]), interpolation="nearest")
        if i == 0:
            ax.set_title("input", fontsize=9)
        if row_labels is not None:
            ax.set_ylabel(row_labels[i], fontsize=8)
        for j, (name, masks) in enumerate(columns.items(), start=1):
            ax = axes[i, j] = fig.add_subplot(grid[i, j])
            heat = heatmap(np.asarray(masks[i]), signed=signed, percentile=percentile)
            last_im[j] = ax.imshow(heat, cmap=cmap, vmin=vmin, vmax=1.0, interpolation="nearest")
            if i == 0:
                ax.set_title(name, fontsize=9)
            if name in notes:
                ax.set_xlabel(notes[name][i], fontsize=7, labelpad=2)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    label_ax = fig.add_subplot(grid[b, 0])
    label_ax.axis("off")
    label_ax.text(1.0, 0.5, "scale:", ha="right", va="center", fontsize=7,
                  transform=label_ax.transAxes)
    for j in range(1, ncols):
        cbar = fig.colorbar(last_im[j], cax=fig.add_subplot(grid[b, j]),
                            orientation="horizontal")
        cbar.ax.tick_params(labelsize=6)
        cbar.set_ticks([vmin, 0.5 * (vmin + 1.0), 1.0])
    if title:
        fig.suptitle(title, fontsize=10)
    return fig


def figure_to_array(fig: "Figure") -> np.ndarray:
    """Renders a matplotlib figure to pixels with the Agg renderer (no backend switch, no pyplot).

    Args:
      fig: a :class:`matplotlib.figure.Figure`, e.g. from :func:`gallery`. A figure whose canvas
        is not a ``FigureCanvasAgg`` is drawn on a temporary one and keeps its own canvas.

    Returns:
      uint8 RGBA ``[height, width, 4]``: the whole figure (no tight crop) at its dpi, i.e. its
      size in inches times ``fig.dpi``, truncated to whole pixels as Agg does.

    Raises:
      TypeError: ``fig`` is not a matplotlib figure.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    if not isinstance(fig, Figure):
        raise TypeError(f"fig: expected a matplotlib.figure.Figure, received "
                        f"{type(fig).__name__}")
    original = fig.canvas
    canvas = original if isinstance(original, FigureCanvasAgg) else FigureCanvasAgg(fig)
    try:
        canvas.draw()
        return np.array(canvas.buffer_rgba(), dtype=np.uint8)
    finally:
        if canvas is not original:
            fig.set_canvas(original)


def save_gallery(images, columns: Mapping[str, np.ndarray], path, row_labels=None,
                 notes: Optional[Mapping[str, Sequence[str]]] = None, signed: bool = False,
                 percentile: float = 99, title: Optional[str] = None, cell_size: float = 1.9,
                 dpi: int = 110) -> Path:
    """Writes a grid of heatmaps (rows: inputs; columns: the input, then one per method) as PNG.

    Draws :func:`gallery` and saves it at ``dpi`` with a tight bounding box (margins cropped);
    the figure is not kept and no global matplotlib state is changed.

    Args:
      images: ``[B, H, W, C]`` (or ``[B, H, W]``) inputs, shown in the first column.
      columns: ordered mapping ``title -> masks [B, ...]`` (one column per method).
      path: output PNG path; parent directories are created.
      row_labels: optional ``B`` strings shown left of each row (e.g. "label 3 / pred 3").
      notes: optional mapping ``title -> B strings`` printed under each cell (e.g. "δ=0.01").
      signed: diverging maps (red positive, blue negative) instead of magnitudes.
      percentile: saturation percentile (see :func:`heatmap`).
      title: figure title.
      cell_size: inches per cell.
      dpi: resolution.

    Returns:
      The written path.

    Raises:
      ValueError: no columns; masks whose batch size differs from ``images``; labels or notes of
        the wrong length; bad images or masks (see :func:`gallery`).
    """
    fig = gallery(images, columns, row_labels=row_labels, notes=notes, signed=signed,
                  percentile=percentile, title=title, cell_size=cell_size, dpi=dpi)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi, bbox_inches="tight")
    return path


__all__ = ["reduce_channels", "heatmap", "colorize", "overlay", "resize", "heatmap_image",
           "save_heatmap", "gallery", "figure_to_array", "save_gallery", "CHANNEL_REDUCTIONS"]
