"""The docs a newcomer reads hold true: every package and top-level module of persam is in docs/architecture.md,
every command in README.md's and docs/*.md's code blocks parses (without doing the work), the blocks marked
``<!-- runnable -->`` run as written on the bundled sample, every command uses the ``.venv/`` that ``make install``
creates, the README stays short with one picture and one-decimal tables, and every relative link in README.md and
docs/*.md points to an existing file (and, with ``#anchor``, to an existing heading)."""

from __future__ import annotations

import argparse
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
DOCS = REPO / "docs"
FENCE = re.compile(r"^```([\w-]*)\n(.*?)^```", re.S | re.M)
SHELL_BLOCKS = {"", "bash", "sh", "shell", "console"}


# ---- docs/architecture.md names every package and top-level module --------------------------------------------

def persam_units() -> list[str]:
    """Every package (a folder with __init__.py) and top-level module directly under persam/, as a path."""
    root = REPO / "persam"
    packages = [f"persam/{p.name}/" for p in sorted(root.iterdir()) if (p / "__init__.py").is_file()]
    modules = [f"persam/{p.name}" for p in sorted(root.glob("*.py"))]
    return packages + modules


def test_persam_units_are_discovered():
    units = persam_units()
    assert "persam/methods/" in units and "persam/run.py" in units and "persam/__init__.py" in units


@pytest.mark.parametrize("unit", persam_units())
def test_every_package_and_module_is_in_the_architecture_doc(unit):
    text = (DOCS / "architecture.md").read_text()
    assert f"`{unit}`" in text, f"docs/architecture.md does not say what {unit} is (add it as `{unit}`)"


# ---- README.md's commands parse ---------------------------------------------------------------------------------

def shell_commands(markdown: str) -> list[str]:
    """The commands of the shell code blocks: continuation lines joined, comments and blank lines left out."""
    commands = []
    for lang, body in FENCE.findall(markdown):
        if lang not in SHELL_BLOCKS:
            continue
        for line in body.replace("\\\n", " ").splitlines():
            if shlex.split(line, comments=True):
                commands.append(line.strip())
    return commands


README_COMMANDS = shell_commands(README.read_text())


class _Parsed(Exception):
    """Raised right after a real argument parser has parsed the command line, so that no work is done."""

    def __init__(self, namespace: argparse.Namespace):
        super().__init__(namespace)
        self.namespace = namespace


@pytest.fixture
def parse_only(monkeypatch):
    """``ArgumentParser.parse_args`` as it is, then stop: the entry point parses its real options, runs nothing."""
    real = argparse.ArgumentParser.parse_args

    def parse_then_stop(self, args=None, namespace=None):
        raise _Parsed(real(self, args, namespace))

    monkeypatch.setattr(argparse.ArgumentParser, "parse_args", parse_then_stop)
    monkeypatch.setattr("persam.allocator.keep_large_buffers", lambda: None)  # leave the test process's malloc be


def run_parser(main, argv: list[str]) -> argparse.Namespace:
    try:
        main(argv)
    except _Parsed as parsed:
        return parsed.namespace
    except SystemExit as exit_:
        raise AssertionError(f"the parser rejects {argv} (exit {exit_.code})") from None
    raise AssertionError(f"{argv}: the entry point returned without parsing its arguments")


def makefile_targets() -> set[str]:
    targets = set()
    for line in (REPO / "Makefile").read_text().splitlines():
        match = re.match(r"^([A-Za-z0-9_.%/$()-][^:=#\s]*(?:\s+[^:=#\s]+)*)\s*:(?!=)", line)
        if match and not line.startswith("\t"):
            targets.update(match.group(1).split())
    return targets


def check_make(words: list[str]) -> None:
    targets = makefile_targets()
    goals = [w for w in words[1:] if "=" not in w and not w.startswith("-")]
    assert goals, "make without a target"
    for goal in goals:
        assert goal in targets, f"make {goal}: no such target in the Makefile"


def hydra_override_sets(overrides: list[str]) -> list[list[str]]:
    """The overrides of each job a sweep would run (each sweep value once, the others at their first value)."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    choices = []
    for override in OverridesParser.create().parse_overrides(overrides):
        if override.is_sweep_override():
            key = override.get_key_element()
            choices.append([f"{key}={value}" for value in override.sweep_string_iterator()])
        else:
            choices.append([override.input_line])
    jobs = [[c[0] for c in choices]]
    for i, values in enumerate(choices):
        jobs += [[*(c[0] for c in choices[:i]), value, *(c[0] for c in choices[i + 1:])] for value in values[1:]]
    return jobs


def check_persam_run(args: list[str]) -> None:
    """``python -m persam.run [-m] OVERRIDES``: Hydra composes every job's config; each method's keys are its class's."""
    import hydra.utils

    from persam.config import compose
    from persam.methods.builder import accepted_settings, method_spec

    overrides = [a for a in args if a not in ("-m", "--multirun")]
    assert all("=" in a for a in overrides), f"persam.run takes Hydra overrides (key=value), got {overrides}"
    for job in hydra_override_sets(overrides):
        cfg = compose(job, return_hydra_config=True)
        spec = method_spec(cfg.method)
        accepted = accepted_settings(hydra.utils.get_class(spec.target))
        assert accepted is None or set(spec.settings) <= accepted, (job, set(spec.settings) - accepted)


def check_command(command: str) -> None:
    words = shlex.split(command, comments=True)
    assert "..." not in words, f"{command!r}: a placeholder; write the command out in full"
    program = words[0].removeprefix(".venv/bin/")
    if program == "make":
        return check_make(words)
    if program == "persam":
        from persam.__main__ import main

        run_parser(main, words[1:])
        return None
    if program in ("python", "python3") and words[1:2] == ["-m"] and len(words) > 2:
        module, args = words[2], words[3:]
        if module == "persam.run":
            return check_persam_run(args)
        if module == "persam.tables":
            from persam.tables.cli import main

            run_parser(main, args)
            return None
        if module == "persam.results_summary":
            from persam.results_summary import main

            run_parser(main, args)
            return None
    raise AssertionError(f"{command!r}: a command this test cannot classify (teach tests/test_docs.py to parse it)")


def test_the_readme_has_commands_of_every_kind():
    programs = {shlex.split(c, comments=True)[0].removeprefix(".venv/bin/") for c in README_COMMANDS}
    assert {"make", "persam", "python"} <= programs, programs


def test_the_readme_starts_with_the_two_setup_commands():
    first = FENCE.search(README.read_text())
    assert first and shell_commands(first.group(0)) == [
        "make demo   # installs into .venv/ (MobileSAM weights included), runs PerSAM, PerSAM-F and PerSAM+ on the "
        "bundled sample",
        "make test   # installs into .venv/ and runs the test suite"]


@pytest.mark.parametrize("command", README_COMMANDS)
def test_every_readme_command_parses(command, parse_only):
    check_command(command)


@pytest.mark.parametrize("command", ["persam segment --images a/ --out b/", "make no-such-target",
                                     "python -m persam.run method=no_such_method", "python -m persam.run nokey=1",
                                     "python -m persam.tables table9 runs/x --out y", "ls -la",
                                     "persam segment --ref-image a.jpg ... --out b/", "python -m persam.unknown x"])
def test_a_command_that_does_not_parse_fails(command, parse_only):
    with pytest.raises(Exception):  # noqa: B017 (an AssertionError or Hydra's own error)
        check_command(command)


def test_parsing_does_no_work(parse_only, tmp_path):
    out = tmp_path / "out"
    check_command(f"persam segment --ref-image dog.jpg --ref-point 410,220 --images {tmp_path} --out {out}")
    assert not out.exists()


def test_a_sweep_is_composed_job_by_job():
    assert hydra_override_sets(["method=persam,persam_f", "dataset.shard=0,1", "x=1"]) == [
        ["method=persam", "dataset.shard=0", "x=1"], ["method=persam_f", "dataset.shard=0", "x=1"],
        ["method=persam", "dataset.shard=1", "x=1"]]


# ---- every doc's commands: the venv, parsing, and the runnable blocks -----------------------------------------

# docs/data.md is the data helpers' page; methods.md's adding-a-method and compare.md's walkthroughs (files written
# with heredocs) run in their own tests (tests/test_adding_a_method.py, tests/test_compare.py).
DOC_FILES = [README, *(p for p in sorted(DOCS.glob("*.md")) if p.name != "data.md")]
WALKTHROUGH = re.compile(r"<!-- (adding-a-method|compare-walkthrough):begin -->.*?<!-- \1:end -->", re.S)
DOC_COMMANDS = [(path, command) for path in DOC_FILES
                for command in shell_commands(WALKTHROUGH.sub("", path.read_text()))]
VENV_PROGRAMS = ("persam", "python", "python3", "accelerate")  # installed into .venv/ by make install
OTHER_PROGRAMS = ("ls", "grep", "for", "accelerate")  # shell tools, and the GPU-only DreamBooth launcher


def test_every_doc_command_uses_the_venv():
    bare = [f"{p.relative_to(REPO)}: {c}" for p, c in DOC_COMMANDS
            if shlex.split(c, comments=True)[0] in VENV_PROGRAMS]
    assert not bare, "write .venv/bin/<program>, as everywhere else: " + "; ".join(bare)


PARSED = [(p, c) for p, c in DOC_COMMANDS if "..." not in c.split("#")[0]  # usage.md's "..." abbreviate a line above
          and shlex.split(c, comments=True)[0].removeprefix(".venv/bin/") not in OTHER_PROGRAMS]


@pytest.mark.parametrize("source,command", PARSED, ids=[f"{p.name}:{c[:60]}" for p, c in PARSED])
def test_every_doc_command_parses(source, command, parse_only):
    check_command(command)


RUNNABLE = re.compile(r"^<!-- runnable -->\n```(\w+)\n(.*?)^```", re.S | re.M)


def runnable_blocks() -> list[tuple[Path, str, str]]:
    """(file, language, code) of every block marked ``<!-- runnable -->`` on the line before its fence."""
    return [(path, lang, body) for path in DOC_FILES for lang, body in RUNNABLE.findall(path.read_text())]


def test_runnable_blocks_are_found():
    found = {(p.name, lang) for p, lang, _ in runnable_blocks()}
    assert {("README.md", "bash"), ("usage.md", "python")} <= found, found
    assert all(lang in ("bash", "python") for _, lang, _ in runnable_blocks())


@pytest.mark.parametrize("source,lang,code", runnable_blocks(),
                         ids=[f"{p.name}:{lang}:{i}" for i, (p, lang, _) in enumerate(runnable_blocks())])
def test_every_runnable_block_runs_on_the_bundled_sample(source, lang, code, tmp_path):
    """As a newcomer runs it from the repository root: ``.venv/`` is this test's Python environment, ``persam/``
    (the bundled sample) this checkout's; outputs land in a temporary folder."""
    (tmp_path / ".venv").symlink_to(Path(sys.prefix))
    (tmp_path / "persam").symlink_to(REPO / "persam")
    env = {**os.environ, "PYTHONPATH": str(REPO), "PERSAM_CACHE_DIR": str(tmp_path / "cache")}
    argv = ["bash", "-euo", "pipefail", "-c", code] if lang == "bash" else [sys.executable, "-c", code]
    done = subprocess.run(argv, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"{source.relative_to(REPO)}: the {lang} block fails:\n{done.stderr[-3000:]}"
    if lang == "bash" and "persam segment" in code:
        assert list((tmp_path / "outputs").rglob("*.png")), "persam segment wrote no mask"


# ---- the README's results a reader sees -------------------------------------------------------------------------

TABLE_CELL_DECIMALS = re.compile(r"\d\.\d{2,}")


def over_one_decimal(markdown: str) -> list[str]:
    """The Markdown table rows that hold a number with more than one decimal."""
    return [line for line in markdown.splitlines()
            if line.startswith("|") and any(TABLE_CELL_DECIMALS.search(cell) for cell in line.split("|"))]


def test_the_readme_is_short_with_one_picture_in_its_results():
    text = README.read_text()
    assert len(text.splitlines()) < 150
    results = text[text.index("<!-- results:begin -->"):text.index("<!-- results:end -->")]
    pictures = re.findall(r"!\[[^\]]*\]\(([^)]+\.png)\)", results)
    assert len(pictures) == 1 and (REPO / pictures[0]).is_file(), pictures
    assert not over_one_decimal(text)


def test_the_decimal_check_fails_on_two_decimals():
    assert over_one_decimal("| PerSAM | 94.99 [93.1, 97.3] |\n") and not over_one_decimal("| a | 95.0 [93.1, 97.3] |\n")


TABLE_SOURCES = sorted({p.parent for p in (REPO / "results").glob("**/results.csv")
                        if any(p.parent.glob("*.csv")) and p.parent.name != "bench"})


@pytest.mark.parametrize("folder", TABLE_SOURCES, ids=[str(p.relative_to(REPO)) for p in TABLE_SOURCES])
def test_every_generated_table_shows_one_decimal(folder, tmp_path):
    """Each committed table rebuilt by its generator from its committed rows, and the pooled tables: no Markdown
    table cell holds more than one decimal (the CSVs keep full precision)."""
    from persam.tables.cli import MODULES, main

    table = next(name for name in MODULES if (folder / f"{name}.csv").is_file())
    assert main([table, str(folder), "--out", str(tmp_path / "out")]) == 0
    rows = over_one_decimal((tmp_path / "out" / "README.md").read_text())
    if (folder.parent / "pooled.csv").is_file() and folder.name == "perseg":
        datasets = [str(folder.parent / d) for d in ("perseg", "davis_perseg", "davis16_perseg")]
        assert main(["pooled", table, *datasets, "--out", str(tmp_path / "pooled")]) == 0
        rows += over_one_decimal((tmp_path / "pooled" / "README.md").read_text())
    assert not rows, rows[:3]


# ---- relative links ---------------------------------------------------------------------------------------------

LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")


def prose(markdown: str) -> str:
    """The text outside fenced code blocks and inline code."""
    return re.sub(r"`[^`\n]*`", "", FENCE.sub("", markdown))


def anchors(markdown: str) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation dropped, spaces as hyphens."""
    headings = re.findall(r"^#{1,6}\s+(.*?)\s*$", FENCE.sub("", markdown), re.M)
    return {re.sub(r"[^\w\- ]", "", h.lower()).replace(" ", "-") for h in headings}


MARKDOWN_FILES = [README, *sorted(DOCS.glob("*.md"))]
LINKS = [(path, target) for path in MARKDOWN_FILES for target in LINK.findall(prose(path.read_text()))
         if not re.match(r"[a-z][a-z0-9+.-]*:", target)]


def test_the_docs_exist_and_link_each_other():
    names = {p.name for p in DOCS.glob("*.md")}
    assert {"reproducing.md", "methods.md", "speed.md", "data.md", "architecture.md"} <= names
    linked = {Path(t.split("#")[0]).name for p, t in LINKS if p == README}
    assert names <= linked, f"docs not linked from README.md: {sorted(names - linked)}"


@pytest.mark.parametrize("source,target", LINKS, ids=[f"{p.relative_to(REPO)}->{t}" for p, t in LINKS])
def test_every_relative_link_points_to_an_existing_file(source, target):
    path, _, anchor = target.partition("#")
    resolved = (source.parent / path).resolve() if path else source
    assert resolved.exists(), f"{source.relative_to(REPO)}: link to {target}, which does not exist"
    assert REPO in resolved.parents or resolved == REPO, f"{source.relative_to(REPO)}: {target} leaves the repository"
    if anchor and resolved.suffix == ".md":
        assert anchor in anchors(resolved.read_text()), f"{source.relative_to(REPO)}: no heading #{anchor} in {path}"


def test_links_are_checked():
    assert len(LINKS) > 20 and any(t.startswith("../") for _, t in LINKS)
    assert "persam-segment" not in anchors("```\n# persam segment\n```\n")  # headings in code are no anchors
    assert "-and-in-my-video" in anchors("### ... and in my video\n")
