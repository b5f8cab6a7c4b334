"""cosmos_predict2.models imports no optional GPU stacks and no torch.distributed at module level."""

import ast
import pathlib
import subprocess
import sys

import pytest

MODELS_DIR = pathlib.Path(__file__).resolve().parents[2] / "cosmos_predict2" / "models"
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
