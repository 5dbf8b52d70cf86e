"""Photos and frames that cannot be read: the one place where the batches (``persam segment``, ``persam track``,
the app's runs, ``persam dreambooth-masks``) read an input image or record why not, so that one bad file costs
its own mask only. The commands list the skipped files (:func:`skipped_lines`) and exit with
:data:`SKIPPED_EXIT_CODE`; ``scores.csv`` gives each a row (:mod:`persam.segment.folder`).

A reference (image or mask) is never skipped: without it nothing can be segmented, so it stops the run with
its one-line :class:`persam.data.io.DataError`.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from persam.data.io import UnreadableImageError, read_image

SKIPPED_EXIT_CODE = 3  # the run finished, but some inputs were skipped (2: a mistake stopped it)


@dataclass(frozen=True)
class Skipped:
    """An input that got no mask: its name as the outputs give it (``a/notes.jpg``) and why."""

    file: str
    reason: str


def read_or_skip(path: str | os.PathLike, file: str, skipped: list[Skipped]) -> np.ndarray | None:
    """The image of ``path`` (:func:`persam.data.io.read_image`), or None with ``Skipped(file, reason)``
    appended to ``skipped`` when it cannot be read."""
    try:
        return read_image(path)
    except UnreadableImageError as err:
        skipped.append(Skipped(file, err.reason))
        return None


def skipped_lines(skipped: Sequence[Skipped]) -> list[str]:
    """What a command prints about its skipped inputs: a heading, then one line per file with its reason."""
    if not skipped:
        return []
    return [f"skipped ({len(skipped)}, no mask):", *(f"  {s.file}: {s.reason}" for s in skipped)]
