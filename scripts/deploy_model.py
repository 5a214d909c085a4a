"""Point ``production`` at the best version of each model by its primary metric, but only when it
beats the current production version: ``python -m scripts.deploy_model [NAME ...] [--dry-run]``.

Primary metrics (``scripts.registry.PRIMARY_METRICS``): age-gender: lowest test age MAE;
face-recognition: LFW accuracy; face-verifier: test ROC AUC; verifier-<person>: test F1."""

from __future__ import annotations

import argparse
import sys

from . import registry as reg


def decide(client, name: str) -> tuple[str | None, str]:
    """(version to promote or None, reason)."""
    versions = reg.list_versions(client, name)
    scored = []
    for version in versions:
        primary = reg.primary_metric(name, reg.version_metrics(client, version))
        if primary:
            scored.append((version, *primary))
    if not scored:
        return None, "no version has a primary metric"
    best, metric, higher, value = scored[0]
    for candidate in scored[1:]:
        if candidate[1] == metric and reg.is_better(candidate[3], value, higher):
            best, value = candidate[0], candidate[3]
    current = reg.alias_version(client, name, reg.PRODUCTION)
    if current is None:
        return str(best.version), f"no production version; best v{best.version} {metric}={value:.4f}"
    if current == str(best.version):
        return None, f"production v{current} is already the best ({metric}={value:.4f})"
    current_metric = reg.primary_metric(name, reg.version_metrics(client, reg.get_version(client, name, current)))
    if current_metric is None or current_metric[0] != metric or reg.is_better(value, current_metric[2], higher):
        was = f"{current_metric[2]:.4f}" if current_metric and current_metric[0] == metric else "n/a"
        return str(best.version), f"v{best.version} {metric}={value:.4f} beats production v{current} ({was})"
    return None, f"production v{current} ({metric}={current_metric[2]:.4f}) is not beaten"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.deploy_model", description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="only these models (default: all)")
    parser.add_argument("--dry-run", action="store_true", help="say what would change, change nothing")
    args = parser.parse_args(argv)

    def body() -> int:
        client = reg.connect()
        names = args.names or [m.name for m in reg.list_models(client)]
        if not names:
            print(f"no registered models at {reg.tracking_uri()}")
        for name in names:
            version, reason = decide(client, name)
            if version is None:
                print(f"{name}: unchanged: {reason}")
            elif args.dry_run:
                print(f"{name}: would promote v{version}: {reason}")
            else:
                reg.promote(client, name, version)
                print(f"{name}: promoted v{version}: {reason}")
        return 0

    return reg.run_cli(body)


if __name__ == "__main__":
    sys.exit(main())
