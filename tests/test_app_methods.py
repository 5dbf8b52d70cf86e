"""The page's method menu: every method config but the ablation rungs, the default first."""

from persam.app.methods import method_choices
from persam.config import method_names
from persam.methods.builder import DEFAULT_METHOD, composed_method


def test_the_menu_offers_every_method_but_the_ablation_rungs():
    offered = [name for _, name in method_choices()]
    rungs = {name for name in method_names() if composed_method(name).get("rung", False)}
    assert offered[0] == DEFAULT_METHOD
    assert {"persam_plus_without_refinement", "persam_plus_core", "ablation_pos"} <= rungs
    assert set(offered) == set(method_names()) - rungs
    assert {"persam", "persam_f", "persam_plus", "p2sam"} <= set(offered)
