"""Every command that the README and docs/ tell a user to run exists as written: the module (or
console script) is there, its subcommand is one it offers, and each ``--option`` shown is one its
``--help`` lists. Running ``--help`` is the cheap part of "runs as written"; the registry examples
are run for real by tests/test_readme_registry.py and the stack by tests/test_stack_e2e.py."""

from __future__ import annotations

import functools
import importlib.util
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
# `python -m module args` or `.venv/bin/face-x args`, up to the end of the shell words on that line.
COMMAND = re.compile(r"(?:python -m ([a-z_][a-z0-9_.]*)|\.venv/bin/(face-[a-z-]+))((?:[ \t]+[^\s`|#()\[\]<>]+)*)")
SCRIPTS = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
CHOICES = re.compile(r"\{([a-z0-9_,-]+)\}")
OPTION_CHOICES = re.compile(r"-[\w-]+ \{[^}]*\}")


def subcommands(help_output: str) -> set[str]:
    """The positional ``{a,b,c}`` choices of the usage line (an option's choices are not subcommands)."""
    usage = help_output.split("\n\n", 1)[0]
    return {choice for group in CHOICES.findall(OPTION_CHOICES.sub("", usage)) for choice in group.split(",")}


def documented() -> list[tuple[str, str, list[str]]]:
    """``(where, module, words)`` for every command in the docs, once per distinct command."""
    seen: dict[tuple[str, tuple[str, ...]], str] = {}
    for path in DOCS:
        for number, line in enumerate(path.read_text().splitlines(), 1):
            for match in COMMAND.finditer(line):
                module = match.group(1) or SCRIPTS.get(match.group(2), f"?{match.group(2)}")
                words = tuple(match.group(3).split())
                seen.setdefault((module, words), f"{path.relative_to(ROOT)}:{number}")
    return [(where, module, list(words)) for (module, words), where in sorted(seen.items(), key=lambda kv: kv[1])]


@functools.cache
def help_text(module: str, subcommand: str | None) -> str:
    if ":" in module:  # a console script: its entry point, as the installed wrapper calls it
        path, function = module.split(":")
        args = [sys.executable, "-c", f"import sys; from {path} import {function}; sys.exit({function}())"]
    else:
        args = [sys.executable, "-m", module]
    args += [*([subcommand] if subcommand else []), "--help"]
    done = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=300,
                          env={"TF_CPP_MIN_LOG_LEVEL": "3", "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, f"{' '.join(args[1:])} --help failed:\n{done.stderr[-2000:]}"
    return done.stdout


COMMANDS = documented()


def test_the_docs_show_commands():
    assert len(COMMANDS) >= 40
    assert {module for _, module, _ in COMMANDS} >= {"model_registry", "benchmarks.soak", "scripts.enroll"}


@pytest.mark.parametrize(("where", "module", "words"), COMMANDS, ids=[f"{w}:{m}" for w, m, _ in COMMANDS])
def test_a_documented_command_exists_as_written(where, module, words):
    if module.startswith("?"):
        pytest.fail(f"{where}: .venv/bin/{module[1:]} is not a console script in pyproject.toml")
    if module.endswith("."):  # "python -m ..." in prose
        return
    assert importlib.util.find_spec(module.split(":")[0]) is not None, f"{where}: no module {module}"
    top = help_text(module, None)
    offered = subcommands(top)
    subcommand = words[0] if words and words[0] in offered else None
    if offered and words and re.fullmatch(r"[a-z][a-z_-]*", words[0]) and subcommand is None:
        pytest.fail(f"{where}: {module} has no subcommand {words[0]!r} (it offers {sorted(offered)})")
    text = help_text(module, subcommand) if subcommand else top
    for word in words:
        if word.startswith("--"):
            option = word.split("=", 1)[0]
            assert re.search(rf"(?<![\w-]){re.escape(option)}(?![\w-])", text), (
                f"{where}: {module} {subcommand or ''} has no option {option}"
            )
