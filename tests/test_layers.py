"""The layers of the code (pyproject's [tool.importlinter] contracts) hold: `lint-imports` finds no back-edge.

pyproject maps top-level folders onto `aimcgen.*` subpackages (rtl/ is aimcgen.rtl, ...), which a tool that
walks the package folder cannot see; so the test lays the sources out as an installed package would be, in a
temporary folder, and runs import-linter there.
"""

import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = ROOT / "pyproject.toml"


def lay_out_package(dest: Path) -> Path:
    """Copy every package folder to where an installed `aimcgen` would hold it; returns dest."""
    dirs = tomllib.loads(PYPROJECT.read_text())["tool"]["setuptools"]["package-dir"]
    for package, folder in sorted(dirs.items(), key=lambda item: item[0].count(".")):
        shutil.copytree(ROOT / folder, dest.joinpath(*package.split(".")), dirs_exist_ok=True,
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    return dest


def lint_imports(folder: Path, config: Path = PYPROJECT) -> subprocess.CompletedProcess:
    exe = Path(sys.executable).with_name("lint-imports")
    if not exe.exists():
        pytest.fail(f"{exe} missing: install the test tools (pip install -e '.[test]')")
    return subprocess.run([str(exe), "--config", str(config), "--no-cache"], cwd=folder, capture_output=True,
                          text=True, timeout=300)


def test_import_layers_hold(tmp_path):
    done = lint_imports(lay_out_package(tmp_path))
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert "0 broken" in done.stdout


def test_a_back_edge_breaks_the_contract(tmp_path):
    """The check can fail: a contract module that imports the RTL is reported."""
    pkg = lay_out_package(tmp_path)
    formats = pkg / "aimcgen" / "contract" / "formats.py"
    formats.write_text(formats.read_text() + "\nimport aimcgen.rtl.accelerator  # a back-edge\n")
    done = lint_imports(pkg)
    assert done.returncode != 0
    assert "aimcgen.contract.formats -> aimcgen.rtl.accelerator" in done.stdout, done.stdout[-4000:]


def _owner(name: str, dirs: dict[str, str]) -> str:
    """The package-dir entry a dotted package name lives under (the longest matching prefix)."""
    return max((p for p in dirs if name == p or name.startswith(p + ".")), key=len)


def _has_init(name: str, dirs: dict[str, str]) -> bool:
    owner = _owner(name, dirs)
    rest = name[len(owner) + 1:].split(".") if name != owner else []
    return (ROOT / dirs[owner] / Path(*rest) / "__init__.py").is_file()


def test_every_package_is_listed_in_pyproject():
    """A folder with Python files that setuptools would not ship (and the layers would not see) fails here.

    A listed package without Python files is a data folder, shipped by its package-data entry.
    """
    config = tomllib.loads(PYPROJECT.read_text())["tool"]["setuptools"]
    dirs = config["package-dir"]
    listed = {name for name in config["packages"] if _has_init(name, dirs) or name not in config["package-data"]}
    found = set()
    for package, folder in dirs.items():
        for init in (ROOT / folder).rglob("__init__.py"):
            rel = init.parent.relative_to(ROOT / folder).parts
            name = ".".join([package, *rel])
            if _owner(name, dirs) == package:
                found.add(name)
    assert found == listed, f"packages on disk but not listed: {sorted(found - listed)}; " \
                            f"listed but missing: {sorted(listed - found)}"
