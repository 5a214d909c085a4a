"""Day-to-day registry chores: ``python -m scripts.model_utils COMMAND`` (the same as
``python -m model_registry COMMAND``).

    performance                      production version and headline metrics of every model
    promote NAME VERSION             point alias production at VERSION (old one -> alias previous)
    rollback NAME [VERSION]          back to the previous production version (or to VERSION)
    clean NAME --keep N [--dry-run]  delete all but the newest N versions (never production/previous)
    compare NAME V1 V2               two versions side by side, judged on the model's fixed evaluation set

Unknown models and versions, and an unreachable server, give a one-line error and exit status 2."""

from __future__ import annotations

import sys

from model_registry.cli import chores


def main(argv: list[str] | None = None) -> int:
    return chores.main(argv, prog="python -m scripts.model_utils", doc=__doc__)


if __name__ == "__main__":
    sys.exit(main())
