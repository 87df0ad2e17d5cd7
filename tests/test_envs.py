"""Install pins agree everywhere, and rules notice edits of the mafrg code they call."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
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
# imported, but in an extra only
NOT_DEPENDENCIES = {"distributed": "cluster", "tslearn": "test"}


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
        assert name in {_name(r) for r in extras[where]}, (name, where)
    exact = [r for r in project["dependencies"] if "==" in r.split(";")[0]]  # (markers may compare with ==)
    assert not exact, f"exact pins belong in requirements/constraints: {exact}"
    pins = _pins((REPO / "requirements.txt").read_text().splitlines())
    assert declared | {"distributed", "tslearn"} <= set(pins), sorted(declared - set(pins))

    from mafrg.provenance import TRACKED_PACKAGES

    assert declared <= set(TRACKED_PACKAGES), "a runtime package missing from provenance"


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


def test_the_conda_env_holds_what_the_package_declares_and_its_post_deploy_script_the_rest():
    """Snakemake runs envs/<env>.post-deploy.sh after creating a rule's conda env: it must install this
    checkout's package, since conda jobs get no PYTHONPATH."""
    env = yaml.safe_load((REPO / "envs" / "mafrg.yaml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d)
    declared = {_name(r) for r in _project()["dependencies"]}
    assert declared <= {_name(r) for r in pip}, sorted(declared - {_name(r) for r in pip})
    script = REPO / "envs" / "mafrg.post-deploy.sh"  # the name Snakemake looks for beside mafrg.yaml
    text = script.read_text()
    assert '-e "$MAFRG_WORKFLOW_DIR"' in text
    assert subprocess.run(["bash", "-n", str(script)]).returncode == 0
    assert '"MAFRG_WORKFLOW_DIR": str(Path(workflow.basedir))' in (REPO / "workflow/rules/common.smk").read_text()


@pytest.mark.slow
def test_the_conda_envs_pip_part_resolves(tmp_path):
    """Conda channels are not reachable here, but the env's pip part is: pip resolves it as one set (a dry run,
    metadata only; needs PyPI), so its pins are installable together."""
    import sys

    env = yaml.safe_load((REPO / "envs" / "mafrg.yaml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d)
    req = tmp_path / "pip.txt"
    req.write_text("\n".join(pip) + "\n")
    res = subprocess.run([sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed", "--quiet", "-r",
                          str(req)], capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-3000:]


@pytest.mark.slow
def test_the_post_deploy_script_makes_an_env_that_runs_jobs_without_pythonpath(tmp_path):
    """The script run in a fresh environment (a venv standing in for the conda env; it needs PyPI): the package
    is the checkout's, editable, and the CLI answers with PYTHONPATH unset."""
    import os
    import sys
    import sysconfig

    env_dir = tmp_path / "env"
    subprocess.run([sys.executable, "-m", "venv", str(env_dir)], check=True)
    py = env_dir / "bin" / "python"
    site = subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True).stdout.strip()
    clean = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    clean.update(PATH=f"{env_dir / 'bin'}{os.pathsep}{clean['PATH']}", CONDA_PREFIX=str(env_dir),
                 MAFRG_WORKFLOW_DIR=str(REPO))
    res = subprocess.run(["bash", str(REPO / "envs" / "mafrg.post-deploy.sh")], env=clean, capture_output=True,
                         text=True, timeout=600)
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
    # the rest of the dependencies (torch, ...) from the outer environment, after the env's own packages
    (Path(site) / "zz_outer.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    show = subprocess.run([str(py), "-m", "pip", "show", "mafrg"], env=clean, capture_output=True, text=True).stdout
    assert f"Editable project location: {REPO}" in show, show
    probe = "import mafrg; from mafrg.cli.main import main; print(mafrg.__file__)"
    out = subprocess.run([str(py), "-c", probe], env=clean, cwd=tmp_path, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == str(REPO / "src" / "mafrg" / "__init__.py")
    ver = subprocess.run([str(py), "-m", "mafrg", "--version"], env=clean, cwd=tmp_path, capture_output=True, text=True)
    assert ver.returncode == 0 and ver.stdout.startswith("mafrg "), ver.stderr[-2000:]


def test_torchaudio_imports_where_its_compiled_extension_cannot_load(tmp_path):
    """PyPI's torchaudio carries CUDA-built libraries that do not load beside a CPU torch: mafrg still gets its
    pure-Python parts (a plain `pip install .` leaves those libraries in place)."""
    import os
    import shutil
    import sys

    import torchaudio

    shutil.copytree(Path(torchaudio.__file__).parent, tmp_path / "torchaudio")
    (tmp_path / "torchaudio" / "lib").mkdir(exist_ok=True)
    (tmp_path / "torchaudio" / "lib" / "_torchaudio.abi3.so").write_bytes(b"not a loadable library")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(tmp_path), str(REPO / "src")]))

    def run(code: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-c", code], env=env, cwd=tmp_path, capture_output=True, text=True)

    broken = run("import torchaudio")
    assert broken.returncode != 0 and "OSError" in broken.stderr  # the situation mafrg has to live with
    ok = run("from mafrg.torchaudio_import import load_torchaudio; ta = load_torchaudio(); import torch; "
             "from torchaudio.compliance.kaldi import mfcc; from torchaudio.functional import melscale_fbanks; "
             "from torchaudio.models import wav2vec2_model; "
             "print(ta.__file__, tuple(mfcc(torch.zeros(1, 16000) + 0.1).shape))")
    assert ok.returncode == 0, ok.stderr[-2000:]
    where, shape = ok.stdout.split(" ", 1)
    assert where == str(tmp_path / "torchaudio" / "__init__.py") and shape.strip() == "(98, 13)"


@pytest.mark.slow
def test_pip_install_of_the_package_gives_a_working_cli(tmp_path):
    """`pip install .` (with constraints.txt, for the CPU torch) in a fresh venv: the CLI runs, and the code that
    needs torchaudio (MFCC, Efficient Listener's log-mel) imports and computes, with no PYTHONPATH. Needs PyPI."""
    import os
    import shutil
    import sys

    src = tmp_path / "mafrg"
    src.mkdir()
    for part in ("pyproject.toml", "README.md", "LICENSE", "src"):
        (shutil.copytree if (REPO / part).is_dir() else shutil.copy2)(REPO / part, src / part)
    shutil.rmtree(src / "src" / "mafrg.egg-info", ignore_errors=True)
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    res = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "-c",
                          str(REPO / "constraints.txt"), str(src)], env=env, capture_output=True, text=True,
                         timeout=1200)
    assert res.returncode == 0, res.stderr[-3000:]
    ver = subprocess.run([str(venv / "bin" / "mafrg"), "--version"], env=env, cwd=tmp_path, capture_output=True,
                         text=True)
    assert ver.returncode == 0 and ver.stdout.strip() == f"mafrg {_version()}", ver.stderr[-2000:]
    probe = ("import numpy as np, torch; import mafrg; "
             "from mafrg.features.audio import mfcc_per_frame; "
             "from mafrg.methods.efficient_listener.model import log_mel; "
             "x = torch.from_numpy(np.random.default_rng(0).normal(size=16000).astype('float32')); "
             "print(mafrg.__file__, tuple(log_mel(x, 25, 25, 16000, 26, 2).shape))")
    out = subprocess.run([str(venv / "bin" / "python"), "-c", probe], env=env, cwd=tmp_path, capture_output=True,
                         text=True)
    assert out.returncode == 0, out.stderr[-2000:]
    where, shape = out.stdout.split(" ", 1)
    assert where.startswith(str(venv)) and shape.strip() == "(25, 2, 26)"


def _version() -> str:
    return re.search(r'__version__ = "([^"]+)"', (REPO / "src" / "mafrg" / "__init__.py").read_text()).group(1)
