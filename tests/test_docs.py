"""The documentation says only what is true of the code: links and paths exist, every command, option and config
key it names exists, the generated parts are current, the pages describe the software (not their history), and
the CLI's help is written for users."""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from functools import lru_cache
from pathlib import Path

import pytest

from conftest import REPO

PAGES = sorted([REPO / "README.md", REPO / "CHANGELOG.md", REPO / "benchmarks" / "RESULTS.md",
                *(REPO / "docs").rglob("*.md")])
PROSE = [p for p in PAGES if p.name not in ("CHANGELOG.md", "RESULTS.md")]
REPO_PREFIXES = ("src/", "workflow/", "benchmarks/", "docs/", "tests/", "profiles/", "envs/", ".ci/")
REPO_FILES = ("config.yaml", "Snakefile", "Makefile", "pyproject.toml", "requirements.txt", "constraints.txt")
SECTIONS = ("results", "dataset", "synth", "features", "plugins", "methods", "submission", "generation",
            "neighbours", "evaluation")


def _rel(p: Path) -> str:
    return str(p.relative_to(REPO))


def _code_spans(text: str) -> list[str]:
    """Inline code spans and the lines of fenced code blocks."""
    blocks = re.findall(r"```[^\n]*\n(.*?)```", text, flags=re.S)
    rest = re.sub(r"```.*?```", "", text, flags=re.S)
    return re.findall(r"`([^`\n]+)`", rest) + [ln for b in blocks for ln in b.splitlines()]


def _slug(heading: str) -> str:
    s = re.sub(r"[`*]", "", heading.strip().lower())
    s = re.sub(r"[^\w\- ]", "", s)
    return s.replace(" ", "-")


@lru_cache(maxsize=None)
def _anchors(page: Path) -> set[str]:
    text = re.sub(r"```.*?```", "", page.read_text(), flags=re.S)
    return {_slug(h) for h in re.findall(r"^#+ (.+)$", text, flags=re.M)}


def test_the_pages_exist_and_the_readme_is_short():
    names = {_rel(p) for p in PAGES}
    for page in ("docs/usage.md", "docs/configuration.md", "docs/outputs.md", "docs/features.md", "docs/metrics.md",
                 "docs/submissions.md", "docs/security.md", "docs/developing.md", "docs/methods/reactdiff.md",
                 "docs/methods/efficient-listener.md", "docs/methods/reactdiffk.md", "docs/methods/baselines.md",
                 "benchmarks/RESULTS.md", "CHANGELOG.md"):
        assert page in names, f"{page} is missing"
    assert len((REPO / "README.md").read_text().splitlines()) <= 200


@pytest.mark.parametrize("page", PAGES, ids=_rel)
def test_links_and_anchors_resolve(page):
    text = re.sub(r"```.*?```", "", page.read_text(), flags=re.S)
    bad = []
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if re.match(r"[a-z]+:", target):
            continue
        path, _, anchor = target.partition("#")
        dest = (page.parent / path).resolve() if path else page
        if not dest.exists():
            bad.append(f"{target}: no such file")
        elif anchor and dest.suffix == ".md" and anchor not in _anchors(dest):
            bad.append(f"{target}: no heading #{anchor} in {_rel(dest)}")
    assert not bad, f"{_rel(page)}: " + "; ".join(bad)


@pytest.mark.parametrize("page", PAGES, ids=_rel)
def test_repository_paths_exist(page):
    bad = []
    for span in _code_spans(page.read_text()):
        for token in re.split(r"[\s,;()]+", span):
            token = token.strip("'\":.").split("::")[0]
            if not (token.startswith(REPO_PREFIXES) or token in REPO_FILES):
                continue
            if re.search(r"[{}<>*\[\]]|\.\.\.|…", token) or token.startswith(("results/", "tests/config/tiny")):
                if token.startswith("tests/config/tiny") and not (REPO / token).exists():
                    bad.append(token)
                continue
            if not (REPO / token).exists():
                bad.append(token)
    assert not bad, f"{_rel(page)} names paths that do not exist: {sorted(set(bad))}"


# ------------------------------------------------------------------------------------------------ commands
@lru_cache(maxsize=1)
def _parsers() -> dict[str, argparse.ArgumentParser]:
    from mafrg.cli.main import build_parser

    out: dict[str, argparse.ArgumentParser] = {}

    def walk(parser: argparse.ArgumentParser, prefix: str) -> None:
        out[prefix] = parser
        for action in parser._actions:  # noqa: SLF001
            if isinstance(action, argparse._SubParsersAction):  # noqa: SLF001
                for name, sub in action.choices.items():
                    walk(sub, f"{prefix} {name}".strip())

    walk(build_parser(), "")
    return out


def _options(parser: argparse.ArgumentParser) -> set[str]:
    return {o for a in parser._actions for o in a.option_strings}  # noqa: SLF001


@pytest.mark.parametrize("page", PAGES, ids=_rel)
def test_every_mafrg_command_and_option_named_exists(page):
    parsers = _parsers()
    bad = []
    for span in _code_spans(page.read_text()):
        for m in re.finditer(r"(?:^|[\s(])mafrg ((?:[a-z][a-z0-9-]*)(?: [a-z][a-z0-9-]*)?)(.*)", span):
            words = m.group(1).split()
            if words[0] == "import":  # python: from mafrg import ...
                continue
            cmd = " ".join(words) if " ".join(words) in parsers else words[0]
            if cmd not in parsers:
                bad.append(f"mafrg {words[0]}: no such command")
                continue
            rest = m.group(2).split(" mafrg ")[0]
            for opt in re.findall(r"(?<![\w-])(--[a-z][a-z0-9-]*)", rest):
                if opt not in _options(parsers[cmd]) | _options(parsers[""]):
                    bad.append(f"mafrg {cmd} {opt}: no such option")
    assert not bad, f"{_rel(page)}: {sorted(set(bad))}"


def test_every_option_has_help_and_the_program_has_a_version():
    import mafrg

    missing = [f"mafrg {cmd} {a.option_strings[0]}" for cmd, p in _parsers().items() for a in p._actions  # noqa: SLF001
               if a.option_strings and a.option_strings[0] not in ("-h", "--version") and not a.help]
    assert not missing, f"options without a help text: {missing}"
    description = _parsers()[""].description
    assert "mafrg" in description and ":mod:" not in description and "``" not in description
    out = subprocess.run([sys.executable, "-m", "mafrg", "--version"], capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.strip() == f"mafrg {mafrg.__version__}"


def test_the_help_examples_parse():
    """The examples in ``mafrg --help`` are commands that parse (required options included)."""
    from mafrg.cli.main import DESCRIPTION, build_parser

    examples = [ln.split("  ")[1].strip() for ln in DESCRIPTION.splitlines() if ln.startswith("  mafrg ")]
    assert len(examples) >= 4
    for ex in examples:
        build_parser().parse_args(ex.split()[1:])


# ------------------------------------------------------------------------------------------------ config keys
FILE_SUFFIXES = {"pt", "pth", "npy", "npz", "json", "csv", "yaml", "md", "parquet"}  # `results.pt` is a file


@lru_cache(maxsize=1)
def _config_keys() -> set[str]:
    from mafrg import configdoc, methods
    import dataclasses

    keys = {k for k, *_ in configdoc.workflow_rows()}
    for m in methods.registered():
        keys.add(f"methods.{m.name}")
        if dataclasses.fields(m.config_cls):
            keys |= {f"methods.{m.name}.{r[0]}" for r in configdoc.method_rows(m)[1]}
            keys |= {f"{r[0]}" for r in configdoc.method_rows(m)[1]}  # method pages name their own fields
    return keys


@pytest.mark.parametrize("page", PROSE, ids=_rel)
def test_every_config_key_named_exists(page):
    keys = _config_keys()
    bad = []
    for span in _code_spans(page.read_text()):
        for token in re.findall(r"^([a-z][a-z0-9_]*(?:\.[A-Za-z0-9_]+)+)(?=:|$| )", span.strip()):
            if token.split(".")[0] not in SECTIONS or token.rsplit(".", 1)[-1] in FILE_SUFFIXES:
                continue
            if token not in keys and not any(k.startswith(token + ".") for k in keys):
                bad.append(token)
    assert not bad, f"{_rel(page)} names config keys that do not exist: {sorted(set(bad))}"


def test_the_configuration_reference_is_current_and_complete():
    from mafrg import configdoc, methods
    import dataclasses

    page = (REPO / "docs" / "configuration.md").read_text()
    assert configdoc.START in page
    assert page[page.index(configdoc.START):] == configdoc.render(), \
        "docs/configuration.md is out of date: python -m mafrg.configdoc --write docs/configuration.md"
    undocumented = [k for k, _, _, meaning in configdoc.workflow_rows() if not meaning]
    for m in methods.registered():
        if dataclasses.fields(m.config_cls):
            undocumented += [f"methods.{m.name}.{r[0]}" for r in configdoc.method_rows(m)[1] if not r[-1]]
    assert not undocumented, f"keys without a meaning (schema description or field comment): {undocumented}"


def test_field_comments_are_read_from_the_source():
    from mafrg import configdoc
    from mafrg.config import TrainConfig
    from mafrg.methods.efficient_listener.config import PerceptionConfig

    assert configdoc.field_comments(TrainConfig)["seed"].startswith("added to the run's seed")
    assert "GroupNorm as Diffusion Policy" in configdoc.field_comments(PerceptionConfig)["norm"]  # block above


# ------------------------------------------------------------------------------------------------ history
HISTORY = [
    (r"\b(first|second|third|fourth|fifth|sixth|seventh|eighth|ninth|tenth|earlier|this|previous|last) session\b",
     "a development session"),
    (r"\b20\d\d-\d\d-\d\d\b", "a date"),
    (r"\b(measured again|used to be|previously|before the change)\b", "a change narrated"),
]


@pytest.mark.parametrize("page", PROSE, ids=_rel)
def test_pages_describe_the_software_not_their_history(page):
    text = page.read_text()
    found = [f"{why}: {m.group(0)!r}" for pattern, why in HISTORY for m in re.finditer(pattern, text, re.I)]
    assert not found, f"{_rel(page)}: {found}"


def test_the_history_check_sees_a_diary_line():
    text = "Measured again in the ninth session (2026-12-05): 78.2x."  # three kinds of history in one line
    assert sum(1 for pattern, _ in HISTORY if re.search(pattern, text, re.I)) == 3


# ------------------------------------------------------------------------------------------------ README block
@pytest.mark.slow
@pytest.mark.xdist_group("workflow")
def test_readme_results_block_is_generated_from_a_report(tiny_run, tmp_path):
    from mafrg import readme

    report = tiny_run / "results" / "report"
    copy = tmp_path / "README.md"
    copy.write_text((REPO / "README.md").read_text())
    assert readme.update(copy, report)
    block = copy.read_text().split(readme.START)[1].split(readme.END)[0]
    table = [ln for ln in (report / "val.md").read_text().splitlines() if ln.startswith("|")]
    assert all(ln in block for ln in table) and "code `" in block
    assert not readme.update(copy, report)  # idempotent
    # the committed README's table has the columns the report writes now
    committed = (REPO / "README.md").read_text().split(readme.START)[1].split(readme.END)[0]
    head = [ln for ln in committed.splitlines() if ln.startswith("|")][:3]
    assert head == table[:3], "README demo results have other columns than the report: python -m mafrg.readme"


# ------------------------------------------------------------------------------------------------ results page
def test_a_recorded_benchmark_replaces_its_own_row_only(tmp_path, monkeypatch):
    from mafrg import bench_results

    page = tmp_path / "RESULTS.md"
    bench_results.record("metrics_bench.py", "all metrics 270 s", argv=["benchmarks/metrics_bench.py", "--record"],
                         path=page)
    bench_results.record("metrics_bench.py", "all metrics 60 s", argv=["benchmarks/metrics_bench.py", "--rows", "200"],
                         path=page)
    bench_results.record("generate_bench.py", "100 reactions/s", argv=["benchmarks/generate_bench.py"], path=page)
    bench_results.record("metrics_bench.py", "all metrics 250 s", argv=["benchmarks/metrics_bench.py", "--record"],
                         path=page)
    text = page.read_text()
    rows = [ln for ln in text.splitlines() if ln.startswith("| all metrics") or ln.startswith("| 100")]
    assert len(rows) == 3 and "270 s" not in text and "250 s" in text and "60 s" in text
    assert "`python benchmarks/metrics_bench.py`" in text and "--record" not in text.split("## `metrics_bench.py`")[1]
    first = rows[0].split(" | ")
    assert re.fullmatch(r"\d{4}-\d\d-\d\d", first[1]) and "cores" in first[2] and first[3]  # date, machine, commit
    assert text.index("## `metrics_bench.py`") < text.index("## `generate_bench.py`")


def test_every_benchmark_script_can_record():
    for script in sorted((REPO / "benchmarks").glob("*.py")):
        if script.name == "timing.py":
            continue
        assert "bench_results.add_option(ap)" in script.read_text(), f"{script.name} has no --record"


def test_a_generated_block_needs_its_markers(tmp_path):
    from mafrg.docblock import replace_block

    page = tmp_path / "page.md"
    page.write_text("intro\n<!-- a -->\nold\n<!-- b -->\noutro\n")
    assert replace_block(page, "<!-- a -->", "<!-- b -->", "<!-- a -->\nnew\n<!-- b -->")
    assert page.read_text() == "intro\n<!-- a -->\nnew\n<!-- b -->\noutro\n"
    assert not replace_block(page, "<!-- a -->", "<!-- b -->", "<!-- a -->\nnew\n<!-- b -->")
    with pytest.raises(ValueError, match="markers are missing"):
        replace_block(page, "<!-- c -->", None, "x")


@pytest.mark.parametrize("page", PAGES, ids=_rel)
def test_every_test_named_exists(page):
    """A rule "checked by test_x" is only true while test_x exists."""
    files = list((REPO / "tests").glob("*.py"))
    defined = {f.stem for f in files} | {m for f in files for m in re.findall(r"^def (test_\w+)", f.read_text(),
                                                                              flags=re.M)}
    named = {t for span in _code_spans(page.read_text()) for t in re.findall(r"\b(test_\w+)\b(?!\.py)", span)
             if not t.endswith("_")}
    assert not named - defined, f"{_rel(page)} names tests that do not exist: {sorted(named - defined)}"
