"""Manage the face API's keys: ``python -m scripts.api_keys create --role admin`` prints a new key once.

    python -m scripts.api_keys create --role read --name "kitchen camera"
    python -m scripts.api_keys list
    python -m scripts.api_keys revoke <prefix>

Uses the API's DATABASE_URL (and brings its schema up to date first). ``list`` and ``revoke`` need an
existing database: a SQLite path that does not exist is an error (exit 2), never a new empty one."""

from __future__ import annotations

import argparse
import sys

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from api.config import MissingDatabaseError, get_settings
from api.db.engine import engine_for, make_session_factory, upgrade_database
from api.db.models import ApiKey, utcnow
from api.security import ROLES, create_key
from api.settings_errors import EXIT_USAGE, settings_or_exit


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m scripts.api_keys", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    create = commands.add_parser("create", help="create a key and print it (only this once)")
    create.add_argument("--role", choices=ROLES, default="read", help="read: analyze/verify/search/stats; admin: all")
    create.add_argument("--name", default="", help="a label to recognise the key by")
    commands.add_parser("list", help="list keys (prefix, role, name, dates; never the key)")
    revoke = commands.add_parser("revoke", help="revoke a key by its prefix (the 8 characters after fah_)")
    revoke.add_argument("prefix")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    settings = settings_or_exit(get_settings)
    try:
        engine = engine_for(settings, create_folder=args.command == "create")
    except MissingDatabaseError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    try:
        upgrade_database(engine)
        sessions = make_session_factory(engine)
        with sessions.begin() as session:
            if args.command == "create":
                key, row = create_key(session, args.role, args.name)
                print(key)
                print(f"role={row.role} prefix={row.prefix}: store it now, it cannot be shown again", file=sys.stderr)
            elif args.command == "list":
                rows = session.execute(select(ApiKey).order_by(ApiKey.id)).scalars().all()
                for row in rows:
                    state = f"revoked {row.revoked_at:%Y-%m-%d %H:%M}" if row.revoked_at else "active"
                    print(f"{row.prefix}\t{row.role}\t{state}\tcreated {row.created_at:%Y-%m-%d %H:%M}\t{row.name}")
                if not rows:
                    print("no API keys", file=sys.stderr)
            else:
                prefix = args.prefix.removeprefix("fah_").split("_")[0]
                row = session.execute(select(ApiKey).where(ApiKey.prefix == prefix)).scalar_one_or_none()
                if row is None:
                    print(f"error: no API key with prefix {prefix!r}", file=sys.stderr)
                    return 1
                if row.revoked_at is None:
                    row.revoked_at = utcnow()
                print(f"revoked {row.prefix} ({row.role})")
        engine.dispose()
    except SQLAlchemyError as exc:
        print(f"error: database: {' '.join(str(exc).split())[:300]}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
