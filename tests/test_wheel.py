"""A wheel of aimcgen (a real, non-editable install) works outside the checkout.

The wheel is built from the sources and installed into a fresh virtual environment whose third-party
packages come from the test environment (so no download); `aimcgen generate` then runs from an unrelated
folder, and the C driver, shipped as package data, builds against the generated header.
"""

import shutil
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def run(cmd, cwd, timeout=600):
    done = subprocess.run([str(c) for c in cmd], cwd=cwd, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"{' '.join(map(str, cmd))}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done.stdout


@pytest.fixture(scope="module")
def wheel_env(tmp_path_factory):
    work = tmp_path_factory.mktemp("wheel")
    src = work / "src"
    shutil.copytree(ROOT, src, ignore=shutil.ignore_patterns(".git", ".venv", "build", "*.egg-info", "__pycache__"))
    run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", work / "dist",
         src], cwd=work)
    (wheel,) = (work / "dist").glob("aimcgen-*.whl")
    env_dir = work / "venv"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    python = env_dir / "bin" / "python"
    site = Path(run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], cwd=work).strip())
    # Third-party packages from the test environment: a plain path entry, so its .pth files (among them the
    # editable install of this checkout) are not processed and only the wheel provides aimcgen.
    (site / "test_env_packages.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    run([python, "-m", "pip", "install", "-q", "--no-deps", "--no-index", wheel], cwd=work)
    return env_dir, work


def test_wheel_installs_aimcgen_from_its_own_files(wheel_env):
    env_dir, work = wheel_env
    where = run([env_dir / "bin" / "python", "-c", "import aimcgen.rtl, aimcgen.firmware; "
                 "print(aimcgen.__file__); print(aimcgen.rtl.__file__)"], cwd=work).split()
    assert all(Path(p).is_relative_to(env_dir) for p in where), where


def test_wheel_generates_and_builds_the_c_driver(wheel_env, tmp_path):
    env_dir, _ = wheel_env
    out = tmp_path / "out"
    run([env_dir / "bin" / "aimcgen", "generate", "--out", out], cwd=tmp_path)
    (design,) = [p for p in out.iterdir() if p.is_dir()]
    assert (design / "regmap.json").is_file() and list((design / "rtl").glob("*.v"))
    if shutil.which("gcc") is None:
        pytest.skip("gcc not found: the C driver build needs a C compiler")
    lib = run([env_dir / "bin" / "python", "-c",
               "import sys; from aimcgen.presets import load_preset; "
               "from aimcgen.firmware.c_driver import compile_driver_library; "
               "print(compile_driver_library(load_preset('default'), sys.argv[1]))", tmp_path / "drv"],
              cwd=tmp_path).strip()
    assert Path(lib).is_file()
