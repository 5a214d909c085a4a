"""The promotion gate: which version (if any) should carry ``production``. One rule, used by
``python -m model_registry deploy`` and ``bootstrap``, so a model reaches production the same
way whoever puts it there.

Models with a fixed evaluation set (``model_registry.names.GATE_METRICS``): the candidates and the
current production version are re-evaluated on that set (:mod:`model_registry.fixed_sets`). A candidate
replaces production only when it is better by more than the set's noise (2 paired standard
errors); a production version that cannot be evaluated here (e.g. trained on another embedder)
gives way to any candidate that can. With no production version the best candidate is promoted;
candidates tying with it leave the earliest registered one (an older version as good as a newer
one stays: a newer one has to earn its place).

Other models (``verifier-<person>``: each person's own photos, no shared set) are judged by their
runs' own test metrics, as the output says."""

from __future__ import annotations

from dataclasses import dataclass, field

from . import fixed_sets as ev
from . import registry as reg
from .names import PRODUCTION, is_better, primary_metric


@dataclass
class Decision:
    name: str
    version: str | None  # to promote; None: leave production as it is
    reason: str
    lines: list[str] = field(default_factory=list)  # what was measured, for the output


def judge(client, name: str, candidates: list[str], evaluator: ev.SetEvaluator) -> Decision:
    """The gate on ``name``'s fixed set among ``candidates`` and the production version."""
    current = reg.alias_version(client, name, PRODUCTION)
    versions = sorted({str(v) for v in candidates} | ({current} if current else set()), key=int)
    evaluations = {v: evaluator.evaluate(client, name, v) for v in versions}
    lines = [ev.set_description(name)]
    lines += [e.describe() + ("  [production]" if e.version == current else "") for e in evaluations.values()]
    usable = [e for e in evaluations.values() if e.ok]
    if not usable:
        return Decision(name, None, "no version can be evaluated on the fixed set", lines)
    metric = usable[0].metric
    best = usable[0]
    for e in usable[1:]:
        if is_better(e.value, best.value, e.higher_is_better):
            best = e
    if current is None:
        tied = [e for e in usable if e is not best and ev.compare(e, best).winner is None]
        chosen = min([best, *tied], key=lambda e: int(e.version))
        why = f"no production version; best on the fixed set v{best.version} {metric}={best.value:.4f}"
        if chosen is not best:
            why += f", no clear winner against v{chosen.version} ({chosen.value:.4f}): the earlier one goes"
        return Decision(name, chosen.version, why, lines)
    production = evaluations[current]
    if not production.ok:
        return Decision(name, best.version, f"production v{current} cannot be evaluated ({production.problem}); "
                        f"v{best.version} {metric}={best.value:.4f}", lines)
    if best.version == current:
        others = [e for e in usable if e is not production]
        if not others:
            return Decision(name, None, f"production v{current} is the only version that can be evaluated "
                            f"({metric}={production.value:.4f})", lines)
        runner = others[0]
        for e in others[1:]:
            if is_better(e.value, runner.value, e.higher_is_better):
                runner = e
        verdict = ev.compare(runner, production)
        lines.append(f"v{runner.version} vs production v{current}: {verdict.text}")
        if verdict.winner is None:
            return Decision(name, None, f"no clear winner: the best other version v{runner.version} "
                            f"({metric}={runner.value:.4f}) is within {ev.CLEAR_WINNER_SE:g} SE of production "
                            f"v{current} ({production.value:.4f}); production stays", lines)
        return Decision(name, None, f"production v{current} is the best on the fixed set "
                        f"({metric}={production.value:.4f}, clearly ahead of v{runner.version})", lines)
    verdict = ev.compare(best, production)
    lines.append(f"v{best.version} vs production v{current}: {verdict.text}")
    if verdict.winner is best:
        return Decision(name, best.version, f"v{best.version} {metric}={best.value:.4f} beats production "
                        f"v{current} ({production.value:.4f}) by more than the noise", lines)
    return Decision(name, None, f"no clear winner: v{best.version} {metric}={best.value:.4f} vs production "
                    f"v{current} {production.value:.4f} is within {ev.CLEAR_WINNER_SE:g} SE", lines)


def judge_by_run_metrics(client, name: str) -> Decision:
    """Models without a fixed set: the best version by its run's own primary test metric."""
    note = f"no fixed evaluation set for {name}: judged by each run's own test metrics (not a shared set)"
    versions = reg.list_versions(client, name)
    scored = []
    for version in versions:
        primary = primary_metric(name, reg.version_metrics(client, version))
        if primary:
            scored.append((version, *primary))
    if not scored:
        return Decision(name, None, "no version has a primary metric", [note])
    best, metric, higher, value = scored[0]
    for candidate in scored[1:]:
        if candidate[1] == metric and is_better(candidate[3], value, higher):
            best, value = candidate[0], candidate[3]
    current = reg.alias_version(client, name, PRODUCTION)
    if current is None:
        return Decision(name, str(best.version), f"no production version; best v{best.version} {metric}={value:.4f}",
                        [note])
    if current == str(best.version):
        return Decision(name, None, f"production v{current} is already the best ({metric}={value:.4f})", [note])
    current_metric = primary_metric(name, reg.version_metrics(client, reg.get_version(client, name, current)))
    if current_metric is None or current_metric[0] != metric or is_better(value, current_metric[2], higher):
        was = f"{current_metric[2]:.4f}" if current_metric and current_metric[0] == metric else "n/a"
        return Decision(name, str(best.version), f"v{best.version} {metric}={value:.4f} beats production "
                        f"v{current} ({was})", [note])
    return Decision(name, None, f"production v{current} ({metric}={current_metric[2]:.4f}) is not beaten", [note])


def decide(client, name: str, evaluator: ev.SetEvaluator) -> Decision:
    """The gate over every version of ``name``."""
    if not ev.has_fixed_set(name):
        return judge_by_run_metrics(client, name)
    return judge(client, name, [str(v.version) for v in reg.list_versions(client, name)], evaluator)
