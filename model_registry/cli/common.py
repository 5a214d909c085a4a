"""What every registry command shares: known problems as one line on stderr and exit status 2,
and the plain tables they print."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from types import ModuleType

from model_registry.errors import RegistryError
from model_registry.tracking import tracking_uri


def run_cli(body: Callable[[], int | None]) -> int:
    """Run a command's body; known problems become one line on stderr and exit status 2 (no traceback)."""
    try:
        return int(body() or 0)
    except RegistryError as exc:
        print(f"error: {exc}", file=sys.stderr)
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
    except Exception as exc:  # noqa: BLE001 - MLflow/HTTP failures: keep it to one line
        message = " ".join(str(exc).split())
        if any(word in message for word in ("Max retries", "Connection refused", "Failed to establish",
                                            "API request to", "timed out")):
            message = f"MLflow server at {tracking_uri()} is unreachable ({message[:200]})"
        print(f"error: {type(exc).__name__}: {message[:500]}" if "unreachable" not in message
              else f"error: {message}", file=sys.stderr)
    return 2


def single_command(command: ModuleType, argv: list[str] | None, prog: str, doc: str) -> int:
    """A one-command door (a seed-named script) to a command module with ``add_arguments`` and ``run``:
    the same arguments as its ``python -m model_registry`` subcommand, under the script's own name."""
    parser = argparse.ArgumentParser(prog=prog, description=doc.splitlines()[0])
    command.add_arguments(parser)
    args = parser.parse_args(argv)
    return run_cli(lambda: command.run(args))


def format_table(rows: list[list[str]], header: list[str]) -> str:
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]
    lines = ["  ".join(str(x).ljust(w) for x, w in zip(header, widths))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(str(x).ljust(w) for x, w in zip(row, widths)) for row in rows]
    return "\n".join(lines)


def fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:.4f}"
    return "-" if value is None else str(value)
