"""A table of every registered model: versions, aliases and headline metrics:
``python -m model_registry check [NAME ...]`` (also ``python -m scripts.check_models``)."""

from __future__ import annotations

import argparse
import time

from model_registry import registry as reg
from model_registry.names import HEADLINE_METRICS
from model_registry.tracking import connect, tracking_uri

from .common import format_table

HELP = "every registered model: versions, aliases, headline metrics"


def rows_for(client, name: str) -> list[list[str]]:
    model = reg.get_model(client, name)
    aliases: dict[str, list[str]] = {}
    for alias, version in (getattr(model, "aliases", {}) or {}).items():
        aliases.setdefault(str(version), []).append(alias)
    rows = []
    for version in reg.list_versions(client, name):
        metrics = reg.version_metrics(client, version)
        headline = ", ".join(f"{k}={metrics[k]:.4f}" for k in HEADLINE_METRICS if k in metrics)
        created = time.strftime("%Y-%m-%d %H:%M", time.gmtime(version.creation_timestamp / 1000))
        rows.append([name, str(version.version), ",".join(sorted(aliases.get(str(version.version), []))) or "-",
                     created, headline or "-"])
    return rows


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("names", nargs="*", help="only these models (default: all)")


def run(args: argparse.Namespace) -> int:
    client = connect()
    names = args.names or [m.name for m in reg.list_models(client)]
    rows = [row for name in names for row in rows_for(client, name)]
    if not rows:
        print(f"no registered models at {tracking_uri()}")
        return 0
    print(format_table(rows, ["model", "version", "aliases", "created (UTC)", "headline metrics"]))
    return 0

