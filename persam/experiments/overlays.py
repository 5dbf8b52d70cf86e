"""Moved to :mod:`persam.drawing`. Kept only for the modules that still import it from here (persam/cli.py,
persam/cli_clicks.py, persam/segment_images.py, persam/app/engine.py, persam/dreambooth/instance_masks.py, being
moved elsewhere meanwhile): delete it once they import :mod:`persam.drawing`."""

from persam.drawing import overlay, overlay_labels, write_image

__all__ = ["overlay", "overlay_labels", "write_image"]
