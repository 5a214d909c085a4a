"""A table of every registered model: versions, aliases and headline metrics:
``python -m scripts.check_models [NAME ...]``."""

from __future__ import annotations

import argparse
import sys
import time

from . import registry as reg


def rows_for(client, name: str) -> list[list[str]]:
    model = reg.get_model(client, name)
    aliases: dict[str, list[str]] = {}
    for alias, version in (getattr(model, "aliases", {}) or {}).items():
        aliases.setdefault(str(version), []).append(alias)
    rows = []
    for version in reg.list_versions(client, name):
        metrics = reg.version_metrics(client, version)
        headline = ", ".join(f"{k}={metrics[k]:.4f}" for k in reg.HEADLINE_METRICS if k in metrics)
        created = time.strftime("%Y-%m-%d %H:%M", time.gmtime(version.creation_timestamp / 1000))
        rows.append([name, str(version.version), ",".join(sorted(aliases.get(str(version.version), []))) or "-",
                     created, headline or "-"])
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.check_models", description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="only these models (default: all)")
    args = parser.parse_args(argv)

    def body() -> int:
        client = reg.connect()
        names = args.names or [m.name for m in reg.list_models(client)]
        rows = [row for name in names for row in rows_for(client, name)]
        if not rows:
            print(f"no registered models at {reg.tracking_uri()}")
            return 0
        print(reg.format_table(rows, ["model", "version", "aliases", "created (UTC)", "headline metrics"]))
        return 0

    return reg.run_cli(body)


if __name__ == "__main__":
    sys.exit(main())
