"""Install pins agree everywhere, and rules notice edits of the mafrg code they call."""

from __future__ import annotations

import re

import yaml

from conftest import REPO


def _pins(lines):
    out = {}
    for line in lines:
        line = line.split("#")[0].strip()
        if "==" in line:
            name, ver = line.split("==")
            out[name.strip().lower()] = ver.strip()
    return out


def test_conda_env_matches_requirements():
    req = _pins((REPO / "requirements.txt").read_text().splitlines())
    env = yaml.safe_load((REPO / "envs" / "mafrg.yaml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d)
    assert _pins(pip) == req
    assert "python=3.11" in env["dependencies"]


def test_torch_is_pinned_and_never_requested_unpinned():
    """`make` installs with constraints.txt, which pins the local CPU torch; requirements.txt pins the same. The
    package itself states a range (a user picks the torch build for their machine)."""
    assert _pins((REPO / "constraints.txt").read_text().splitlines()) == {"torch": "2.13.0"}
    make = (REPO / "Makefile").read_text()
    assert "-c constraints.txt" in make
    for line in (REPO / "requirements.txt").read_text().splitlines():
        code = line.split("#")[0]
        if re.search(r'(^|\s)torch\s*([<>=!~;]|$)', code):  # a requirement on torch itself
            assert code.strip() == "torch==2.13.0", line


def _project() -> dict:
    import tomllib

    return tomllib.loads((REPO / "pyproject.toml").read_text())["project"]


def _name(req: str) -> str:
    return re.split(r"[<>=!~;\[ ]", req, maxsplit=1)[0].strip().lower()


# import name -> distribution name, where they differ
DISTRIBUTIONS = {"cv2": "opencv-python-headless", "yaml": "pyyaml", "PIL": "pillow", "sklearn": "scikit-learn"}
# imported, but not a dependency of the package: extras, and torchaudio (its wheels' CUDA-built libraries break
# its import beside a CPU torch; the Makefile installs it with --no-deps and removes them)
NOT_DEPENDENCIES = {"distributed": "cluster", "tslearn": "test", "torchaudio": "Makefile"}


def _imported() -> set[str]:
    import ast
    import sys

    names = set()
    for path in (REPO / "src" / "mafrg").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
    return {DISTRIBUTIONS.get(n, n).lower() for n in names - set(sys.stdlib_module_names) - {"mafrg"}}


def test_the_package_declares_what_it_imports_as_ranges_and_requirements_pin_them():
    project = _project()
    declared = {_name(r) for r in project["dependencies"]}
    imported = _imported()
    assert imported - declared == set(NOT_DEPENDENCIES), "imported by src/mafrg but not declared"
    assert declared <= imported, f"declared but never imported: {sorted(declared - imported)}"
    extras = project["optional-dependencies"]
    for name, where in NOT_DEPENDENCIES.items():
        if where == "Makefile":
            assert f"--no-deps {name}==" in (REPO / "Makefile").read_text()
        else:
            assert name in {_name(r) for r in extras[where]}, (name, where)
    assert not [r for r in project["dependencies"] if "==" in r], "exact pins belong in requirements/constraints"
    pins = _pins((REPO / "requirements.txt").read_text().splitlines())
    assert declared | {"distributed", "tslearn"} <= set(pins), sorted(declared - set(pins))

    from mafrg.provenance import TRACKED_PACKAGES

    assert declared | {"torchaudio"} <= set(TRACKED_PACKAGES), "a runtime package missing from provenance"


def test_one_version_number():
    import mafrg

    assert _project()["dynamic"] == ["version"] and "version" not in _project()
    assert 'version = { attr = "mafrg.__version__" }' in (REPO / "pyproject.toml").read_text()
    assert re.fullmatch(r"\d+\.\d+\.\d+", mafrg.__version__)
    assert "MIT License" in (REPO / "LICENSE").read_text() and _project()["license"] == "MIT"


def test_every_rule_has_log_resources_threads_and_conda():
    import re

    n = 0
    for smk in (REPO / "workflow" / "rules").glob("*.smk"):
        text = smk.read_text()
        for block in re.split(r"\n\s*(?:rule|checkpoint) ", text)[1:]:
            name = block.split(":")[0]
            n += 1
            for key in ("log:", "resources:", "threads:", "conda:"):
                assert key in block, f"{smk.name}: rule {name} lacks {key}"
    assert n >= 11
    assert (REPO / "workflow" / "rules" / "../../envs/mafrg.yaml").resolve().is_file()


def test_shell_commands_quote_every_placeholder():
    """Paths and values from data or config reach a shell quoted: {x:q} (injection from a split file)."""
    import re

    for smk in (REPO / "workflow" / "rules").glob("*.smk"):
        for block in re.split(r"\n\s*(?:rule|checkpoint) ", smk.read_text())[1:]:
            shell = block.split("shell:")[-1] if "shell:" in block else ""
            for ph in re.findall(r"\{([^{}]+)\}", shell):
                if ph in ("threads", "params.rows", "params.n", "params.protocol", "params.chunk",
                          "params.mirrored", "wildcards.seed", "params.fps"):
                    continue  # numbers and fixed words the workflow itself makes
                assert ph.endswith(":q"), f"{smk.name}: unquoted {{{ph}}} in rule {block.split(':')[0]}"
