"""Progress bars for long work: a tqdm bar on stderr, off by itself when stderr is not a
terminal (logs, CI, captured output) or when the caller passes ``progress=False``.

Every long loop of tfpath (method calls over input batches, the evaluation runner, the metrics,
VAE and GLAM-CLUE training, LPI's offline stage, the CLI) takes ``progress=None | True |
False``: None (the default) shows a bar only on a terminal, True always, False never.
"""
from __future__ import annotations

import contextlib
import sys
from typing import Optional

# > 0 while a caller that shows its own bar runs inner work (see :func:`quiet`)
_QUIET = [0]


@contextlib.contextmanager
def quiet():
    """Within the block, bars asked for with ``progress=None`` stay off (a caller that shows
    its own bar, e.g. :func:`tfpath.explain_dataset`, runs methods inside it); bars asked for
    with ``progress=True`` still show. Applies to every thread (per-replica threads of a
    ``tf.distribute`` strategy included).

    Returns:
      A context manager.
    """
    _QUIET[0] += 1
    try:
        yield
    finally:
        _QUIET[0] -= 1


def wanted(progress: Optional[bool], stream=None) -> bool:
    """Whether to show a bar: ``progress`` if given, else whether ``stream`` (default stderr)
    is a terminal.

    Args:
      progress: None (auto), True or False.
      stream: the stream the bar would be written to.

    Returns:
      bool.

    Raises:
      TypeError naming ``progress``: not None or a bool.
    """
    if progress is None:
        if _QUIET[0]:
            return False
        stream = stream or sys.stderr
        isatty = getattr(stream, "isatty", None)
        return bool(isatty and isatty())
    if not isinstance(progress, bool):
        raise TypeError(f"progress: expected None (a bar on a terminal), True or False, "
                        f"received {progress!r}")
    return progress


class Progress:
    """A progress bar (tqdm) over ``total`` steps, silent when disabled.

    Args:
      total: the number of steps (at least 1), or None when unknown.
      label: text in front of the bar.
      enabled: None (a bar only when ``stream`` is a terminal), True or False.
      stream: where to write; default ``sys.stderr``.
      unit: the unit of a step (shown with the rate, e.g. "image" gives image/s).

    Raises:
      TypeError / ValueError: ``total`` is not convertible to an int; a bad ``enabled``.
    """

    def __init__(self, total, label="", enabled=None, stream=None, unit="it"):
        self.total = None if total is None else max(int(total), 1)
        self.label = label
        self.stream = stream or sys.stderr
        self.enabled = wanted(enabled, self.stream)
        self.done = 0
        self._bar = None
        if self.enabled:
            from tqdm.auto import tqdm
            self._bar = tqdm(total=self.total, desc=label, file=self.stream, unit=unit,
                             leave=True, dynamic_ncols=True)

    def update(self, step=1, note=""):
        """Advances by ``step`` and shows ``note`` after the bar.

        Args:
          step: steps done since the last update.
          note: a short text shown after the counter.

        Returns:
          None.
        """
        self.done += step
        if self._bar is not None:
            if note:
                self._bar.set_postfix_str(note, refresh=False)
            self._bar.update(step)

    def close(self):
        """Ends the bar.

        Returns:
          None.
        """
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False
