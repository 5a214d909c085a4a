"""The project installs as a package (`make install` runs `pip install --no-deps -e .`): every console
script names a module that has its `main`, and the wheel holds the code with the files it reads from
its own folders (the web page, the migrations, the calibration)."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
TOP_LEVEL = sorted(p.name for p in ROOT.iterdir() if (p / "__init__.py").is_file() and p.name != "tests")


def module_path(module: str) -> Path:
    base = ROOT.joinpath(*module.split("."))
    return base / "__init__.py" if base.is_dir() else base.with_suffix(".py")


def test_every_console_script_names_a_main_that_exists():
    scripts = PYPROJECT["project"]["scripts"]
    assert {"face-pipeline", "face-api-keys", "face-stack"} <= set(scripts)
    for name, target in scripts.items():
        module, _, function = target.partition(":")
        path = module_path(module)
        assert path.is_file(), f"{name}: {module} does not exist"
        defined = {node.name for node in ast.parse(path.read_text()).body if isinstance(node, ast.FunctionDef)}
        assert function in defined, f"{name}: {module} has no {function}()"


def test_every_top_level_package_is_found():
    patterns = PYPROJECT["tool"]["setuptools"]["packages"]["find"]["include"]
    for package in TOP_LEVEL:
        assert any(pattern.rstrip("*") == package for pattern in patterns), f"{package} is not packaged"


def test_the_wheel_has_the_code_its_data_and_the_console_scripts(tmp_path):
    """Built from a copy of the packaging inputs (the build writes build/ next to them), offline."""
    source = tmp_path / "src"
    source.mkdir()
    shutil.copy(ROOT / "pyproject.toml", source)
    for package in TOP_LEVEL:
        shutil.copytree(ROOT / package, source / package, ignore=shutil.ignore_patterns("__pycache__"))
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(tmp_path), "."],
        cwd=source, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert built.returncode == 0, built.stderr[-3000:]
    [wheel] = tmp_path.glob("face_analytics_home-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        entry_points = next(archive.read(n).decode() for n in names if n.endswith(".dist-info/entry_points.txt"))
    for package in TOP_LEVEL:
        code = [p for p in (ROOT / package).rglob("*.py") if "__pycache__" not in p.parts]
        expected = {p.relative_to(ROOT).as_posix() for p in code}
        assert expected <= names, f"{package}: missing {sorted(expected - names)[:5]}"
    data = {"api/static/index.html", "api/static/app.js", "api/static/style.css", "api/migrations/script.py.mako",
            "api/migrations/env.py", "face_pipeline/data/calibration.json"}  # fmt: skip
    assert data <= names, sorted(data - names)
    assert not any(n.startswith(("tests/", "data/", "reports/")) for n in names)
    for name, target in PYPROJECT["project"]["scripts"].items():
        assert f"{name} = {target}" in entry_points
