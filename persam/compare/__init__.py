"""``persam compare``: a method config (from the package or from ``hydra.searchpath``) run on the benchmark sets
under the baselines' own protocol, then its paired verdicts against every committed baseline, beside a forest plot.

    persam compare method=my_persam "hydra.searchpath=[file://my_configs]"
    persam compare method=my_persam --results results/table1 --datasets davis_perseg --out outputs/compare/mine

The benchmark sets are the dataset folders of ``--results`` (default ``results/table1``: Table 1's committed
rows); each set's baselines are the methods of its ``results.csv`` (:mod:`persam.compare.baselines`). The variant
runs through ``python -m persam.run``, the one experiment path, with the dataset settings the baselines' provenance
records, one run folder per set under ``<out>/runs/`` (a rerun resumes it; :mod:`persam.compare.variant_runs`).
The verdicts are :func:`persam.tables.verdicts.compare`'s (:mod:`persam.compare.report`), printed and written to
``<out>/verdicts.csv`` and ``<out>/README.md``, with ``<out>/forest.png`` (:mod:`persam.tables.forest`).
"""
