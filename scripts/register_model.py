"""Register the latest successful training run of a model as a new version (no alias is set):
``python -m scripts.register_model NAME [--run-id RUN_ID]``.

A run belongs to model NAME when it carries the tag ``model_name=NAME`` (every trainer sets it).
If that run's model is already registered, the existing version is reported and nothing changes."""

from __future__ import annotations

import argparse
import sys

from . import registry as reg


def latest_run(client, name: str, run_id: str | None = None):
    from mlflow.exceptions import MlflowException

    if run_id:
        try:
            run = client.get_run(run_id)
        except MlflowException:
            raise reg.RegistryError(f"unknown run: {run_id}") from None
        if run.info.status != "FINISHED":
            raise reg.RegistryError(f"run {run_id} did not finish successfully ({run.info.status})")
        return run
    experiments = [e.experiment_id for e in client.search_experiments(max_results=1000)]
    if experiments:
        query = f"tags.model_name = '{name}' and attributes.status = 'FINISHED'"
        runs = client.search_runs(experiments, filter_string=query, order_by=["attributes.start_time DESC"],
                                  max_results=1)
        if runs:
            return runs[0]
    raise reg.RegistryError(f"no successful training run of {name} found (runs are tagged model_name={name})")


def run_model_uri(client, run) -> str:
    """The URI of the model the run logged (MLflow 3 logged model, else ``runs:/<id>/model``)."""
    outputs = getattr(run, "outputs", None)
    for output in getattr(outputs, "model_outputs", None) or []:
        return f"models:/{output.model_id}"
    try:
        models = client.search_logged_models(experiment_ids=[run.info.experiment_id],
                                             filter_string=f"source_run_id = '{run.info.run_id}'", max_results=1)
        if models:
            return f"models:/{models[0].model_id}"
    except Exception:  # older servers: fall back to the run's artifact path
        pass
    return f"runs:/{run.info.run_id}/model"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.register_model", description=__doc__.splitlines()[0])
    parser.add_argument("name", help="registered model name, e.g. face-recognition or verifier-alice")
    parser.add_argument("--run-id", help="register this run instead of the latest successful one")
    args = parser.parse_args(argv)

    def body() -> int:
        from training.tracking import register_model_version

        client = reg.connect()
        run = latest_run(client, args.name, args.run_id)
        existing = client.search_model_versions(f"name='{args.name}' and run_id='{run.info.run_id}'")
        if existing:
            print(f"{args.name}: run {run.info.run_id} is already version {existing[0].version}")
            return 0
        version = register_model_version(run.info.run_id, run_model_uri(client, run), args.name)
        print(f"{args.name}: registered run {run.info.run_id} as version {version} (not promoted)")
        return 0

    return reg.run_cli(body)


if __name__ == "__main__":
    sys.exit(main())
