"""``python -m model_registry COMMAND``: the registry CLI (:mod:`model_registry.cli`)."""

import sys

from model_registry.cli import main

sys.exit(main())
