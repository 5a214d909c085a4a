"""Counts for ``/stats``, each one aggregate query with the indexes the tables carry."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from api.db.models import Detection, FaceEmbeddingRow, Person, UnknownFace, utcnow

AGE_BUCKETS = ((0, 12, "0-12"), (13, 19, "13-19"), (20, 39, "20-39"), (40, 59, "40-59"), (60, 200, "60+"))


def collect_stats(session: Session) -> dict:
    since = utcnow() - timedelta(hours=24)
    persons = session.execute(select(func.count()).select_from(Person)).scalar_one()
    faces = session.execute(select(func.count()).select_from(FaceEmbeddingRow)).scalar_one()
    total, last_24h, known = session.execute(
        select(
            func.count(),
            func.coalesce(func.sum(case((Detection.created_at >= since, 1), else_=0)), 0),
            func.coalesce(func.sum(case((Detection.person_id.is_not(None), 1), else_=0)), 0),
        ).select_from(Detection)
    ).one()
    known_24h = session.execute(
        select(func.count()).where(Detection.created_at >= since, Detection.person_id.is_not(None))
    ).scalar_one()
    distinct_unknown = session.execute(select(func.count(func.distinct(Detection.unknown_id)))).scalar_one()
    bucket = case(
        *[(Detection.age.between(low, high + 0.999), label) for low, high, label in AGE_BUCKETS],
        else_="unknown",
    )
    ages = {label: 0 for *_, label in AGE_BUCKETS} | {"unknown": 0}
    for label, count in session.execute(select(bucket, func.count()).group_by(bucket)).all():
        ages[label] = int(count)
    genders = {"male": 0, "female": 0, "unknown": 0}
    for gender, count in session.execute(select(Detection.gender, func.count()).group_by(Detection.gender)).all():
        genders[gender if gender in genders else "unknown"] += int(count)
    return {
        "persons": int(persons),
        "faces": int(faces),
        "detections": {
            "total": int(total),
            "last_24h": int(last_24h),
            "known": int(known),
            "unknown": int(total) - int(known),
            "known_last_24h": int(known_24h),
            "unknown_last_24h": int(last_24h) - int(known_24h),
            "distinct_unknown_faces": int(distinct_unknown),
        },
        "unknown_faces_tracked": int(session.execute(select(func.count()).select_from(UnknownFace)).scalar_one()),
        "age_distribution": ages,
        "gender_distribution": genders,
    }
