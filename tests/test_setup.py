"""`make setup` with uv and with pip gives the same environment; the hosted install cell installs the course."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from course_lib.tools import setup_env
from course_lib.tools.course_map import HOSTED_INSTALL

ROOT = Path(__file__).resolve().parent.parent
TOOLING = {"pip", "setuptools", "wheel"}  # the venv's own installer, not the course's environment


def test_uv_gets_the_package_sources_pip_is_configured_with():
    args = setup_env.uv_source_args({"find-links": ["/w"], "index-url": ["https://i"],
                                     "extra-index-url": ["file:///a", "file:///b"], "constraint": ["/c.txt"]})
    assert args == ["--find-links", "/w", "--index-url", "https://i", "--extra-index-url", "file:///a",
                    "--extra-index-url", "file:///b", "--constraint", "/c.txt", "--index-strategy", "unsafe-best-match"]
    assert setup_env.uv_source_args({}) == []


def test_an_unknown_installer_is_an_error_that_says_what_to_use(tmp_path):
    with pytest.raises(ValueError, match="setup_env: expected COURSE_INSTALLER as one of auto, uv, pip, got 'conda'"):
        setup_env.create(tmp_path / "venv", installer="conda")


def test_the_makefile_sets_up_through_setup_env():
    makefile = (ROOT / "Makefile").read_text()
    assert "course_lib/tools/setup_env.py --venv $(VENV)" in makefile


def _course_copy(dest: Path) -> Path:
    dest.mkdir()
    for name in ("pyproject.toml", "constraints.txt", "README.md"):
        shutil.copy(ROOT / name, dest / name)
    shutil.copytree(ROOT / "course_lib", dest / "course_lib", ignore=shutil.ignore_patterns("__pycache__"))
    return dest


def _versions(venv: Path) -> dict:
    out = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "list", "--format=freeze", "--exclude-editable"],
                         capture_output=True, text=True, check=True).stdout
    pairs = (line.split("==") for line in out.splitlines() if "==" in line)
    return {name.lower().replace("_", "-"): version for name, version in pairs if name.lower() not in TOOLING}


def test_uv_and_pip_install_the_same_versions_and_the_hosted_cell_installs_the_course(tmp_path):
    copy = _course_copy(tmp_path / "course")
    if setup_env.find_uv(sys.executable, ROOT / "build" / "uv") is None:
        pytest.skip("uv is not installed and could not be installed from PyPI")
    run = [sys.executable, str(copy / "course_lib" / "tools" / "setup_env.py"), "--extras", "dev"]
    for installer in ("uv", "pip"):
        done = subprocess.run([*run, "--venv", str(tmp_path / installer), "--installer", installer],
                              cwd=copy, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr[-3000:]
        assert f"ready with {installer}" in done.stdout
    uv, pip = _versions(tmp_path / "uv"), _versions(tmp_path / "pip")
    differ = {name: (uv.get(name), pip.get(name)) for name in set(uv) | set(pip) if uv.get(name) != pip.get(name)}
    assert uv == pip, differ
    assert pip["torch"].startswith("2.13.0") and "jupyterlab" in pip

    # A hosted service: the scientific stack is there, the course's package is not.
    python = str(tmp_path / "pip" / "bin" / "python")
    subprocess.run([python, "-m", "pip", "uninstall", "--quiet", "--yes", "course_lib"], check=True)
    assert subprocess.run([python, "-c", "import course_lib"], cwd=tmp_path, capture_output=True).returncode != 0
    notebooks = copy / "notebooks"  # where a notebook's kernel starts
    notebooks.mkdir()
    cell = subprocess.run([python, "-c", HOSTED_INSTALL], cwd=notebooks, capture_output=True, text=True)
    assert cell.returncode == 0 and f"Installed course_lib from {copy}" in cell.stdout, cell.stderr[-2000:]
    found = subprocess.run([python, "-c", "import course_lib, sys; print(course_lib.__file__)"], cwd=tmp_path,
                           capture_output=True, text=True, check=True).stdout
    assert found.strip() == str(copy / "course_lib" / "__init__.py")
