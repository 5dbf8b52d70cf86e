"""Published numbers shown beside ours as labelled reference rows (never mixed with measured rows)."""

# Table 1 of the paper (PerSeg, 40 objects, SAM ViT-H): mIoU / bIoU; we compare mIoU.
PAPER_TABLE1 = {
    "PerSAM": {"model": "vit_h", "miou": 89.3},
    "PerSAM-F": {"model": "vit_h", "miou": 95.3},
}

# The original PerSAM code run with MobileSAM (vit_t) on the 3-object PerSeg subset in ../shared/data
# (cat, colorful_sneaker, duck_toy), as stated in issue #2 of this project.
ORIGINAL_CODE_VIT_T_SUBSET = {
    "PerSAM": {"model": "vit_t", "miou": 94.49},
    "PerSAM-F": {"model": "vit_t", "miou": 94.92},
}
