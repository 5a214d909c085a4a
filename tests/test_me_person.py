"""``ME_PERSON`` without a server: an enrolled person answers through the usual verification, and
a person known only by a production personal verifier (``verifier-<name>``) through that alone."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from api.errors import ApiError
from api.services.me import verify_me


class FakeService:
    def __init__(self, enrolled: bool, verdict: tuple[float, float, str] | None) -> None:
        self.enrolled = enrolled
        self.served = SimpleNamespace(verify_person=lambda name, embedding: verdict)

    def verify_person(self, data, person_name, person_id, face_index) -> dict:  # noqa: ANN001 - fake
        if not self.enrolled:
            raise ApiError(404, f"No person named '{person_name}'")
        return {"model_version": "facenet", "is_match": True, "score": 0.9, "threshold": 0.5,
                "person": {"id": 1, "name": person_name}, "timing_ms": 1.0}  # fmt: skip

    def _one_face(self, data, face_index, *, largest: bool):  # noqa: ANN001, ANN202 - fake
        return SimpleNamespace(embedding=np.ones(4, np.float32))


def test_an_enrolled_me_is_verified_as_usual():
    answer = verify_me(FakeService(enrolled=True, verdict=None), "Alice", b"photo", None)
    assert answer["is_me"] is True and answer["person"]["name"] == "Alice"


def test_a_personal_verifier_alone_answers_for_someone_not_enrolled():
    answer = verify_me(FakeService(enrolled=False, verdict=(0.2, 0.75, "verifier-alice/4")), "Alice", b"p", None)
    assert answer["is_me"] is False and answer["is_match"] is False and answer["person"] is None
    assert answer["model_version"] == "verifier-alice/4" and answer["threshold"] == 0.75


def test_neither_enrolled_nor_a_verifier_is_a_404_that_names_the_model():
    with pytest.raises(ApiError) as caught:
        verify_me(FakeService(enrolled=False, verdict=None), "Jean-Pierre", b"p", None)
    assert caught.value.status_code == 404 and "verifier-jean-pierre" in caught.value.message
