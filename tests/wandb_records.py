"""Read the records of an offline W&B run (``run-<id>.wandb``) back, to check what a run logged.

The file is a 7-byte W&B header followed by a LevelDB-style log: 32 KiB blocks of chunks, each with a 7-byte
header (CRC32C, length, type: 1 full, 2 first, 3 middle, 4 last); a record is one protobuf ``Record``.
"""

from __future__ import annotations

import struct
from pathlib import Path

from wandb.proto import wandb_internal_pb2

BLOCK = 32 * 1024
HEADER = 7


def records(path: Path) -> list[wandb_internal_pb2.Record]:
    data = path.read_bytes()
    assert data[:4] == b":W&B", f"{path}: not a W&B run file"
    pos, out, pending = HEADER, [], b""
    while pos + HEADER <= len(data):
        if BLOCK - pos % BLOCK < HEADER:  # a block's tail too short for a header is padding
            pos += BLOCK - pos % BLOCK
            continue
        _, length, kind = struct.unpack("<IHB", data[pos:pos + HEADER])
        chunk = data[pos + HEADER:pos + HEADER + length]
        pos += HEADER + length
        if kind == 1:
            out.append(chunk)
        elif kind == 2:
            pending = chunk
        elif kind == 3:
            pending += chunk
        elif kind == 4:
            out.append(pending + chunk)
    parsed = []
    for raw in out:
        record = wandb_internal_pb2.Record()
        record.ParseFromString(raw)
        parsed.append(record)
    return parsed


def run_info(run_dir: Path) -> dict:
    """Group, job type and name of the offline run in ``run_dir`` (a ``wandb/offline-run-*`` folder)."""
    (path,) = run_dir.glob("run-*.wandb")
    run = next(r.run for r in records(path) if r.WhichOneof("record_type") == "run")
    return {"group": run.run_group, "job_type": run.job_type, "name": run.display_name}


def offline_runs(root: Path) -> list[dict]:
    """Every offline W&B run under ``root``, with its folder."""
    return [{**run_info(d), "dir": d} for d in sorted(root.rglob("offline-run-*")) if d.is_dir()]
