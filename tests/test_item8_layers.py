"""Issue 8: the layering cli -> apps -> (io | dataplane) -> model -> packet is checked by
import-linter (`lint-imports`, run by `make test`), and a back-edge fails it."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LINT = Path(sys.executable).parent / "lint-imports"

pytestmark = pytest.mark.skipif(not LINT.exists(), reason="import-linter not installed")


def _lint(tree: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(LINT), "--no-cache"], cwd=tree, capture_output=True,
                          text=True, env={"PYTHONPATH": str(tree), "PATH": "/usr/bin:/bin"})


def test_item8_layers_contract_is_kept():
    r = _lint(ROOT)
    assert r.returncode == 0, r.stdout[-2000:]
    assert "1 kept, 0 broken" in r.stdout


@pytest.mark.parametrize("module, back_edge", [
    ("io/yaml_loader.py", "import netemu.dataplane.grouping"),      # io -> its peer
    ("dataplane/grouping.py", "import netemu.io.load"),             # dataplane -> its peer
    ("model/topology.py", "import netemu.io.load"),                 # model -> a layer above
    ("packet.py", "import netemu.model.resources"),                 # layer 0 -> above
    ("apps/trace.py", "import netemu.cli"),                         # apps -> cli
])
def test_item8_a_back_edge_breaks_the_contract(tmp_path, module, back_edge):
    shutil.copytree(ROOT / "netemu", tmp_path / "netemu",
                    ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    target = tmp_path / "netemu" / module
    target.write_text(target.read_text() + f"\n{back_edge}  # noqa\n")
    r = _lint(tmp_path)
    assert r.returncode == 1, r.stdout[-2000:]
    assert "0 kept, 1 broken" in r.stdout
