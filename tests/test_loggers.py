"""logger=wandb writes a real (offline) Weights & Biases run with the result rows and the overlays."""

from __future__ import annotations

import json

import numpy as np
from PIL import Image
from test_run import make_cfg

from persam.experiments.loggers import log_rows


def test_wandb_offline_run_holds_rows_and_images(tmp_path, monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    cfg = make_cfg("logger=wandb", "experiment_name=test")
    overlay_dir = tmp_path / "overlays" / "cat"
    overlay_dir.mkdir(parents=True)
    Image.fromarray(np.zeros((8, 8, 3), dtype=np.uint8)).save(overlay_dir / "01.jpg")
    rows = [{"experiment": "test", "dataset": "perseg", "subset": "s", "method": "persam", "label": "PerSAM",
             "model": "vit_t", "item": "ALL", "metric": "miou", "value": 94.5}]
    log_rows(cfg, tmp_path, rows)
    runs = list((tmp_path / "wandb").glob("offline-run-*"))
    assert len(runs) == 1
    files = [p for p in runs[0].rglob("*") if p.is_file()]
    assert any(p.name.endswith(".wandb") for p in files)
    tables = [p for p in files if p.name.startswith("results") and p.name.endswith(".table.json")]
    assert len(tables) == 1
    logged = json.loads(tables[0].read_text())
    assert "metric" in logged["columns"] and "value" in logged["columns"]
    assert logged["data"][0][logged["columns"].index("value")] == 94.5
    images = [p for p in files if p.suffix in (".jpg", ".jpeg", ".png") and "overlays" in str(p)]
    assert images, [str(p) for p in files]
