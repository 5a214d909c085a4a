"""Give an empty registry something to serve: ``python -m scripts.bootstrap_registry``
(the same as ``python -m model_registry bootstrap``; ``make up`` runs it after the MLflow server
is healthy). ``--baseline`` registers the committed baselines without training;
``--export-baseline`` writes the registry's production versions into ``models/baseline/``."""

from __future__ import annotations

import sys

from model_registry.cli import bootstrap
from model_registry.cli.bootstrap import BASELINE_DIR, BOOTSTRAP_MODELS, baseline_names
from model_registry.cli.common import single_command

__all__ = ["BASELINE_DIR", "BOOTSTRAP_MODELS", "baseline_names", "main"]


def main(argv: list[str] | None = None) -> int:
    return single_command(bootstrap, argv, prog="python -m scripts.bootstrap_registry", doc=__doc__)


if __name__ == "__main__":
    sys.exit(main())
