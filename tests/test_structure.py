"""The structure the docs describe (docs/developing.md): layers that only import downwards, one code hash per
command derived from the imports, and rule files that name no method."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from conftest import REPO
from mafrg.codehash import PACKAGE_ROOT, _imported, closure, code_hash

# Bottom to top. A module may import its own layer and the layers below it, never one above.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("constants", "atomic", "io", "codehash", "provenance", "paths", "sharding", "allocator", "cache", "schema",
     "config", "render", "flops", "checkpoint", "predictions", "bench_results", "docblock", "errors", "moments",
     "progress", "torchaudio_import", "devices"),
    ("media",),
    ("data", "neighbours", "synth"),
    ("backbones",),
    ("extractors",),
    ("features",),
    ("metrics",),
    ("training",),
    ("methods",),
    ("report_html", "report_latex", "report", "submission", "quality"),
    ("plan", "cli", "__main__", "configdoc", "readme"),
)
LAYER = {unit: i for i, units in enumerate(LAYERS) for unit in units}


def _modules() -> dict[str, Path]:
    out = {}
    for f in sorted(PACKAGE_ROOT.rglob("*.py")):
        parts = f.relative_to(PACKAGE_ROOT.parent).with_suffix("").parts
        out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = f
    return out


def _unit(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "mafrg"


def test_every_module_has_a_layer_and_imports_only_downwards():
    problems = []
    for mod, f in _modules().items():
        unit = _unit(mod)
        if unit == "mafrg":
            continue
        assert unit in LAYER, f"{f}: top-level unit {unit!r} is in no layer of tests/test_structure.py"
        for dep in _imported(ast.walk(ast.parse(f.read_bytes())), mod, f.name == "__init__.py", PACKAGE_ROOT):
            d = _unit(dep)
            if d != "mafrg" and LAYER[d] > LAYER[unit]:
                problems.append(f"{mod} (layer {LAYER[unit]}) imports {dep} (layer {LAYER[d]})")
    assert not problems, "\n".join(problems)


def test_the_layer_check_sees_an_upward_import(tmp_path):
    """The checker itself: a function-level import of a higher layer is found (the lazy imports count)."""
    src = "def f():\n    from mafrg.methods import registered\n    return registered\n"
    deps = _imported(ast.walk(ast.parse(src)), "mafrg.metrics.x", False, PACKAGE_ROOT)
    assert "mafrg.methods" in deps and LAYER[_unit("mafrg.methods")] > LAYER["metrics"]


def test_no_import_cycle_between_report_modules():
    for a, b in (("report", "report_html"), ("report", "report_latex"), ("report_latex", "report_html")):
        fa, fb = PACKAGE_ROOT / f"{a}.py", PACKAGE_ROOT / f"{b}.py"
        da = _imported(ast.walk(ast.parse(fa.read_bytes())), f"mafrg.{a}", False, PACKAGE_ROOT)
        db = _imported(ast.walk(ast.parse(fb.read_bytes())), f"mafrg.{b}", False, PACKAGE_ROOT)
        assert not (f"mafrg.{b}" in da and f"mafrg.{a}" in db), f"{a} and {b} import each other"


# ------------------------------------------------------------------------------------------------ code hashes
def _tree(tmp_path: Path) -> Path:
    root = tmp_path / "mafrg"
    (root / "cli").mkdir(parents=True)
    (root / "lib").mkdir()
    (root / "__init__.py").write_text("")
    (root / "cli" / "__init__.py").write_text("")
    (root / "cli" / "cmds.py").write_text(
        "def helper():\n    from mafrg.lib import b\n\n"
        "def one():\n    from mafrg.lib import a\n    helper()\n\n"
        "def two():\n    from mafrg.lib import c\n")
    (root / "lib" / "__init__.py").write_text("")
    (root / "lib" / "a.py").write_text("from mafrg.lib.deep import x\n")
    (root / "lib" / "b.py").write_text("B = 1\n")
    (root / "lib" / "c.py").write_text("C = 1\n")
    (root / "lib" / "deep.py").write_text("x = 1\n")
    (root / "lib" / "table.json").write_text("[1]\n")
    return root


def test_a_command_hash_follows_its_handlers_imports_and_nothing_else(tmp_path):
    root = _tree(tmp_path)
    rel = {str(f.relative_to(root)) for f in closure(["mafrg.cli.cmds:one"], root)}
    # the handler's module, what it and the helper it calls import (transitively), their packages, their data
    assert rel == {"__init__.py", "cli/__init__.py", "cli/cmds.py", "lib/__init__.py", "lib/a.py", "lib/b.py",
                   "lib/deep.py", "lib/table.json"}
    before = code_hash(["mafrg.cli.cmds:one"], root)
    (root / "lib" / "c.py").write_text("C = 2\n")  # only command two runs it: no rerun of one
    assert code_hash(["mafrg.cli.cmds:one"], root) == before
    for changed in ("lib/deep.py", "lib/table.json"):  # a module reached through another, and data beside one
        (root / changed).write_text((root / changed).read_text() + "\n")
        assert code_hash(["mafrg.cli.cmds:one"], root) != before
        before = code_hash(["mafrg.cli.cmds:one"], root)
    (root / "lib" / "new.py").write_text("N = 1\n")  # a new module the handler starts to import is not forgotten
    (root / "lib" / "b.py").write_text("from mafrg.lib import new\n")
    assert code_hash(["mafrg.cli.cmds:one"], root) != before
    (root / "lib" / "new.py").write_text("N = 2\n")
    assert code_hash(["mafrg.cli.cmds:one"], root) != before


def test_an_unknown_entry_is_an_error(tmp_path):
    root = _tree(tmp_path)
    with pytest.raises(ValueError, match="no such mafrg module"):
        code_hash(["mafrg.nowhere"], root)
    with pytest.raises(ValueError, match="no function 'three'"):
        code_hash(["mafrg.cli.cmds:three"], root)


def test_the_metrics_hashes_name_no_method_and_cover_the_anatomy():
    from mafrg.plan import command_handlers

    for cmd in ("evaluate-shard", "aggregate", "evaluate-split"):
        files = [str(f.relative_to(PACKAGE_ROOT)) for f in closure([command_handlers()[cmd]])]
        assert not any(f.startswith("methods/") for f in files), (cmd, files)
    split = [str(f.relative_to(PACKAGE_ROOT)) for f in closure([command_handlers()["evaluate-split"]])]
    assert "metrics/anatomy.py" in split and "metrics/facial_actions.json" in split


def test_a_method_hash_covers_its_package_and_the_runner():
    from mafrg import methods
    from mafrg.cli.methods import method_code_hash

    files = {str(f.relative_to(PACKAGE_ROOT)) for f in closure(
        ["mafrg.methods.reactdiff.method", "mafrg.cli.methods:cmd_train", "mafrg.cli.methods:cmd_generate"])}
    assert {"methods/reactdiff/stages.py", "methods/reactdiff/mmt.py", "methods/run.py", "training.py",
            "checkpoint.py", "methods/contract.py"} <= files
    assert not any(f.startswith(("methods/reactdiffk/", "methods/efficient_listener/")) for f in files)
    assert len({method_code_hash(methods.get(n)) for n in ("ReactDiff", "ReactDiffK", "EfficientListener")}) == 3


# ------------------------------------------------------------------------------------------------ rule files
def _rule_blocks():
    for smk in sorted((REPO / "workflow" / "rules").glob("*.smk")):
        for block in re.split(r"(?m)^(?=rule |checkpoint )", smk.read_text())[1:]:
            yield smk.name, block.split(":")[0].split()[-1], block


def test_every_rule_hashes_the_command_it_runs():
    from mafrg.plan import command_handlers

    seen = 0
    for smk, name, block in _rule_blocks():
        cmd = re.search(r"python -m mafrg ([a-z0-9-]+)", block)
        code = re.search(r'code=CODE\["([a-z0-9-]+)"\]', block)
        if cmd is None:
            continue
        seen += 1
        if cmd.group(1) in ("train", "generate"):
            assert "METHOD_CODE[" in block, f"{smk}: rule {name} runs {cmd.group(1)} without the method's code hash"
            continue
        assert code and code.group(1) == cmd.group(1), f"{smk}: rule {name} runs mafrg {cmd.group(1)} but hashes " \
                                                      f"{code.group(1) if code else 'nothing'}"
        assert cmd.group(1) in command_handlers()
    assert seen >= 12


def test_rule_files_name_no_method():
    from mafrg import methods

    names = {m.name for m in methods.registered()} | {"reactdiff", "reactdiffk", "efficient_listener"}
    for smk in (REPO / "workflow" / "rules").glob("*.smk"):
        text = smk.read_text()
        for n in names:
            assert not re.search(rf"\b{re.escape(n)}\b", text), f"{smk.name} names the method {n}"
