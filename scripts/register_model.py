"""Register the latest successful training run of a model as a new version (no alias is set):
``python -m scripts.register_model NAME [--run-id RUN_ID]`` (the same as
``python -m model_registry register``)."""

from __future__ import annotations

import sys

from model_registry.cli import register
from model_registry.cli.common import single_command


def main(argv: list[str] | None = None) -> int:
    return single_command(register, argv, prog="python -m scripts.register_model", doc=__doc__)


if __name__ == "__main__":
    sys.exit(main())
