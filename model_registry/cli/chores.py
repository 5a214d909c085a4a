"""Day-to-day registry chores: ``python -m model_registry COMMAND`` (also ``python -m scripts.model_utils COMMAND``).

    performance                      production version and headline metrics of every model
    promote NAME VERSION             point alias production at VERSION (old one -> alias previous)
    rollback NAME [VERSION]          back to the previous production version (or to VERSION)
    clean NAME --keep N [--dry-run]  delete all but the newest N versions (never production/previous)
    compare NAME V1 V2               two versions side by side, judged on the model's fixed evaluation set

Unknown models and versions, and an unreachable server, give a one-line error and exit status 2."""

from __future__ import annotations

import argparse

from model_registry import fixed_sets as fs
from model_registry import registry as reg
from model_registry.names import HEADLINE_METRICS, PRODUCTION, is_better, primary_metric
from model_registry.tracking import connect

from .common import fmt, format_table, run_cli

COMMANDS = ("performance", "promote", "rollback", "clean", "compare")


def add_commands(sub) -> None:
    """The chores as subcommands of ``sub`` (an argparse subparsers object)."""
    sub.add_parser("performance", help="production versions and their headline metrics")
    p = sub.add_parser("promote", help="point production at a version")
    p.add_argument("name")
    p.add_argument("version")
    p = sub.add_parser("rollback", help="back to the previous production version (or to VERSION)")
    p.add_argument("name")
    p.add_argument("version", nargs="?")
    p = sub.add_parser("clean", help="delete old versions (never production or previous)")
    p.add_argument("name")
    p.add_argument("--keep", type=int, required=True)
    p.add_argument("--dry-run", action="store_true")
    p = sub.add_parser("compare", help="metrics and parameters of two versions side by side")
    p.add_argument("name")
    p.add_argument("v1")
    p.add_argument("v2")


def performance(client) -> None:
    rows = []
    for model in reg.list_models(client):
        version = (getattr(model, "aliases", {}) or {}).get(PRODUCTION)
        if version is None:
            rows.append([model.name, "-", "no production version", "-"])
            continue
        metrics = reg.version_metrics(client, reg.get_version(client, model.name, version))
        primary = primary_metric(model.name, metrics)
        headline = ", ".join(f"{k}={metrics[k]:.4f}" for k in HEADLINE_METRICS if k in metrics)
        rows.append([model.name, str(version), f"{primary[0]}={primary[2]:.4f}" if primary else "-", headline or "-"])
    if not rows:
        print("no registered models")
        return
    print(format_table(rows, ["model", "production", "primary metric", "metrics"]))


def compare(client, name: str, v1: str, v2: str) -> None:
    """Both versions' run records side by side, then the verdict on the fixed evaluation set: the
    runs measured themselves on different splits, so only the shared set can say which is better."""
    a, b = reg.get_version(client, name, v1), reg.get_version(client, name, v2)
    ma, mb = reg.version_metrics(client, a), reg.version_metrics(client, b)
    pa, pb = reg.version_params(client, a), reg.version_params(client, b)
    rows = [[f"metric {k}", fmt(ma.get(k)), fmt(mb.get(k))] for k in sorted(set(ma) | set(mb))]
    rows += [[f"param {k}", fmt(pa.get(k)), fmt(pb.get(k))] for k in sorted(set(pa) | set(pb))]
    rows.insert(0, ["run", a.run_id or "-", b.run_id or "-"])
    print(format_table(rows, [name, f"v{a.version}", f"v{b.version}"]))
    if fs.has_fixed_set(name):
        from training.fixed_sets import Evaluator

        evaluator = Evaluator()
        try:
            evaluator.check_data(name)
        except fs.EvaluationUnavailable as exc:
            print(f"not judged: {exc}; the run metrics above come from different test splits")
            return
        first, second = evaluator.evaluate(client, name, a.version), evaluator.evaluate(client, name, b.version)
        print(fs.set_description(name))
        print(first.describe())
        print(second.describe())
        print(fs.compare(first, second).text)
        return
    primary = primary_metric(name, {k: v for k, v in ma.items() if k in mb})
    if primary:
        metric, higher, _ = primary
        better = a if is_better(ma[metric], mb[metric], higher) else b
        print(f"better by {metric} ({'higher' if higher else 'lower'} is better, each run's own test split; "
              f"no fixed evaluation set for {name}): v{better.version}")


def run(args: argparse.Namespace) -> int:
    """One chore, on the registry of ``MLFLOW_TRACKING_URI``."""
    client = connect()
    if args.command == "performance":
        performance(client)
    elif args.command == "promote":
        result = reg.promote(client, args.name, args.version)
        print(f"{args.name}: production -> v{result.version}"
              + (f" (previous: v{result.previous})" if result.previous else "")
              + ("" if result.changed else " (already in production)"))
    elif args.command == "rollback":
        result = reg.rollback(client, args.name, args.version)
        print(f"{args.name}: rolled back, production -> v{result.version}"
              + (f" (previous: v{result.previous})" if result.previous else "")
              + ("" if result.changed else " (already in production)"))
    elif args.command == "clean":
        deleted = reg.clean(client, args.name, args.keep, args.dry_run)
        verb = "would delete" if args.dry_run else "deleted"
        print(f"{args.name}: {verb} {len(deleted)} version(s)" + (f": {', '.join(deleted)}" if deleted else ""))
    elif args.command == "compare":
        compare(client, args.name, args.v1, args.v2)
    return 0


def main(argv: list[str] | None = None, prog: str = "python -m scripts.model_utils", doc: str | None = None) -> int:
    """The chores alone, as ``scripts.model_utils`` has always offered them (``doc``: its help text)."""
    doc = doc or __doc__
    parser = argparse.ArgumentParser(prog=prog, description=doc.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=doc)
    add_commands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return run_cli(lambda: run(args))
