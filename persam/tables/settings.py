"""Methods' recorded settings, and prose generated from them: what a row changes, where a default comes from.

The settings of a run are its provenance's ``method_settings`` (written by the runner: ``name``, ``label``,
``target`` (the class) and ``settings``, every effective field of the method), or for older runs the method's
Hydra config (``config.method``). Nothing here is typed per row: each sentence is derived from two settings dicts.
"""

from __future__ import annotations

from persam.tables.runs import Runs

BOOKKEEPING = {"name", "label", "video", "_target_"}
# Components that are on or off: how a sentence names them.
SWITCHES = {
    "negative_prior": "the negative location prior",
    "guided_attention": "target-guided attention",
    "semantic_prompting": "target-semantic prompting",
    "scale_fusion": "scale fusion (two fitted weights over SAM's three masks)",
    "presence": "the presence check",
}
# Settings that name what kind of method a row is: a change there is a different method, not a variant.
IDENTITY = ("_target_", "kind")
# The released PerSAM code's choice for settings that have one, and what that choice is (Zhang et al.'s
# persam.py / persam_f.py, read at the commit in reference_numbers.yaml).
ORIGINAL_CODE = {
    "attention": ("original", "the released code's attention formula"),
    "mask_pooling": ("center", "the released code's cell-centre sampling of the reference mask"),
    "fit": ("autograd", "AdamW by autograd on every pixel"),
}


def method_settings(runs: Runs) -> dict[str, dict]:
    """Method name -> its recorded settings (first run of each method)."""
    out: dict[str, dict] = {}
    for record in runs.provenances.values():
        config = (record.get("config") or {}).get("method") or {}
        recorded = record.get("method_settings") or {}
        name = recorded.get("name") or config.get("name")
        if "settings" in recorded:  # the runner's record: the class and every effective field
            settings = {**recorded["settings"], "_target_": recorded.get("target") or config.get("_target_")}
        else:  # older runs: the Hydra config (dataclass defaults not written there are missing)
            settings = dict(recorded or config)
        if name and name not in out:
            out[name] = {**settings, **{k: config[k] for k in IDENTITY if k in config and k not in settings}}
    return out


def _show(value) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def change(key: str, old, new) -> str:
    """One setting's change in words, e.g. "adds target-guided attention", "`fit` fast -> autograd"."""
    if key in SWITCHES and isinstance(new, bool) and isinstance(old, (bool, type(None))):
        return f"{'adds' if new else 'removes'} {SWITCHES[key]}"
    if key == "refinement_steps":
        return f"sets post-refinement to {new} step{'s' if new != 1 else ''} (from {old})"
    return f"`{key}` {_show(old)} -> {_show(new)}"


def changes(before: dict, after: dict) -> list[str]:
    """What ``after`` changes relative to ``before``, one phrase per differing setting (identity first)."""
    keys = [k for k in dict.fromkeys([*before, *after]) if k not in BOOKKEEPING]
    return [change(k, before.get(k), after.get(k)) for k in keys if before.get(k) != after.get(k)]


def is_other_method(before: dict, after: dict) -> bool:
    """Whether ``after`` is a different method (another class or kind), not a variant of ``before``."""
    return any(before.get(k) != after.get(k) for k in IDENTITY if k in before or k in after)


def components(settings: dict) -> str:
    """The on/off components and refinement of one method, e.g. "the negative location prior off, ..."."""
    parts = [f"{name} {'on' if settings[key] else 'off'}" for key, name in SWITCHES.items() if key in settings]
    if "refinement_steps" in settings:
        parts.append(f"{settings['refinement_steps']} post-refinement steps")
    return ", ".join(parts)


def identity(settings: dict) -> str:
    """What kind of method this is, from its class or kind."""
    values = [f"`{k}: {settings[k]}`" for k in IDENTITY if settings.get(k)]
    return ", ".join(values) or "its own settings"


def origin(settings: dict) -> list[str]:
    """Where a method's defaults come from: which settings follow the released code and which do not."""
    same, other = [], []
    for key, (choice, meaning) in ORIGINAL_CODE.items():
        if key not in settings or (key == "fit" and not settings.get("scale_fusion")):
            continue  # the fit only exists where scale fusion is on
        if settings[key] == choice:
            same.append(f"`{key}: {choice}` ({meaning})")
        else:
            other.append(f"`{key}: {settings[key]}` (the original: {choice}, {meaning})")
    lines = [f"as the original code: {', '.join(same)}"] if same else []
    return lines + ([f"unlike the original code: {', '.join(other)}"] if other else [])


def base_of(name: str, names: list[str]) -> str | None:
    """The method a variant is built on: the longest other name that ``name`` starts with (``persam_f_area`` ->
    ``persam_f``), or None."""
    bases = [n for n in names if n != name and name.startswith(n + "_")]
    return max(bases, key=len) if bases else None
