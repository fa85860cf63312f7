"""The house rules that a reviewer should not have to check by eye: dependencies point
inwards, and there is no float anywhere in the code base."""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import simrenew

PACKAGE = Path(simrenew.__file__).resolve().parent  # src/simrenew
REPO = PACKAGE.parent.parent

DOMAIN_MAY_NOT_IMPORT = (
    "simrenew.db",
    "simrenew.web",
    "simrenew.providers",
    "simrenew.notify",
    "simrenew.worker",
    "simrenew.services",
    "simrenew.cli",
    "simrenew.bootstrap",
    "simrenew.config",
    "sqlalchemy",
)
SERVICES_MAY_NOT_IMPORT = (
    "simrenew.db",
    "simrenew.web",
    "simrenew.providers",
    "simrenew.notify",
    "simrenew.worker",
    "simrenew.cli",
    "simrenew.bootstrap",
    "sqlalchemy",
)
# What the services may use of our own code: the domain, the ports, each other.
SERVICES_MAY_USE = ("simrenew.domain", "simrenew.ports", "simrenew.services")

# True divisions that are not arithmetic: Path joins. (file, expression) rather than
# file:line so that an edit elsewhere in the file does not move the entry.
PATH_JOINS = {
    # the default SQLite file under the var/ directory: Path / str
    ("config.py", "DEFAULT_VAR_DIR / 'simrenew.db'"),
}


def relative(path: Path) -> str:
    return path.relative_to(PACKAGE).as_posix()


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def source_files(under: str = "") -> list[Path]:
    files = sorted((PACKAGE / under).rglob("*.py"))
    assert files, f"no Python files under {PACKAGE / under}"
    return files


def imported_modules(path: Path) -> Iterator[tuple[int, str]]:
    """Every module ``path`` imports (``TYPE_CHECKING`` blocks and function bodies
    included), relative imports resolved to absolute names."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    package = module_name(path)
    if path.name != "__init__.py":
        package = package.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            yield node.lineno, target
            # `from simrenew import db` imports simrenew.db
            for alias in node.names:
                yield node.lineno, f"{target}.{alias.name}"


def within(module: str, packages: tuple[str, ...]) -> bool:
    return any(module == p or module.startswith(p + ".") for p in packages)


def forbidden_imports(under: str, forbidden: tuple[str, ...]) -> list[str]:
    return [
        f"{relative(path)}:{line}: imports {module}"
        for path in source_files(under)
        for line, module in imported_modules(path)
        if within(module, forbidden)
    ]


# --- dependencies point inwards ------------------------------------------------------------


def test_the_scan_sees_imports() -> None:
    # Guard against a vacuous pass: the scan does find what is there.
    found = {module for _, module in imported_modules(PACKAGE / "services" / "cards.py")}
    assert "simrenew.services.context.Context" in found
    assert "simrenew.domain.errors" in found
    assert forbidden_imports("db", ("sqlalchemy",)) != []


def test_the_domain_imports_nothing_from_the_outer_layers() -> None:
    assert forbidden_imports("domain", DOMAIN_MAY_NOT_IMPORT) == []


def test_the_services_import_nothing_from_the_adapters() -> None:
    assert forbidden_imports("services", SERVICES_MAY_NOT_IMPORT) == []


def test_the_services_use_only_the_domain_the_ports_and_each_other() -> None:
    offenders = [
        f"{relative(path)}:{line}: imports {module}"
        for path in source_files("services")
        for line, module in imported_modules(path)
        if within(module, ("simrenew",))
        and module != "simrenew"
        and not within(module, SERVICES_MAY_USE)
    ]
    assert offenders == []


# --- no float anywhere ---------------------------------------------------------------------


def float_offenders(path: Path) -> list[str]:
    """``float`` by name, float literals, and true division (``/``, ``/=``), in source order."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    where = relative(path)
    found: list[tuple[int, int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and node.id == "float":
            what = "the name `float`"
        elif isinstance(node, ast.Constant) and isinstance(node.value, float | complex):
            what = f"the float literal {node.value!r}"
        elif isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div):
            if (where, ast.unparse(node)) in PATH_JOINS:
                continue
            what = f"true division `{ast.unparse(node)}`"
        elif (isinstance(node, ast.AugAssign) and isinstance(node.op, ast.Div)) or (
            isinstance(node, ast.Attribute) and node.attr in ("truediv", "__truediv__")
        ):
            what = f"true division `{ast.unparse(node)}`"
        else:
            continue
        found.append((node.lineno, node.col_offset, what))
    return [f"{where}:{line}: {what}" for line, _, what in sorted(found)]


def test_the_float_scan_sees_floats(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys.modules[__name__], "PACKAGE", tmp_path)
    sample = tmp_path / "sample.py"
    sample.write_text(
        "from pathlib import Path\n"
        "def f(a: int, b: int) -> float:\n"
        "    c = a / b\n"
        "    c /= 2\n"
        "    return c * 1.5\n"
        "d = Path('x') // 2\n",
        encoding="utf-8",
    )
    assert float_offenders(sample) == [
        "sample.py:2: the name `float`",
        "sample.py:3: true division `a / b`",
        "sample.py:4: true division `c /= 2`",
        "sample.py:5: the float literal 1.5",
    ]


def test_no_float_anywhere_in_the_code_base() -> None:
    offenders = [line for path in source_files() for line in float_offenders(path)]
    assert offenders == [], "floats in src/simrenew:\n" + "\n".join(offenders)


def test_the_path_join_allow_list_is_not_stale() -> None:
    joins = {
        (relative(path), ast.unparse(node))
        for path in source_files()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div)
    }
    assert PATH_JOINS.issubset(joins), PATH_JOINS - joins


# --- import-linter ---------------------------------------------------------------------------


def test_import_linter_contracts_hold() -> None:
    lint_imports = Path(sys.executable).parent / "lint-imports"
    if not lint_imports.exists():
        pytest.fail(f"{lint_imports} is missing: install the dev extras")
    result = subprocess.run(
        [str(lint_imports), "--no-cache"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout
