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
    assert _pins((REPO / "constraints.txt").read_text().splitlines()) == {"torch": "2.13.0"}
    make = (REPO / "Makefile").read_text()
    assert "-c constraints.txt" in make
    for f in ("requirements.txt", "pyproject.toml"):
        for line in (REPO / f).read_text().splitlines():
            code = line.split("#")[0]
            if re.search(r'(^|["\s])torch\s*([<>=!~;"]|$)', code):  # a requirement on torch itself
                assert "torch==2.13.0" in code, (f, line)


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
