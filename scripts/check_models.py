"""A table of every registered model: versions, aliases and headline metrics:
``python -m scripts.check_models [NAME ...]`` (the same as ``python -m model_registry check``)."""

from __future__ import annotations

import sys

from model_registry.cli import check
from model_registry.cli.common import single_command


def main(argv: list[str] | None = None) -> int:
    return single_command(check, argv, prog="python -m scripts.check_models", doc=__doc__)


if __name__ == "__main__":
    sys.exit(main())
