"""Point ``production`` at the best version of each model, but only when it beats the current
production version by more than the noise: ``python -m scripts.deploy_model [NAME ...] [--dry-run]``.

Every version is re-evaluated on its model's fixed evaluation set (``scripts.evaluation``: 300
UTKFace test photos for age-gender, 400 LFW View 1 test pairs for face-recognition and
face-verifier), whatever its own run measured; the gate's rule is ``scripts.gate``, the metrics
``scripts.registry.GATE_METRICS``. Personal verifiers have no shared set and are judged by their
runs' test F1, as the output says."""

from __future__ import annotations

import argparse
import sys

from . import registry as reg


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.deploy_model", description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="only these models (default: all)")
    parser.add_argument("--dry-run", action="store_true", help="say what would change, change nothing")
    args = parser.parse_args(argv)

    def body() -> int:
        from . import evaluation as ev
        from . import gate

        client = reg.connect()
        names = args.names or [m.name for m in reg.list_models(client)]
        if not names:
            print(f"no registered models at {reg.tracking_uri()}")
        evaluator = ev.Evaluator()
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

    return reg.run_cli(body)


if __name__ == "__main__":
    sys.exit(main())
