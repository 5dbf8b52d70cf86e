"""Where result rows go besides ``results.csv``: nowhere more (``logger=csv``) or Weights & Biases.

W&B runs offline unless the user has configured an account (``WANDB_API_KEY`` set or ``wandb login``
done) or sets ``logger.mode=online``; offline runs land in ``<run dir>/wandb`` and can be synced later
with ``wandb sync``.
"""

from __future__ import annotations

import os
from pathlib import Path

from omegaconf import DictConfig, OmegaConf


def _wandb_mode(requested: str | None) -> str:
    if requested:
        return requested
    if os.environ.get("WANDB_MODE"):
        return os.environ["WANDB_MODE"]
    has_key = bool(os.environ.get("WANDB_API_KEY")) or (Path.home() / ".netrc").is_file()
    return "online" if has_key else "offline"


def log_rows(cfg: DictConfig, out_dir: Path, rows: list[dict]) -> None:
    if cfg.logger.name == "csv":
        return  # results.csv is always written by the evaluation itself
    if cfg.logger.name != "wandb":
        raise ValueError(f"unknown logger {cfg.logger.name!r}; use csv or wandb")
    import pandas as pd
    import wandb

    run = wandb.init(
        project=cfg.logger.project,
        entity=cfg.logger.entity,
        group=cfg.logger.group or cfg.experiment_name,
        name=f"{cfg.method.name}-{cfg.model.name}-{cfg.dataset.name}",
        job_type=cfg.experiment_name,
        mode=_wandb_mode(cfg.logger.mode),
        dir=str(out_dir),
        config=OmegaConf.to_container(cfg, resolve=True),
        reinit="finish_previous",
    )
    try:
        run.log({"results": wandb.Table(dataframe=pd.DataFrame(rows))})
        run.summary.update({r["metric"]: r["value"] for r in rows if r["item"] == "ALL"})
        overlays = sorted((out_dir / "overlays").glob("*/*.jpg"))[: cfg.logger.max_images]
        if overlays:
            run.log({"overlays": [wandb.Image(str(p), caption=f"{p.parent.name}/{p.stem}") for p in overlays]})
    finally:
        run.finish()


def log_table(name: str, table, out_dir: Path, project: str = "persam", mode: str | None = None) -> None:
    """Log a generated table and the PNG figures beside it as one W&B run (group = the table's name)."""
    import wandb

    run = wandb.init(project=project, group=name, job_type="table", name=f"{name}-{out_dir.name}",
                     mode=_wandb_mode(mode), dir=str(out_dir), reinit="finish_previous")
    try:
        run.log({name: wandb.Table(dataframe=table.astype(str))})
        run.log({p.stem: wandb.Image(str(p)) for p in sorted(out_dir.glob("*.png"))})
    finally:
        run.finish()
