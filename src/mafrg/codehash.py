"""Code hashes derived from the imports: a workflow step reruns when the code it can run changes, and only then.

Snakemake notices edits to a rule's own text, not to the library it calls. Each rule therefore carries, as a param,
the hash of every mafrg source file its command can import. The file list is not kept by hand (a new module would
be forgotten): it is the *import closure* of an entry, read from the source with :mod:`ast`:

* an entry ``"mafrg.cli.data:cmd_synth"`` is one CLI handler: its module's file, the module-level imports, the
  imports inside the function and inside the module's functions it calls by name. The handlers of one CLI module
  import their libraries lazily, so ``synth`` does not rerun when the assembler changes;
* an entry ``"mafrg.metrics.engine"`` (a module) follows every import in its file, including those inside
  functions, and the ``__init__`` of each enclosing package (Python runs them);
* a ``Path`` is a plugin's file outside the package: its own bytes plus the closure of the mafrg modules it imports.

Data files (``*.json``, ``*.c``) beside a module belong to it: a module reads its folder's data (the FRDist kernel
source, the facial-action anatomy). :data:`SETTINGS_ONLY` modules are left out on purpose: the settings a step uses
reach it as params, and an edit elsewhere in them (a new evaluation option) must not regenerate the dataset and
everything after it.
"""

from __future__ import annotations

import ast
import hashlib
from functools import lru_cache
from pathlib import Path
from typing import Iterable

import mafrg

PACKAGE_ROOT = Path(mafrg.__file__).resolve().parent
SETTINGS_ONLY = frozenset({"mafrg.config"})
DATA_SUFFIXES = (".json", ".c")


def module_file(name: str, root: Path | None = None) -> Path | None:
    """The source file of mafrg module ``name`` (a package's ``__init__.py``), or None if it is not mafrg's."""
    root = root or PACKAGE_ROOT
    if name != "mafrg" and not name.startswith("mafrg."):
        return None
    p = root.joinpath(*name.split(".")[1:])
    if (p / "__init__.py").is_file():
        return p / "__init__.py"
    return p.with_suffix(".py") if p.with_suffix(".py").is_file() else None


def _imported(nodes: Iterable[ast.AST], module: str, is_package: bool, root: Path) -> set[str]:
    """mafrg modules named by the Import / ImportFrom nodes among ``nodes`` (``from a import b``: ``a.b`` when that
    is a module, else ``a``)."""
    out: set[str] = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: resolve against this module's package
                parts = module.split(".") if is_package else module.split(".")[:-1]
                parts = parts[: len(parts) - node.level + 1]
                base = ".".join([*parts, *([base] if base else [])])
            for a in node.names:
                sub = f"{base}.{a.name}"
                out.add(sub if module_file(sub, root) else base)
    return {m for m in out if module_file(m, root)}


def _function_nodes(tree: ast.Module, function: str) -> list[ast.AST]:
    """Every node of ``function`` and of the module-level functions it calls by name, transitively."""
    defs = {n.name: n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))}
    if function not in defs:
        raise ValueError(f"code hash entry: no function {function!r} at the top level of the module")
    todo, seen, nodes = [function], set(), []
    while todo:
        name = todo.pop()
        if name in seen or name not in defs:
            continue
        seen.add(name)
        body = list(ast.walk(defs[name]))
        nodes += body
        todo += [n.id for n in body if isinstance(n, ast.Name)]
    return nodes


@lru_cache(maxsize=None)
def _parse(path: Path) -> ast.Module:
    return ast.parse(path.read_bytes(), filename=str(path))


def closure(entries: Iterable[str | Path], root: Path | None = None) -> list[Path]:
    """Every file the entries can run or read (sorted): see the module docstring for what an entry is."""
    root = root or PACKAGE_ROOT
    files: set[Path] = set()
    todo: list[str] = []
    for entry in entries:
        if isinstance(entry, Path):
            files.add(entry)
            todo += _imported(ast.walk(ast.parse(entry.read_bytes())), "", False, root)
            continue
        module, _, function = entry.partition(":")
        f = module_file(module, root)
        if f is None:
            raise ValueError(f"code hash entry {entry!r}: no such mafrg module")
        if not function:
            todo.append(module)
            continue
        tree = _parse(f)
        top = [n for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))]
        files.add(f)
        todo += _imported([*top, *_function_nodes(tree, function)], module, f.name == "__init__.py", root)
        todo += _parents(module)
    seen: set[str] = set()
    while todo:
        module = todo.pop()
        if module in seen or module in SETTINGS_ONLY:
            continue
        seen.add(module)
        f = module_file(module, root)
        if f is None:
            continue
        files.add(f)
        todo += _imported(ast.walk(_parse(f)), module, f.name == "__init__.py", root)
        todo += _parents(module)
    for f in list(files):
        if f.is_relative_to(root):
            files.update(p for p in f.parent.iterdir() if p.suffix in DATA_SUFFIXES)
    return sorted(files)


def _parents(module: str) -> list[str]:
    parts = module.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


def code_hash(entries: Iterable[str | Path], root: Path | None = None) -> str:
    """Short hash of :func:`closure`'s files."""
    root = root or PACKAGE_ROOT
    return _digest(closure(entries, root), root)


def package_hash() -> str:
    """Hash of every source and data file of the package (what :func:`mafrg.provenance.code_version` stamps)."""
    return _digest(sorted(f for suffix in (".py", *DATA_SUFFIXES) for f in PACKAGE_ROOT.rglob(f"*{suffix}")),
                   PACKAGE_ROOT)


def _digest(files: list[Path], root: Path) -> str:
    """Short sha256 of the files' paths (inside ``root``; a plugin's outside it by name) and bytes, in order."""
    h = hashlib.sha256()
    for f in files:
        h.update(str(f.relative_to(root) if f.is_relative_to(root) else f.name).encode())
        h.update(f.read_bytes())
    return h.hexdigest()[:16]
