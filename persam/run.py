"""Hydra entry point: ``python -m persam.run method=persam dataset.root=DIR hydra.run.dir=OUT``.

Config groups (see ``persam/conf/``, :mod:`persam.config`): model, method, dataset, logger, experiment. The
work itself is :func:`persam.experiments.evaluate.evaluate`; this module only wires Hydra, logging and error
reporting.
"""

from __future__ import annotations

import sys
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from persam.allocator import keep_large_buffers
from persam.config import CONFIG_DIR
from persam.data.io import DataError
from persam.experiments.evaluate import evaluate
from persam.experiments.loggers import log_rows
from persam.methods.builder import MethodConfigError
from persam.models.checkpoints import CheckpointError


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="config")
def main(cfg: DictConfig) -> float:
    keep_large_buffers()
    out_dir = Path(HydraConfig.get().runtime.output_dir)
    try:
        rows = evaluate(cfg, out_dir)
    except (DataError, CheckpointError, MethodConfigError) as err:
        # Bad input is the user's to fix: one line naming the file, no traceback.
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)
    log_rows(cfg, out_dir, rows)
    summary = {r["metric"]: r["value"] for r in rows if r["item"] == "ALL"}
    print(f"{cfg.method.label} on {cfg.dataset.name}: " + ", ".join(f"{k} {v:.2f}" for k, v in summary.items()))
    print(f"results, masks and overlays: {out_dir}")
    return summary.get("miou", float("nan"))


if __name__ == "__main__":
    main()
