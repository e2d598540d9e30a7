"""The packaging files agree with each other and with the README."""

import json
import re
import subprocess
import sys
from pathlib import Path

import tomllib
import yaml

ROOT = Path(__file__).resolve().parent.parent
# conda-forge names that differ from PyPI's
CONDA_NAMES = {"torch": "pytorch-cpu", "pyyaml": "pyyaml"}


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~\[; ]", requirement.strip(), maxsplit=1)[0].lower().replace("_", "-")


def _environment():
    return yaml.safe_load((ROOT / "environment.yml").read_text())


def _pip_section(env):
    return next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))


def _pyproject():
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_environment_yml_lists_exactly_what_pyproject_lists():
    project = _pyproject()["project"]
    wanted = project["dependencies"] + project["optional-dependencies"]["dev"]
    wanted_names = {CONDA_NAMES.get(_name(r), _name(r)) for r in wanted}
    env = _environment()
    conda, pip = set(), []
    for dep in env["dependencies"]:
        if isinstance(dep, dict):
            pip.extend(dep.get("pip", []))
        else:
            conda.add(_name(dep))
    assert "conda-forge" in env["channels"]
    assert "python=3.11" in env["dependencies"]
    conda -= {"python", "pip"}
    conda |= {_name(p) for p in pip if not p.startswith("-e")}  # PyPI-only packages go in the pip section
    only_env, only_pyproject = conda - wanted_names, wanted_names - conda
    assert conda == wanted_names, f"only in environment.yml: {only_env}; only in pyproject: {only_pyproject}"
    assert "-e ." in pip, "repo2docker installs the course package only if the pip section says -e ."


def test_environment_yml_pip_section_installs_the_course(tmp_path):
    """What conda (and repo2docker's micromamba) does with the pip section:
    ``pip install -r`` of its lines, run from environment.yml's folder. Here as
    an offline dry run: every line must resolve, and ``-e .`` must be this course."""
    env = _environment()
    pip = _pip_section(env)
    (tmp_path / "requirements.txt").write_text("\n".join(pip) + "\n")
    command = [sys.executable, "-m", "pip", "install", "--dry-run", "--no-deps", "--no-index", "--no-build-isolation",
               "--quiet", "--report", str(tmp_path / "report.json"), "-r", str(tmp_path / "requirements.txt")]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    installs = json.loads((tmp_path / "report.json").read_text())["install"]
    local = [i for i in installs if i["download_info"].get("dir_info", {}).get("editable")]
    assert [i["metadata"]["name"] for i in local] == [_pyproject()["project"]["name"]]
    assert local[0]["download_info"]["url"] == ROOT.as_uri()


def test_environment_yml_minimum_versions_match_pyproject():
    project = _pyproject()["project"]
    wanted = {_name(r): r for r in project["dependencies"] + project["optional-dependencies"]["dev"]}
    env = _environment()
    pip = _pip_section(env)
    for dep in env["dependencies"] + [p.split("#")[0].strip() for p in pip if not p.startswith("-e")]:
        if isinstance(dep, str) and _name(dep) not in {"python", "pip"}:
            pypi = {v: k for k, v in CONDA_NAMES.items()}.get(_name(dep), _name(dep))
            assert dep.split(">=")[-1] == wanted[pypi].split(">=")[-1], dep


def test_constraints_pin_every_dependency_and_the_cpu_torch():
    lines = (ROOT / "constraints.txt").read_text().splitlines()
    pins = {_name(line): line for line in lines if line and not line.startswith("#")}
    assert pins["torch"] == "torch==2.13.0"
    project = _pyproject()["project"]
    for requirement in project["dependencies"] + project["optional-dependencies"]["dev"]:
        assert _name(requirement) in pins, f"{requirement} is not pinned in constraints.txt"
    assert all("==" in line for line in pins.values())


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text().strip().splitlines()
    assert ci[-1] == "make test"
    assert "make test" in readme and "make lab" in readme
    assert "127.0.0.1" in (ROOT / "Makefile").read_text()


def test_every_dependency_is_justified_in_pyproject():
    text = (ROOT / "pyproject.toml").read_text()
    project = _pyproject()["project"]
    for requirement in project["dependencies"] + project["optional-dependencies"]["dev"]:
        name = _name(requirement)
        assert re.search(rf"^#\s+.*\b{re.escape(name)}\b.*-", text, re.M), f"say why {name} is a dependency"
