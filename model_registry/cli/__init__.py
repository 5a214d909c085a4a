"""The one CLI for registry chores: ``python -m model_registry COMMAND``.

    performance | promote | rollback | clean | compare   day-to-day chores (model_registry.cli.chores)
    deploy [NAME ...] [--dry-run]                        promote through the gate (model_registry.cli.deploy)
    check [NAME ...]                                     versions, aliases, headline metrics
    register NAME [--run-id ID]                          a training run as a new version
    bootstrap [--baseline] [--export-baseline]           give an empty registry something to serve

The seed-named scripts (``scripts.model_utils``, ``deploy_model``, ``check_models``,
``register_model``, ``bootstrap_registry``) are the same commands under their old names. Unknown
models and versions, and an unreachable server, give a one-line error and exit status 2.

A door, not a floor: ``deploy``, ``compare`` and ``bootstrap`` evaluate on the trainer's data and
``bootstrap`` trains, so this subpackage stands with ``scripts`` (``tests/test_import_layers.py``)
and nothing on the ground floor imports it."""

from __future__ import annotations

import argparse
import sys

from . import bootstrap, check, chores, deploy, register
from .common import run_cli

SINGLE = {"deploy": deploy, "check": check, "register": register, "bootstrap": bootstrap}
"""Commands that are whole modules (each with ``add_arguments`` and ``run``)."""


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m model_registry", description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    chores.add_commands(sub)
    for name, module in SINGLE.items():
        module.add_arguments(sub.add_parser(name, help=module.HELP))
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    module = SINGLE.get(args.command, chores)
    return run_cli(lambda: module.run(args))


if __name__ == "__main__":
    sys.exit(main())
