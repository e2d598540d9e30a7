"""Create the course's virtual environment: uv when it is there, else pip, same constraints, same result.

``make setup`` runs this file with the system's Python (``python3
course_lib/tools/setup_env.py``), before the course is installed, so it uses
the standard library only. The installer:

* ``uv`` on the PATH (or ``$UV``) is used as it is;
* otherwise ``uv==UV_VERSION`` is installed first from PyPI into
  ``build/uv/`` with pip (a few seconds), and used;
* ``COURSE_INSTALLER=pip`` (or a failure to get uv) falls back to pip.

Both paths install ``-e ".[dev]"`` under ``constraints.txt`` into a venv that
has pip in it, and pass uv the package sources pip is configured with
(``find-links``, index URLs, a global constraint file: uv does not read pip's
configuration), so they resolve to the same versions; ``tests/test_setup.py``
compares them.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
UV_VERSION = "0.13.9"
INSTALLERS = ("auto", "uv", "pip")


def _fail(exc, what: str, got: str, fix: str):
    raise exc(f"setup_env: expected {what}, got {got}; {fix}")


def pip_settings(python: str = sys.executable) -> dict[str, list[str]]:
    """pip's configured package sources: ``{"find-links": [...], "index-url": [...], ...}``.

    Read from ``pip config list`` (files and ``PIP_*`` variables), so that uv
    uses exactly the sources pip would.
    """
    out = subprocess.run([python, "-m", "pip", "config", "list"], capture_output=True, text=True).stdout
    settings: dict[str, list[str]] = {}
    for line in out.splitlines():
        key, sep, value = line.partition("=")
        if not sep:
            continue
        name = key.rsplit(".", 1)[-1]
        if name in ("find-links", "index-url", "extra-index-url", "constraint"):
            for item in value.strip().strip("'\"").split():
                if item not in settings.setdefault(name, []):
                    settings[name].append(item)
    return settings


def uv_source_args(settings: dict[str, list[str]]) -> list[str]:
    """uv's command-line arguments for pip's package sources (see ``pip_settings``)."""
    args = []
    for link in settings.get("find-links", []):
        args += ["--find-links", link]
    for url in settings.get("index-url", [])[:1]:
        args += ["--index-url", url]
    for url in settings.get("extra-index-url", []):
        args += ["--extra-index-url", url]
    for path in settings.get("constraint", []):
        args += ["--constraint", path]
    if len(settings.get("extra-index-url", [])) + len(settings.get("find-links", [])) > 0:
        # pip picks the best version across every source; uv's default stops at the first index that has a name
        args += ["--index-strategy", "unsafe-best-match"]
    return args


def find_uv(python: str, bootstrap: Path) -> str | None:
    """A uv executable: ``$UV``, ``uv`` on the PATH, or ``uv==UV_VERSION`` installed into ``bootstrap``."""
    found = os.environ.get("UV") or shutil.which("uv")
    if found:
        return found
    local = bootstrap / "bin" / "uv"
    if not local.is_file():
        print(f"setup: installing uv=={UV_VERSION} into {bootstrap} (pip)", flush=True)
        done = subprocess.run([python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                               "--target", str(bootstrap), f"uv=={UV_VERSION}"])
        if done.returncode != 0 or not local.is_file():
            print("setup: could not install uv; using pip instead", flush=True)
            return None
    return str(local)


def create(venv: Path, installer: str = "auto", python: str = sys.executable, extras: str = "dev") -> str:
    """Create ``venv`` and install the course into it; return the installer used ("uv" or "pip")."""
    if installer not in INSTALLERS:
        _fail(ValueError, f"COURSE_INSTALLER as one of {', '.join(INSTALLERS)}", repr(installer),
              "unset COURSE_INSTALLER to use uv when it is there")
    target = f".[{extras}]" if extras else "."
    constraints = str(ROOT / "constraints.txt")
    uv = None if installer == "pip" else find_uv(python, ROOT / "build" / "uv")
    if installer == "uv" and uv is None:
        _fail(RuntimeError, "uv on the PATH or installable from PyPI", "neither",
              "install uv (pip install uv) or use COURSE_INSTALLER=pip")
    if uv:
        subprocess.run([uv, "venv", "--quiet", "--seed", "--allow-existing", "--python", python, str(venv)], check=True)
        subprocess.run([uv, "pip", "install", "--quiet", "--python", str(venv / "bin" / "python"),
                        *uv_source_args(pip_settings(python)), "--constraint", constraints,
                        "--editable", target], check=True, cwd=ROOT)
        return "uv"
    subprocess.run([python, "-m", "venv", str(venv)], check=True)
    subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "--constraint", constraints,
                    "--editable", target], check=True, cwd=ROOT)
    return "pip"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="course_lib/tools/setup_env.py", description=__doc__.split("\n")[0])
    parser.add_argument("--venv", default=".venv", help="where to create the environment (default .venv)")
    parser.add_argument("--installer", default=os.environ.get("COURSE_INSTALLER", "auto"), choices=INSTALLERS)
    parser.add_argument("--extras", default="dev", help="the course's extras to install (default dev; '' for none)")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    used = create(Path(args.venv), args.installer, extras=args.extras)
    print(f"setup: {args.venv} ready with {used} in {time.perf_counter() - start:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
