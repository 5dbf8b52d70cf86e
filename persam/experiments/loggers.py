"""Where result rows go besides ``results.csv``: nowhere more (``logger=csv``) or Weights & Biases.

W&B runs offline unless the user has configured an account (``WANDB_API_KEY`` set or ``wandb login``
done) or sets ``logger.mode=online``; offline runs land in ``<run dir>/wandb`` and can be synced later
with ``wandb sync``.

Grouping: every job of one Hydra multirun (a sweep, on this machine or as SLURM jobs sharing the sweep folder)
logs into one W&B group, named once by the first job (``<sweep dir>/wandb_group.txt``, created atomically) and
read by the others; a single run is its own group; ``logger.group`` overrides both. Each run folder records its
group (``wandb_group.txt``), so ``python -m persam.tables TABLE RUNS --wandb`` logs the table built from a sweep
once, into the sweep's group.
"""

from __future__ import annotations

import datetime as dt
import os
import tempfile
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

GROUP_FILE = "wandb_group.txt"


def _wandb_mode(requested: str | None) -> str:
    if requested:
        return requested
    if os.environ.get("WANDB_MODE"):
        return os.environ["WANDB_MODE"]
    has_key = bool(os.environ.get("WANDB_API_KEY")) or (Path.home() / ".netrc").is_file()
    return "online" if has_key else "offline"


def _sweep_dir() -> Path | None:
    """The folder of the Hydra multirun this job belongs to, or None outside a multirun."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    if not HydraConfig.initialized() or HydraConfig.get().mode != RunMode.MULTIRUN:
        return None
    return Path(HydraConfig.get().sweep.dir).resolve()


def shared_name(path: Path, proposal: str) -> str:
    """The name in ``path``, written as ``proposal`` by whichever process comes first. A hard link of a complete
    temporary file is atomic (also on NFS) and fails when ``path`` exists, so no lock file is ever left behind."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-group-")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(proposal + "\n")
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass
    finally:
        os.remove(tmp)
    return path.read_text().strip()


def wandb_group(cfg: DictConfig, out_dir: Path) -> str:
    """This run's W&B group: ``logger.group``, else one per multirun, else one per run (see module doc)."""
    if cfg.logger.group:
        return str(cfg.logger.group)
    sweep = _sweep_dir()
    if sweep is None:
        return f"{cfg.experiment_name}-{out_dir.name}"
    started = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    return shared_name(sweep / GROUP_FILE, f"{cfg.experiment_name}-{sweep.name}-{started}")


def log_rows(cfg: DictConfig, out_dir: Path, rows: list[dict]) -> None:
    if cfg.logger.name == "csv":
        return  # results.csv is always written by the evaluation itself
    if cfg.logger.name != "wandb":
        raise ValueError(f"unknown logger {cfg.logger.name!r}; use csv or wandb")
    import pandas as pd
    import wandb

    from persam.atomic import write_atomic

    group = wandb_group(cfg, out_dir)
    write_atomic(out_dir / GROUP_FILE, group + "\n")
    run = wandb.init(
        project=cfg.logger.project,
        entity=cfg.logger.entity,
        group=group,
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


def runs_group(runs: list[Path]) -> str | None:
    """The one W&B group the runs logged into (their ``wandb_group.txt``), or None when they have none or several."""
    groups = {(run / GROUP_FILE).read_text().strip() for run in runs if (run / GROUP_FILE).is_file()}
    return groups.pop() if len(groups) == 1 else None


def log_table(name: str, table, out_dir: Path, runs: list[Path] = (), project: str = "persam",
              mode: str | None = None) -> str:
    """Log a generated table and the PNG figures beside it as one W&B run, in the group of the runs it was built
    from when they share one (a sweep's), else in a group named after the table. Returns the group."""
    import wandb

    group = runs_group(list(runs)) or name
    run = wandb.init(project=project, group=group, job_type="table", name=f"{name}-{out_dir.name}",
                     mode=_wandb_mode(mode), dir=str(out_dir), reinit="finish_previous",
                     config={"table": name, "runs": [str(r) for r in runs]})
    try:
        run.log({name: wandb.Table(dataframe=table.astype(str))})
        run.log({p.stem: wandb.Image(str(p)) for p in sorted(out_dir.glob("*.png"))})
    finally:
        run.finish()
    return group
