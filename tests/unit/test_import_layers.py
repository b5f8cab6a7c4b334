"""The packages of cosmos_predict2 import only packages of lower layers (function-level imports included, so
there is no cycle between packages), and cosmos_predict2.models imports no optional GPU stacks and no
torch.distributed at module level."""

import ast
import pathlib
import subprocess
import sys

import pytest

PACKAGE_DIR = pathlib.Path(__file__).resolve().parents[2] / "cosmos_predict2"
MODELS_DIR = PACKAGE_DIR / "models"
# Lowest first. A package may import packages of lower layers only (not its own layer's neighbours).
LAYERS = (
    ("utils", "lazy_config"),
    ("models", "tokenizers", "text_encoders", "data", "guardrail"),
    ("diffusion",),
    ("parallel",),
    ("checkpoint",),
    ("pipelines",),
    ("configs",),
    ("conversion",),
    ("inference",),
    ("evaluation",),
    ("trainer",),
)
LAYER_OF = {name: i for i, names in enumerate(LAYERS) for name in names}
SKIPPED = {"_src"}  # upstream-path aliases for the guides' commands; they only re-export configs
FORBIDDEN = ("torch.distributed", "flash_attn", "flash_attn_interface", "transformer_engine")


def _module_level_imports(tree: ast.Module) -> list[str]:
    """Imports executed at import time: top level and inside top-level if/try blocks (not in functions)."""
    names: list[str] = []
    stack = list(tree.body)
    while stack:
        node = stack.pop()
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.append(node.module)
            names += [f"{node.module}.{alias.name}" for alias in node.names]
        elif isinstance(node, (ast.If, ast.Try, ast.With)):
            stack += node.body + getattr(node, "orelse", []) + getattr(node, "finalbody", [])
            for handler in getattr(node, "handlers", []):
                stack += handler.body
    return names


@pytest.mark.parametrize("path", sorted(MODELS_DIR.glob("*.py")), ids=lambda p: p.name)
def test_no_forbidden_module_level_imports(path):
    imported = _module_level_imports(ast.parse(path.read_text()))
    bad = [name for name in imported if any(name == f or name.startswith(f + ".") for f in FORBIDDEN)]
    assert bad == [], f"{path.name} imports {bad} at module level; import lazily inside the function that needs it"


def test_fresh_import_leaves_optional_backends_unloaded():
    modules = sorted(p.stem for p in MODELS_DIR.glob("*.py") if p.stem != "__init__")
    code = (
        "import importlib, sys\n"
        f"for m in {modules!r}: importlib.import_module('cosmos_predict2.models.' + m)\n"
        "print(','.join(m for m in ('flash_attn', 'flash_attn_interface', 'transformer_engine', 'diffusers') if m in sys.modules))\n"
    )
    root = MODELS_DIR.parents[1]
    result = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == ""


def imported_packages(source: str, rel: tuple[str, ...]) -> list[tuple[int, str]]:
    """(line, package) for every cosmos_predict2 package a file imports, anywhere in it (function bodies
    included; relative imports resolved; ``importlib.import_module("cosmos_predict2.x...")`` counted too)."""
    found = []
    for node in ast.walk(ast.parse(source)):
        modules = []
        if isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = ["cosmos_predict2", *rel[:-1]][: len(rel) - node.level + 1]
                modules = [".".join(base + ([node.module] if node.module else []))]
            elif node.module:
                modules = [node.module]
        elif (isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", None)) == "import_module"
              and node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)):
            modules = [node.args[0].value]
        for module in modules:
            parts = module.split(".")
            if parts[0] == "cosmos_predict2" and len(parts) > 1:
                found.append((node.lineno, parts[1]))
    return found


def _package_files():
    for path in sorted(PACKAGE_DIR.rglob("*.py")):
        parts = path.relative_to(PACKAGE_DIR).parts
        if len(parts) > 1 and parts[0] not in SKIPPED:
            yield parts[0], path


def test_every_package_has_a_layer():
    packages = {p.name for p in PACKAGE_DIR.iterdir() if p.is_dir() and (p / "__init__.py").exists()} - SKIPPED
    assert packages - set(LAYER_OF) == set(), "give each new package a place in LAYERS"


def test_packages_import_only_lower_layers():
    bad = []
    for package, path in _package_files():
        for line, target in imported_packages(path.read_text(), path.relative_to(PACKAGE_DIR).parts):
            if target != package and target in LAYER_OF and LAYER_OF[target] >= LAYER_OF[package]:
                bad.append(f"{path.relative_to(PACKAGE_DIR)}:{line} ({package}, layer {LAYER_OF[package]}) imports "
                           f"{target} (layer {LAYER_OF[target]})")
    assert bad == [], "imports against the layer order:\n" + "\n".join(bad)


def test_layer_check_sees_function_level_and_relative_imports():
    """The scanner itself: imports inside a function, relative and importlib imports are all found."""
    source = ("def f():\n    from cosmos_predict2.trainer import launch\n    from ..configs import validate\n"
              "    importlib.import_module('cosmos_predict2.inference.cli')\n")
    found = sorted(t for _, t in imported_packages(source, ("parallel", "probe.py")))
    assert found == ["configs", "inference", "trainer"]
