"""Register the latest successful training run of a model as a new version (no alias is set):
``python -m model_registry register NAME [--run-id RUN_ID]`` (also ``python -m scripts.register_model``).

A run belongs to model NAME when it carries the tag ``model_name=NAME`` (every trainer sets it).
If that run's model is already registered, the existing version is reported and nothing changes."""

from __future__ import annotations

import argparse

from model_registry import registry as reg
from model_registry.tracking import connect

HELP = "register a training run as a new version (not promoted)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", help="registered model name, e.g. face-recognition or verifier-alice")
    parser.add_argument("--run-id", help="register this run instead of the latest successful one")


def run(args: argparse.Namespace) -> int:
    from training.tracking import configure_mlflow

    client = connect()
    run = reg.latest_run(client, args.name, args.run_id)
    existing = client.search_model_versions(f"name='{args.name}' and run_id='{run.info.run_id}'")
    if existing:
        print(f"{args.name}: run {run.info.run_id} is already version {existing[0].version}")
        return 0
    configure_mlflow()  # MLflow's register_model resolves the run's model through its fluent API
    version = reg.register_version(run.info.run_id, reg.run_model_uri(client, run), args.name)
    print(f"{args.name}: registered run {run.info.run_id} as version {version} (not promoted)")
    return 0

