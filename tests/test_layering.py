"""Layering: the sampling layer is importable without torch; mining lives in nn."""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import sktriplet

SAMPLING = Path(sktriplet.__file__).parent / "sampling"


def _top_level_imports(path):
    """Modules imported at module level (not inside functions) by ``path``."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = []
    for node in tree.body:
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            names.append(node.module)
    return names


def test_import_sampling_does_not_import_torch():
    code = (
        "import sys, sktriplet.sampling; "
        "assert 'torch' not in sys.modules, 'sktriplet.sampling imports torch'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize("path", sorted(SAMPLING.glob("*.py")), ids=lambda p: p.name)
def test_no_sampling_module_imports_torch_at_top_level(path):
    torch_imports = [
        name for name in _top_level_imports(path) if name.split(".")[0] == "torch"
    ]
    assert not torch_imports, f"{path.name} imports {torch_imports}"


def test_top_level_names_still_load():
    code = (
        "import sktriplet; from sktriplet import *; "
        "assert sktriplet.TripletEmbedder is TripletEmbedder; "
        "assert CRNNTagger.__module__.startswith('sktriplet.tagging'); "
        "assert sktriplet.nn.semihard_negatives"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_mining_importable_from_its_former_path():
    from sktriplet import nn
    from sktriplet.sampling import semihard_negatives, semihard_valid_mask

    assert semihard_negatives is nn.semihard_negatives
    assert semihard_valid_mask is nn.semihard_valid_mask
    with pytest.raises(AttributeError, match="no attribute"):
        sktriplet.sampling.no_such_name
