"""The library's shape: no import cycles, no private names borrowed across modules, modules of
a few hundred lines, and no process-level tuning."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

LIBRARY = Path(__file__).resolve().parents[2] / "include" / "cohortflow"
#: Modules allowed more than MAX_LINES, each with its reason.
LONG_MODULES: dict[str, str] = {}
MAX_LINES = 400


def module_name(path: Path) -> str:
    parts = path.relative_to(LIBRARY.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted(LIBRARY.rglob("*.py"))}
#: What a lazy package re-exports: ``cohortflow.phones.mask_phone`` → ``cohortflow.phones.library``.
EXPORTS: dict[str, str] = {}
for stub in LIBRARY.rglob("__init__.pyi"):
    package = module_name(stub.with_suffix(".py"))
    for node in ast.parse(stub.read_text()).body:
        if isinstance(node, ast.ImportFrom):
            for alias in node.names:
                target = f"{package}.{node.module}" if node.module else f"{package}.{alias.name}"
                EXPORTS[f"{package}.{alias.name}"] = target


def imports(path: Path) -> Iterator[tuple[str, str | None, int]]:
    """(module, imported name or None, line) for every import in ``path``, at any depth."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, None, node.lineno
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1]
                                + ([base] if base else []))
            for alias in node.names:
                yield base, alias.name, node.lineno


def edges(name: str) -> set[str]:
    """The library modules ``name`` imports, with package re-exports resolved to their module."""
    found = set()
    for module, imported, _ in imports(MODULES[name]):
        if not module.startswith("cohortflow"):
            continue
        candidates = [f"{module}.{imported}", module] if imported else [module]
        for candidate in candidates:
            target = EXPORTS.get(candidate, candidate)
            if target in MODULES and target != name:
                found.add(target)
                break
    return found


def test_no_module_imports_itself_back_through_others() -> None:
    graph = {name: edges(name) for name in MODULES}
    cycles = []
    state: dict[str, int] = {}

    def visit(node: str, trail: list[str]) -> None:
        state[node] = 1
        for target in sorted(graph[node]):
            if state.get(target) == 1:
                cycles.append(" -> ".join([*trail[trail.index(target):], target]))
            elif target not in state:
                visit(target, [*trail, target])
        state[node] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])
    assert not cycles, "import cycles:\n" + "\n".join(cycles)


def test_no_module_imports_another_modules_private_names() -> None:
    borrowed = [
        f"{path.relative_to(LIBRARY.parent)}:{line}: {module}.{imported}"
        for path in MODULES.values()
        for module, imported, line in imports(path)
        if module.startswith("cohortflow") and imported and imported.startswith("_")
        and imported != "__version__"
    ]
    assert not borrowed, "private names imported across modules:\n" + "\n".join(borrowed)


@pytest.mark.parametrize("name", sorted(MODULES))
def test_modules_stay_a_few_hundred_lines(name: str) -> None:
    lines = len(MODULES[name].read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_LINES or name in LONG_MODULES, f"{name}: {lines} lines"


def test_no_process_level_tuning_in_the_library() -> None:
    tricks = re.compile(r"gc\.set_threshold|os\._exit|sys\.meta_path|OPENBLAS")
    found = [f"{path.relative_to(LIBRARY.parent)}:{number}: {line.strip()}"
             for path in MODULES.values()
             for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
             if tricks.search(line)]
    assert not found, "\n".join(found)


def test_comments_carry_no_benchmark_history() -> None:
    history = re.compile(r"[0-9]\.[0-9]+ ?-> ?[0-9]")
    sources = [*MODULES.values(), *(LIBRARY.parents[1] / "sql").rglob("*.sql")]
    found = [f"{path}:{number}" for path in sources
             for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
             if history.search(line)]
    assert not found, "\n".join(found)


def test_every_package_names_its_public_face() -> None:
    packages = [p.parent for p in LIBRARY.rglob("__init__.py") if p.parent != LIBRARY]
    without = [str(p.relative_to(LIBRARY)) for p in packages
               if not (p / "__init__.pyi").is_file()
               and "__all__" not in (p / "__init__.py").read_text()]
    assert not without, f"packages without __all__ or a stub: {without}"
