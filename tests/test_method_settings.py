"""One settings surface (#35): every number a method under the presence layer uses is a field of its config
dataclass, declared by its YAML (so ``method.<field>=...`` overrides it under Hydra's struct mode), recorded in a
run's provenance; and no module of persam/methods/ keeps a number of its own that a run uses unrecorded."""

from __future__ import annotations

import ast
import dataclasses
import json
from pathlib import Path

import pytest

import persam.methods
from persam.config import compose
from persam.experiments.evaluate import started_record
from persam.methods.builder import build_method, method_class, method_spec
from persam.methods.persam import PerSAMConfig
from persam.methods.persam_plus import PerSAMPlusConfig
from persam.methods.presence_layer import CheckedMethod
from persam.methods.presence_settings import PresenceSettings

METHODS = {"persam": PerSAMConfig, "persam_f": PerSAMConfig, "persam_plus": PerSAMPlusConfig}
# Module-level numbers persam/methods/ may keep, each with why a run's provenance need not record it.
DEFINITIONS = {
    "EMPTY_MASK_SCORE": "a sentinel below every cosine similarity (protocol.py)",
    "LOW_RES": "SAM's decoder output size, fixed by the architecture (grid.py)",
    "CENTER_THRESHOLD": "the default of the center_threshold fields, which provenance records (target.py)",
    "P2SAM_CENTER_THRESHOLD": "the default of P2SAM's center_threshold, which p2sam.yaml states and records",
    "DENSE_KEYS": "a memory/speed switch of PerSAM-F's fit, same results either way (scale_fusion.py)",
}
# A valid value other than the default, for the settings that are not numbers or switches.
OTHER = {"attention": "eq7", "mask_pooling": "area", "embedding_pooling": "mean_max", "fit": "autograd",
         "first_mask": "best", "references": "vote", "second_opinion": "efficientnet_lite0"}


def _other(name: str, value):
    """A valid value other than ``value`` for the field ``name``, as a Hydra override string and as Python."""
    if name in OTHER:
        return OTHER[name], OTHER[name]
    if isinstance(value, bool):
        return str(not value).lower(), not value
    if isinstance(value, int):
        changed = value - 1 if value > 1 else value + 1  # e.g. refinement_steps 2 -> 1, max_instances 1 -> 2
        return str(changed), changed
    if isinstance(value, float):
        return repr(value + 0.125), value + 0.125
    if value is None:  # second_opinion_threshold: None is "the encoder's own"
        return "0.5", 0.5
    raise AssertionError(f"{name}: no override value for {value!r}")


@pytest.mark.parametrize("name", sorted(METHODS))
def test_every_field_is_declared_by_the_yaml_and_the_yaml_states_the_defaults(name):
    settings = method_spec(compose([f"method={name}"]).method).settings
    fields = {f.name for f in dataclasses.fields(METHODS[name])}
    assert set(settings) == fields, "the YAML must declare every field (Hydra's struct mode refuses others)"
    if name != "persam_f":  # persam_f changes some of PerSAM's switches on purpose
        assert METHODS[name](**settings) == METHODS[name]()


@pytest.mark.parametrize("name", ["persam", "persam_plus"])
def test_method_dot_field_overrides_every_field_through_hydra(name):
    cls = METHODS[name]
    for field in dataclasses.fields(cls):
        default = getattr(cls(), field.name)
        if isinstance(default, dict):  # a table: override one entry
            key = next(iter(default))
            cfg = compose([f"method={name}", f"method.{field.name}.{key}=0.5"])
            assert cls(**method_spec(cfg.method).settings).__dict__[field.name] == {**default, key: 0.5}
            continue
        text, value = _other(field.name, default)
        cfg = compose([f"method={name}", f"method.{field.name}={text}"])
        built = cls(**method_spec(cfg.method).settings)
        assert getattr(built, field.name) == value, field.name
        assert all(getattr(built, f.name) == getattr(cls(), f.name) for f in dataclasses.fields(cls)
                   if f.name != field.name), f"overriding {field.name} changed another field"


def test_a_persam_plus_run_records_every_setting_in_its_provenance(predictor):
    cfg = compose(["method=persam_plus", "method.peak_level=0.4",
                   "method.second_opinion_thresholds.efficientnet_lite0=0.4"])
    spec = method_spec(cfg.method)
    method = build_method(predictor, spec)
    record = json.loads(json.dumps(started_record(cfg, spec, method, predictor, "key")))  # as the file holds it
    recorded = record["method_settings"]["settings"]
    assert set(recorded) == {f.name for f in dataclasses.fields(PerSAMPlusConfig)}
    assert {f.name for f in dataclasses.fields(PresenceSettings)} <= set(recorded)  # the layer's, too
    assert recorded["peak_level"] == 0.4 and recorded["second_opinion_thresholds"] == {"efficientnet_lite0": 0.4}
    assert recorded == json.loads(json.dumps(dataclasses.asdict(method.config)))
    assert issubclass(method_class(spec), CheckedMethod)


def _module_numbers(path: Path) -> list[str]:
    """Names bound at module level in ``path`` to a number, a number expression or a container of numbers."""
    def numeric(node) -> bool:
        if isinstance(node, ast.Constant):
            return isinstance(node.value, int | float) and not isinstance(node.value, bool)
        if isinstance(node, ast.UnaryOp | ast.BinOp):
            return all(numeric(n) for n in ast.iter_child_nodes(node) if isinstance(n, ast.expr))
        if isinstance(node, ast.Dict):
            return any(numeric(v) for v in node.values)
        if isinstance(node, ast.Tuple | ast.List | ast.Set):
            return any(numeric(v) for v in node.elts)
        return False

    names = []
    for node in ast.parse(path.read_text()).body:
        targets = node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(node, ast.AnnAssign) \
            else []
        if targets and node.value is not None and numeric(node.value):
            names += [t.id for t in targets if isinstance(t, ast.Name)]
    return names


def test_no_module_of_persam_methods_keeps_an_unrecorded_number():
    folder = Path(persam.methods.__file__).parent
    found = {name: path.name for path in sorted(folder.glob("*.py")) for name in _module_numbers(path)}
    assert "EMPTY_MASK_SCORE" in found  # the scan sees literals
    unexplained = {name: where for name, where in found.items() if name not in DEFINITIONS}
    assert not unexplained, f"module-level numbers a run's provenance does not record: {unexplained}"
