"""Code fingerprints: what a workflow stage's code *means*, not how it is written.

Snakemake's own code trigger sees neither the `cremodels` modules a script imports
nor the difference between a comment and a change of behaviour. Each stage of the
workflow instead passes, as a rule parameter, a digest of

* the abstract syntax trees (comments, formatting and docstrings dropped) of its
  workflow script and of every `cremodels` module that script reaches through
  imports, and
* the settings that stage reads.

So a comment or a reformat changes nothing, an edit to geometry code changes only
the geometry digest, and an edit to the model code changes the training digest (and
thereby everything downstream).
"""

from __future__ import annotations

import ast
import hashlib
import json
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
PACKAGE = PACKAGE_DIR.name


def _strip_docstrings(tree: ast.AST) -> ast.AST:
    """Drop docstrings, which are documentation, not behaviour."""
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if not isinstance(body, list) or not body:
            continue
        first = body[0]
        if (
            isinstance(
                node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef
            )
            and isinstance(first, ast.Expr)
            and isinstance(first.value, ast.Constant)
            and isinstance(first.value.value, str)
        ):
            node.body = body[1:] or [ast.Pass()]
    return tree


def _parse(path: Path) -> ast.Module:
    return ast.parse(path.read_text(), filename=str(path))


def _module_file(name: str) -> Path | None:
    """File of a `cremodels` module or package, or None for other modules."""
    parts = name.split(".")
    if parts[0] != PACKAGE:
        return None
    base = PACKAGE_DIR.joinpath(*parts[1:])
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _module_name(path: Path) -> str:
    relative = path.relative_to(PACKAGE_DIR.parent).with_suffix("")
    parts = list(relative.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _imported_files(path: Path) -> set[Path]:
    """`cremodels` files imported by the file at `path` (absolute or relative)."""
    inside = PACKAGE_DIR in path.parents
    package = _module_name(path) if inside else ""
    if inside and path.name != "__init__.py":
        package = package.rpartition(".")[0]
    found = set()
    for node in ast.walk(_parse(path)):
        names = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            names = [module] + [f"{module}.{alias.name}" for alias in node.names]
        for name in names:
            # `import a.b.c` loads a, a.b and a.b.c
            pieces = name.split(".")
            for end in range(1, len(pieces) + 1):
                module_file = _module_file(".".join(pieces[:end]))
                if module_file is not None:
                    found.add(module_file)
    return found


def code_files(entry: Path, exclude=()) -> list[Path]:
    """`entry` and every `cremodels` file it reaches through imports, sorted.

    Files in `exclude` (and what only they import) are left out: a model module
    of another architecture, say, which a run never executes.
    """
    skip = {Path(p).resolve() for p in exclude}
    seen, todo = set(), [Path(entry).resolve()]
    while todo:
        path = todo.pop()
        if path in seen or path in skip:
            continue
        seen.add(path)
        todo.extend(_imported_files(path) - seen)
    return sorted(seen)


def _label(path: Path) -> str:
    root = PACKAGE_DIR.parent
    return str(path.relative_to(root)) if root in path.parents else path.name


def code_digests(entry: Path, exclude=()) -> dict[str, str]:
    """Digest of the meaning of each file `entry` runs: its path -> AST digest."""
    digests = {}
    for path in code_files(entry, exclude):
        tree = _strip_docstrings(ast.parse(path.read_text(), filename=str(path)))
        dump = ast.dump(tree, annotate_fields=False).encode()
        digests[_label(path)] = hashlib.sha256(dump).hexdigest()[:16]
    return digests


def code_digest(entry: Path, exclude=()) -> str:
    """One digest of the meaning of `entry` and the package code it imports."""
    return settings_digest(code_digests(entry, exclude))


def settings_digest(settings) -> str:
    """Digest of JSON-able settings (key order does not matter)."""
    text = json.dumps(settings, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]
