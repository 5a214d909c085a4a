"""Delete old detections: ``python -m scripts.cleanup_detections --days 30``.

Also forgets unknown faces not seen for that long (they are only matched within
UNKNOWN_MATCH_WINDOW_HOURS anyway). Uses the API's DATABASE_URL."""

from __future__ import annotations

import argparse
import sys
from datetime import timedelta

from sqlalchemy import delete
from sqlalchemy.exc import SQLAlchemyError

from api.config import MissingDatabaseError, get_settings
from api.db.engine import engine_for, make_session_factory, upgrade_database
from api.db.models import Detection, UnknownFace, utcnow
from api.settings_errors import EXIT_USAGE, settings_or_exit


def _positive_days(text: str) -> float:
    try:
        days = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if days <= 0:
        raise argparse.ArgumentTypeError("must be more than 0")
    return days


def cleanup(session_factory, days: float) -> tuple[int, int]:  # noqa: ANN001 - sessionmaker
    """Delete detections (and unknown faces last seen) more than ``days`` ago; returns both counts."""
    cutoff = utcnow() - timedelta(days=days)
    with session_factory.begin() as session:
        detections = session.execute(delete(Detection).where(Detection.created_at < cutoff)).rowcount
        unknowns = session.execute(delete(UnknownFace).where(UnknownFace.last_seen < cutoff)).rowcount
    return int(detections), int(unknowns)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.cleanup_detections", description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=_positive_days, default=30.0, help="keep this many days (default 30)")
    args = parser.parse_args(argv)
    settings = settings_or_exit(get_settings)
    try:
        engine = engine_for(settings, create_folder=False)
    except MissingDatabaseError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    try:
        upgrade_database(engine)
        detections, unknowns = cleanup(make_session_factory(engine), args.days)
        engine.dispose()
    except SQLAlchemyError as exc:
        print(f"error: database: {' '.join(str(exc).split())[:300]}", file=sys.stderr)
        return 1
    print(f"deleted {detections} detection(s) and {unknowns} unknown face(s) older than {args.days:g} days")
    return 0


if __name__ == "__main__":
    sys.exit(main())
