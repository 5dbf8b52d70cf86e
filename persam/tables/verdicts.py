"""Intervals and paired verdicts for the tables, from the runs' per-object rows (:mod:`persam.metrics.bootstrap`).

Every mean a table shows (mIoU, J&F ...) is a mean over objects of a per-object row (:data:`PER_OBJECT`), so its
interval and every comparison are computed from those rows, never from two printed means. A row's *condition*
is what must match for two methods to be compared: dataset, model, reference corruption, number of references,
reference protocol (``fixed`` or ``rotate``), and the setting (:func:`setting_of`, from the rows' columns
``second_opinion``, ``presence``, ``max_instances`` and ``task``; a label is never read).
``pooled=True`` joins the datasets: each object is ``<dataset>/<object>`` and the condition drops the dataset.

Table CSVs carry ``<column> ci_low`` and ``<column> ci_high`` beside every column with an interval;
:func:`persam.tables.text.markdown` prints them as ``77.97 [71.2, 84.1]``, and
:func:`persam.tables.text.verdict_section` prints the comparisons. Each call of :func:`compare`,
:func:`compare_shots` or :func:`compare_checks` is one family (a table section): its verdicts are Holm-corrected
within it (:func:`judge`, :mod:`persam.metrics.paired_test`).
"""

from __future__ import annotations

import pandas as pd

from persam.metrics import paired_test
from persam.metrics.bootstrap import bootstrap_ci, ratio_bootstrap_ci
from persam.metrics.paired_test import BETTER, EQUIVALENT, MARGIN, TOO_FEW, UNDECIDED, WORSE, paired

# A summary metric (item ALL) -> the per-object metric it is the mean of.
PER_OBJECT = {"miou": "iou", "miou_pos": "iou_pos", "miou_unchecked": "iou_unchecked", "miou_union": "iou_union",
              "miou_single": "iou_single", "J&F": "J&F"}
# A pooled ratio a table shows (``ALL``: summed counts) -> its per-object numerator and denominator counts.
POOLED_RATIO = {"recall": ("instances_matched", "instances_true"),
                "precision": ("instances_matched", "instances_predicted")}
CONDITION = ["dataset", "model", "corruption", "shots", "protocol", "setting"]
# The columns of a row's setting, with the value of rows written before the column existed (neutral).
SETTING_COLUMNS = {"task": "images", "second_opinion": "none", "presence": False, "max_instances": 1}
CHECKS = ("second_opinion=", "presence=")  # the setting parts that say how presence was decided
LOW, HIGH = " ci_low", " ci_high"


def _j_and_f(objects: pd.DataFrame) -> pd.DataFrame:
    """Per-object J&F, the mean of the object's J and F (DAVIS's J&F is the mean of the two means, so the mean of
    these), for video rows that record J and F per object only."""
    keys = [c for c in objects.columns if c not in ("metric", "value")]
    j = objects[objects["metric"] == "J"].set_index(keys)["value"]
    f = objects[objects["metric"] == "F"].set_index(keys)["value"]
    return ((j + f) / 2).dropna().rename("value").reset_index().assign(metric="J&F")


def per_object(rows: pd.DataFrame, metric: str, pooled: bool = False) -> pd.DataFrame:
    """The per-object rows of ``metric`` with their ``setting``; ``pooled``: objects named ``<dataset>/<object>``."""
    objects = rows[rows["item"] != "ALL"]
    found = objects[objects["metric"] == metric].copy()
    if found.empty and metric == "J&F":
        found = _j_and_f(objects[objects["metric"].isin(["J", "F"])])
    found["protocol"] = found["protocol"].fillna("fixed") if "protocol" in found else "fixed"  # rows before rotation
    found["setting"] = settings(found)
    if pooled:
        found["item"] = found["dataset"] + "/" + found["item"].astype(str)
        found["dataset"] = "pooled"
    return found


def setting_of(task: str, second_opinion: str, presence: bool, max_instances: int) -> str:
    """The setting of a row with these columns (rows compare only within one setting): its second opinion, the
    presence check (not in the presence task, which always checks), then ``max_instances`` (in the instances task,
    or where it is not 1), e.g. ``second_opinion=efficientnet_lite0, presence=on, max_instances=3``; empty for a
    method as its config runs it."""
    parts = []
    if second_opinion != "none":
        parts.append(f"second_opinion={second_opinion}")
    if presence and task != "presence":
        parts.append("presence=on")
    if task == "instances" or int(max_instances) != 1:
        parts.append(f"max_instances={int(max_instances)}")
    return ", ".join(parts)


def setting_columns(rows: pd.DataFrame) -> pd.DataFrame:
    """The rows' setting columns, neutral values where a row or the frame lacks one."""
    return pd.DataFrame({c: (rows[c] if c in rows else pd.Series(d, index=rows.index)).fillna(d).astype(type(d))
                         for c, d in SETTING_COLUMNS.items()}, index=rows.index)


def settings(rows: pd.DataFrame) -> pd.Series:
    """Each row's :func:`setting_of`."""
    columns = setting_columns(rows)
    return pd.Series([setting_of(*values) for values in zip(*(columns[c] for c in SETTING_COLUMNS), strict=True)],
                     index=rows.index, dtype=object)


def without_checks(setting: str) -> str:
    """The setting with how presence was decided left out: the same method without the check."""
    return ", ".join(p for p in setting.split(", ") if p and not p.startswith(CHECKS))


def interval(values) -> dict[str, float]:
    """``{" ci_low": .., " ci_high": ..}`` (suffixes, to be prefixed with the column's name), rounded to 2."""
    low, high = bootstrap_ci(list(values))
    return {LOW: round(low, 2), HIGH: round(high, 2)}


def ratio_interval(rows: pd.DataFrame, metric: str) -> dict[str, float]:
    """The interval (in percent, suffixes as :func:`interval`) of the pooled ratio ``metric`` of one run's rows,
    from its per-object counts (:data:`POOLED_RATIO`); {} for rows without them (runs made before they were
    written)."""
    top, bottom = POOLED_RATIO[metric]
    counts = rows[rows["item"] != "ALL"].pivot_table(index="item", columns="metric", values="value")
    if top not in counts or bottom not in counts:
        return {}
    low, high = ratio_bootstrap_ci(counts[top], counts[bottom])
    return {LOW: round(100 * low, 2), HIGH: round(100 * high, 2)}


def with_interval(column: str, values) -> dict:
    """The mean of the per-object ``values`` as ``column`` and its interval as ``column ci_low / ci_high``."""
    values = list(values)
    if not values:
        return {}
    mean = sum(values) / len(values)
    return {column: round(mean, 2), **{column + k: v for k, v in interval(values).items()}}


def _pairs(variant: pd.DataFrame, base: pd.DataFrame) -> tuple[list[float], list[float]]:
    a, b = variant.set_index("item")["value"], base.set_index("item")["value"]
    common = [i for i in a.index if i in b.index]
    return [float(a[i]) for i in common], [float(b[i]) for i in common]


def _row(condition: dict, method: str, label: str, baseline: str, a: list[float], b: list[float]) -> dict:
    """One comparison, not yet judged (:func:`judge` decides it within its family)."""
    c = paired(a, b)
    return {**condition, "method": label, "key": method, "baseline": baseline, "objects": c.n,
            "difference": round(c.mean_difference, 2), "wins": c.wins, "ties": c.ties, "losses": c.losses,
            "comparison": c}


def _bound(value: float):
    return round(value, 2) if abs(value) != float("inf") else None


def judge(family: pd.DataFrame, margin: float = MARGIN) -> pd.DataFrame:
    """The family's comparisons decided with Holm's correction within it (:func:`persam.metrics.paired_test.holm`):
    ``level`` (the two-sided level each is decided at), ``ci_low``/``ci_high`` (the interval at that level; empty:
    unbounded, or too few objects), ``margin`` and ``verdict`` (better, worse, equivalent, undecided, too few)."""
    if family.empty:
        return family
    comparisons = list(family["comparison"])
    levels = paired_test.holm(comparisons, margin=margin)
    bounds = [c.interval(level) if level == level else (float("inf"), float("inf"))
              for c, level in zip(comparisons, levels, strict=True)]
    return family.assign(level=levels, ci_low=[_bound(lo) for lo, _ in bounds],
                         ci_high=[_bound(hi) for _, hi in bounds], margin=margin,
                         verdict=[paired_test.decide(c, level, margin) if level == level else TOO_FEW
                                  for c, level in zip(comparisons, levels, strict=True)])


def compare(rows: pd.DataFrame, metric: str, baseline: str, pooled: bool = False, margin: float = MARGIN,
            judged: bool = True) -> pd.DataFrame:
    """Every variant against ``baseline`` (a method key or label) under each condition, on the objects both ran.

    One row per (condition, variant): the condition's columns, ``method`` (label), ``key``, ``baseline`` (its
    label), ``objects``, ``difference`` (mean, points), ``wins``, ``ties``, ``losses``, ``comparison`` (the
    :class:`~persam.metrics.paired_test.Comparison`) and, ``judged`` as one family (:func:`judge`), ``level``,
    ``ci_low``/``ci_high``, ``margin`` and ``verdict``. Conditions without the baseline are left out."""
    found = per_object(rows, metric, pooled)
    out = []
    for values, group in found.groupby(CONDITION, sort=False):
        condition = dict(zip(CONDITION, values, strict=True))
        base = group[(group["method"] == baseline) | (group["label"] == baseline)]
        if base.empty:
            continue
        base_label = base["label"].iloc[0]
        base = base[base["label"] == base_label]
        for (method, label), variant in group.groupby(["method", "label"], sort=False):
            if label == base_label:
                continue
            a, b = _pairs(variant, base)
            if a:
                out.append(_row(condition, method, label, base_label, a, b))
    return judge(pd.DataFrame(out), margin) if judged else pd.DataFrame(out)


def compare_shots(rows: pd.DataFrame, metric: str, margin: float = MARGIN) -> pd.DataFrame:
    """Each method with k references against itself with one (the few-shot question: do references add up?), judged
    as one family."""
    found = per_object(rows, metric)
    out = []
    keys = [c for c in CONDITION if c != "shots"]
    for values, group in found.groupby([*keys, "method"], sort=False):
        condition = dict(zip(keys, values[:-1], strict=True))
        one = group[group["shots"] == 1]
        if one.empty:
            continue
        for shots, variant in group[group["shots"] != 1].groupby("shots", sort=True):
            a, b = _pairs(variant, one)
            label = variant["label"].iloc[0]
            if a:
                out.append({**_row({**condition, "shots": int(shots)}, values[-1], label, f"{label}, k=1", a, b)})
    return judge(pd.DataFrame(out), margin)


def compare_checks(rows: pd.DataFrame, metric: str, margin: float = MARGIN) -> pd.DataFrame:
    """Each method with a presence check or second opinion against the same method without (the setting with
    those parts left out), under each other condition, on the objects both ran; judged as one family."""
    found = per_object(rows, metric)
    found["plain"] = found["setting"].map(without_checks)
    out = []
    keys = [c for c in CONDITION if c != "setting"]
    for values, group in found.groupby([*keys, "method"], sort=False):
        condition = dict(zip(keys, values[:-1], strict=True))
        for setting, variant in group[group["setting"] != group["plain"]].groupby("setting", sort=False):
            plain = variant["plain"].iloc[0]
            base = group[group["setting"] == plain]
            a, b = _pairs(variant, base)
            if a:
                label, base_label = variant["label"].iloc[0], base["label"].iloc[0]
                out.append(_row({**condition, "setting": setting}, values[-1], label, base_label, a, b))
    return judge(pd.DataFrame(out), margin)


def varying(comparisons: pd.DataFrame) -> list[str]:
    """The condition columns whose value differs between rows (the ones worth printing)."""
    return [c for c in CONDITION if c in comparisons and comparisons[c].nunique() > 1]


def claims(comparisons: pd.DataFrame, baseline: str) -> str:
    """One sentence of claims, each from a Holm-corrected verdict of the family ``comparisons`` (:func:`judge`)."""
    if comparisons.empty:
        return ""
    shown = [c for c in varying(comparisons) if c != "setting"]  # a row's label already names its setting

    def name(row) -> str:
        where = ", ".join(f"k={row[c]}" if c == "shots" else str(row[c]) for c in shown)
        return f"{row['method']}" + (f" ({where})" if where else "")

    margin = float(comparisons["margin"].iloc[0])
    says = {BETTER: f"better than {baseline}", WORSE: f"worse than {baseline}",
            EQUIVALENT: f"equivalent to {baseline} within {margin:g} points",
            UNDECIDED: f"undecided against {baseline} (neither a difference nor equivalence within {margin:g} points "
                       "shown)", TOO_FEW: f"no verdict, {TOO_FEW}"}
    parts = []
    for verdict, text in says.items():
        names = [name(r) for _, r in comparisons[comparisons["verdict"] == verdict].iterrows()]
        if names:
            parts.append(f"{text}: {'; '.join(names)}")
    tested = int(comparisons["verdict"].ne(TOO_FEW).sum())
    return (f"Paired verdicts, per object, Holm-corrected within this family of {tested} comparison"
            f"{'' if tested == 1 else 's'} (familywise 5%; margin {margin:g} points): "
            + ". ".join(p[0].upper() + p[1:] for p in parts) + ".")


def baseline_of(rows: pd.DataFrame, preferred: str) -> str:
    """The table's baseline method: ``preferred`` where the rows have it, else the first method they hold."""
    methods = list(dict.fromkeys(rows["method"]))
    return preferred if preferred in methods else methods[0]
