"""``ME_PERSON``: a personal deployment answers "is this me?" from ``POST /verify`` with no person
named, as the original single-user design did. The person is the enrolled one of that name (whose
production personal verifier ``verifier-<name>`` is used when there is one, as for any person), or,
when nobody of that name is enrolled, that personal verifier alone."""

from __future__ import annotations

import time

from api.errors import ApiError
from api.services.faces import FaceService, verification_answer
from api.services.vectors import normalize_rows
from model_registry.names import PERSON_PREFIX, person_model_name


def verify_me(service: FaceService, me_person: str, data: bytes, face_index: int | None) -> dict:
    """The usual /verify answer for ``me_person``, plus ``is_me``."""
    try:
        answer = service.verify_person(data, me_person, None, face_index)
    except ApiError as exc:
        if exc.status_code != 404:
            raise
        answer = _verify_with_personal_verifier(service, me_person, data, face_index)
    return {**answer, "is_me": answer["is_match"]}


def _verify_with_personal_verifier(service: FaceService, me_person: str, data: bytes, face_index: int | None) -> dict:
    start = time.perf_counter()
    chosen = service._one_face(data, face_index, largest=True)
    verdict = service.served.verify_person(me_person, normalize_rows(chosen.embedding)[0])
    if verdict is None:
        raise ApiError(
            404,
            f"ME_PERSON is '{me_person}', but nobody of that name is enrolled and no production "
            f"{_verifier_name(me_person)} model is served",
        )
    return verification_answer(verdict, None, start)


def _verifier_name(person: str) -> str:
    """The registered name of ``person``'s verifier, for the message (the name as given when it has
    no letters or digits: no verifier can be registered under it)."""
    try:
        return person_model_name(person)
    except ValueError:
        return f"{PERSON_PREFIX}{person}"
