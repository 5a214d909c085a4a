"""Point ``production`` at the best version of each model, but only when it beats the current
production version by more than the noise: ``python -m model_registry deploy [NAME ...] [--dry-run]``
(also ``python -m scripts.deploy_model``).

Every version is re-evaluated on its model's fixed evaluation set (``model_registry.fixed_sets``:
300 UTKFace test photos for age-gender, 400 LFW View 1 test pairs for face-recognition and
face-verifier), whatever its own run measured; the gate's rule is ``model_registry.gate``, the
metrics ``model_registry.names.GATE_METRICS``. Personal verifiers have no shared set and are judged
by their runs' test F1, as the output says."""

from __future__ import annotations

import argparse

from model_registry import gate
from model_registry import registry as reg
from model_registry.tracking import connect, tracking_uri

HELP = "promote each model's best version through the gate (fixed evaluation sets, noise rule)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("names", nargs="*", help="only these models (default: all)")
    parser.add_argument("--dry-run", action="store_true", help="say what would change, change nothing")


def run(args: argparse.Namespace) -> int:
    from training.fixed_sets import Evaluator

    client = connect()
    names = args.names or [m.name for m in reg.list_models(client)]
    if not names:
        print(f"no registered models at {tracking_uri()}")
    evaluator = Evaluator()
    for name in names:
        reg.get_model(client, name)
        evaluator.check_data(name)  # no fixed set here: refuse rather than judge by unlike figures
    for name in names:
        decision = gate.decide(client, name, evaluator)
        for line in decision.lines:
            print(f"{name}: {line}")
        if decision.version is None:
            print(f"{name}: unchanged: {decision.reason}")
        elif args.dry_run:
            print(f"{name}: would promote v{decision.version}: {decision.reason}")
        else:
            reg.promote(client, name, decision.version)
            print(f"{name}: promoted v{decision.version}: {decision.reason}")
    return 0

