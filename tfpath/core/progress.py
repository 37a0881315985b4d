"""A one-line progress display for long loops (the evaluation runner)."""
from __future__ import annotations

import sys


class Progress:
    """A one-line progress display on stderr (``\\r``-updated), silent when disabled.

    Args:
      total: the number of steps (at least 1 is shown).
      label: text in front of the counter.
      enabled: False makes every call a no-op.
      stream: where to write; default ``sys.stderr``.

    Raises:
      TypeError / ValueError: ``total`` is not convertible to an int.
    """

    def __init__(self, total, label="", enabled=True, stream=None):
        self.total, self.label, self.enabled = max(int(total), 1), label, enabled
        self.stream = stream or sys.stderr
        self.done = 0

    def update(self, step=1, note=""):
        """Advances by ``step`` and redraws the line with ``note``.

        Args:
          step: steps done since the last update.
          note: a short text shown after the counter.

        Returns:
          None.

        Raises:
          Nothing of its own (errors of ``stream.write`` propagate).
        """
        self.done += step
        if self.enabled:
            pct = 100.0 * self.done / self.total
            self.stream.write(f"\r{self.label} {self.done}/{self.total} ({pct:5.1f}%) {note:<40}")
            self.stream.flush()

    def close(self):
        """Ends the line (writes a newline if enabled).

        Returns:
          None.

        Raises:
          Nothing of its own (errors of ``stream.write`` propagate).
        """
        if self.enabled:
            self.stream.write("\n")
            self.stream.flush()
