"""Segmentation metrics: PerSeg mIoU."""

from persam.metrics.miou import ObjectScore, mean_scores

__all__ = ["ObjectScore", "mean_scores"]
