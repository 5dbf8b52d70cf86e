"""Published numbers shown beside ours as labelled reference rows (never mixed with measured rows)."""

# Table 1 of the paper (PerSeg, 40 objects, SAM ViT-H): mIoU / bIoU; we compare mIoU.
PAPER_TABLE1 = {
    "PerSAM": {"model": "vit_h", "miou": 89.3},
    "PerSAM-F": {"model": "vit_h", "miou": 95.3},
}

# The original PerSAM code run with MobileSAM (vit_t) on the data in ../shared/data, as stated in this
# project's issues: #2 for the 3-object PerSeg subset (cat, colorful_sneaker, duck_toy), #4 for davis_perseg
# (derived from the 13 DAVIS sequences by data_prep/davis_to_perseg.py).
ORIGINAL_CODE_VIT_T = {
    "perseg": {"PerSAM": 94.49, "PerSAM-F": 94.92},
    "davis_perseg": {"PerSAM": 76.23, "PerSAM-F": 86.42},
}

# Table 3 of the paper (ablation on PerSeg, SAM ViT-H): mIoU as each component is added.
PAPER_TABLE3 = [
    ("Positive location prior", 69.11),
    ("+ Negative location prior", 72.47),
    ("+ Post-refinement", 83.91),
    ("+ Target-guided attention", 85.82),
    ("+ Target-semantic prompting (PerSAM)", 89.32),
    ("+ Fine-tuning (PerSAM-F)", 95.33),
]

# Table 2 of the paper (video object segmentation, DAVIS 2017 val, 30 sequences, SAM ViT-H): J&F.
PAPER_TABLE2 = {"PerSAM": 60.3, "PerSAM-F": 71.9}

# The original PerSAM video code (persam_video.py, persam_video_f.py) run with MobileSAM (vit_t) on the 13
# DAVIS 2017 val sequences in ../shared/data/davis2017 (ImageSets/2017/val_available.txt), as stated in
# issue #3 of this project: J&F.
ORIGINAL_CODE_VIT_T_DAVIS = {
    "sequences": ["blackswan", "breakdance", "camel", "car-roundabout", "car-shadow", "cows", "dance-twirl", "dog",
                  "drift-chicane", "drift-straight", "goat", "libby", "parkour"],
    "J&F": {"PerSAM": 74.91, "PerSAM-F": 76.81},
}
