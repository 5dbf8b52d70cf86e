"""persam: one-shot personalized segmentation on the Segment Anything Model (PerSAM, PerSAM-F)."""

__version__ = "0.1.0"
