"""Point ``production`` at the best version of each model, but only when it beats the current
production version by more than the noise: ``python -m scripts.deploy_model [NAME ...] [--dry-run]``
(the same as ``python -m model_registry deploy``; the gate is ``model_registry.gate``)."""

from __future__ import annotations

import sys

from model_registry.cli import deploy
from model_registry.cli.common import single_command


def main(argv: list[str] | None = None) -> int:
    return single_command(deploy, argv, prog="python -m scripts.deploy_model", doc=__doc__)


if __name__ == "__main__":
    sys.exit(main())
