"""Deterministic dataset shards, so one table can be a job array: shard i of n takes the sorted items
i, i + n, i + 2n, ... Every item lands in exactly one shard, whatever order the folder lists them in."""

from __future__ import annotations


def shard_items(items: list[str], shard: int = 0, num_shards: int = 1) -> list[str]:
    if num_shards < 1 or not 0 <= shard < num_shards:
        raise ValueError(f"dataset.shard must be in [0, dataset.num_shards), got shard={shard}, num_shards={num_shards}")
    return sorted(items)[shard::num_shards]
