"""What each face endpoint does, as plain synchronous methods: routes run them in a worker thread
so that TensorFlow and the database never block the event loop."""

from __future__ import annotations

import hashlib
import io
import logging
import time
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
from PIL import Image
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker

from api.capacity import models_done
from api.config import ApiSettings
from api.db.models import Detection, FaceCrop, FaceEmbeddingRow, Person, utcnow
from api.db.transactions import in_transaction
from api.errors import NO_FACE, ApiError
from face_pipeline import FaceEmbedding, FacePipeline
from face_pipeline.calibrate import identify_threshold

from .gallery import Gallery, bump_revision, make_gallery
from .names import clean_name, name_key
from .served_models import ServedModels
from .unknowns import UnknownFaces, existing_person_ids
from .vectors import from_bytes, normalize_rows, to_bytes

UNKNOWN = "unknown"


class Identity(NamedTuple):
    """Who one analysed face is, decided once per request: the detection row and the answer both
    take it from here (an enrolled person, or a stranger with a stable ``unknown_<hex>`` id)."""

    name: str
    person_id: int | None
    unknown_id: str | None

    @property
    def public_id(self) -> int | str | None:
        """The answer's ``person_id``: the enrolled id, else the stranger's id."""
        return self.person_id if self.person_id is not None else self.unknown_id


def elapsed_ms(start: float) -> float:
    return round((time.perf_counter() - start) * 1000.0, 1)


def png_bytes(crop: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(crop).save(buffer, format="PNG", optimize=False)
    return buffer.getvalue()


@dataclass
class FaceService:
    """One per process: the pipeline, the served models, the gallery and the database."""

    settings: ApiSettings
    pipeline: FacePipeline
    served: ServedModels
    session_factory: sessionmaker[Session]
    gallery: Gallery
    unknowns: UnknownFaces

    @classmethod
    def create(
        cls, settings: ApiSettings, pipeline: FacePipeline, served: ServedModels, session_factory: sessionmaker[Session]
    ) -> FaceService:
        version = pipeline.embedder.full_version
        dim = int(pipeline.embedder.dim)
        gallery = make_gallery(settings, session_factory, served.project, version, dim,
                               projection_key=lambda: served.versions().get("recognition_head"))
        unknowns = UnknownFaces(
            gallery.project, version, settings.unknown_match_window_hours, settings.unknown_max_recent
        )
        return cls(settings, pipeline, served, session_factory, gallery, unknowns)

    # --- shared pieces -------------------------------------------------------------------

    @property
    def threshold(self) -> float:
        """1:1 verification: explicit MATCH_THRESHOLD, else the served models' own, else the
        pipeline's calibrated one."""
        if self.settings.match_threshold is not None:
            return float(self.settings.match_threshold)
        served = self.served.match_threshold()
        return float(self.pipeline.threshold if served is None else served)

    def identify_threshold(self, gallery_size: int) -> float:
        """1:N identification among ``gallery_size`` people: explicit IDENTIFY_THRESHOLD, else the
        threshold that holds IDENTIFY_STRANGER_RATE for this gallery size, read from the served
        recognition model's FAR table (the pipeline's calibrated one without it), never below
        the 1:1 threshold."""
        if self.settings.identify_threshold is not None:
            return float(self.settings.identify_threshold)
        table = self.served.far_table() or self.pipeline.calibration.far_table
        if not table:
            return self.threshold
        return max(identify_threshold(table, gallery_size, self.settings.identify_stranger_rate), self.threshold)

    def model_versions(self) -> dict[str, str | None]:
        return {**self.pipeline.versions, **self.served.versions()}

    def _faces(self, data: bytes) -> list[FaceEmbedding]:
        return self.pipeline.process(self.pipeline.load(data))

    def _one_face(self, data: bytes, face_index: int | None, *, largest: bool) -> FaceEmbedding:
        """The chosen face: ``face_index`` if given, else the only one (or the largest when allowed)."""
        faces = self._faces(data)
        if not faces:
            raise ApiError(422, NO_FACE)
        if face_index is not None:
            if not 0 <= face_index < len(faces):
                raise ApiError(
                    422, f"face_index {face_index} is out of range: {len(faces)} face(s) found", face_count=len(faces)
                )
            return faces[face_index]
        if len(faces) == 1:
            return faces[0]
        if largest:
            return max(faces, key=lambda f: f.face.box.width * f.face.box.height)
        raise ApiError(
            422,
            f"{len(faces)} faces found in the image; send face_index (0 to {len(faces) - 1}, left to right) "
            "to choose one",
            face_count=len(faces),
            faces=[f.face.box.to_dict() for f in faces],
        )

    def _person(self, session: Session, person_id: int | None, person_name: str | None) -> Person:
        if person_id is not None:
            person = session.get(Person, person_id)
            if person is None:
                raise ApiError(404, f"No person with id {person_id}")
            return person
        if person_name is None:
            raise ApiError(422, "send person_name or person_id (or a second photo in file2)")
        person = session.execute(
            select(Person).where(Person.name_key == name_key(clean_name(person_name)))
        ).scalar_one_or_none()
        if person is None:
            raise ApiError(404, f"No person named '{person_name.strip()}'")
        return person

    # --- endpoints -----------------------------------------------------------------------

    def analyze(self, data: bytes, top_k: int) -> dict:
        start = time.perf_counter()
        faces = self._faces(data)
        versions = self.model_versions()
        if not faces:
            models_done()
            return {
                "success": True,
                "faces": [],
                "message": NO_FACE,
                "timing_ms": elapsed_ms(start),
                "model_versions": versions,
            }
        crops = np.stack([f.crop for f in faces])
        raw = normalize_rows(np.stack([f.embedding for f in faces]))
        attribute = normalize_rows(np.stack([f.attribute_vector for f in faces]))
        age_gender = self.served.predict_age_gender(crops, attribute, np.stack([f.features for f in faces]))
        models_done()
        snapshot = self.gallery.current()
        queries = self.gallery.project(raw)
        threshold = self.identify_threshold(snapshot.size)
        matches = snapshot.top_k(queries, max(top_k, 1))
        known = [bool(m) and m[0].similarity >= threshold for m in matches]

        def record(session: Session) -> list[Identity]:
            # A matched person deleted since the snapshot: that face is unknown now (no insert that
            # fails its foreign key on every retry).
            still_there = existing_person_ids(session, {matches[i][0].person_id for i, k in enumerate(known) if k})
            is_known = [k and matches[i][0].person_id in still_there for i, k in enumerate(known)]
            unknown_rows = [i for i, k in enumerate(is_known) if not k]
            assigned = (
                self.unknowns.assign(session, raw[unknown_rows], threshold, snapshot.revision) if unknown_rows else []
            )
            unknown_ids: list[str | None] = [None] * len(faces)
            for i, unknown_id in zip(unknown_rows, assigned):
                unknown_ids[i] = unknown_id
            who = [
                Identity(matches[i][0].name, matches[i][0].person_id, None)
                if k
                else Identity(UNKNOWN, None, unknown_ids[i])
                for i, k in enumerate(is_known)
            ]
            now = utcnow()
            for i, face in enumerate(faces):
                best = matches[i][0] if matches[i] else None
                age, gender, gender_confidence = age_gender[i]
                box = face.face.box
                session.add(
                    Detection(
                        created_at=now,
                        box_x=box.x,
                        box_y=box.y,
                        box_width=box.width,
                        box_height=box.height,
                        confidence=float(face.face.confidence),
                        age=age,
                        gender=gender,
                        gender_confidence=gender_confidence,
                        identity=who[i].name,
                        person_id=who[i].person_id,
                        unknown_id=who[i].unknown_id,
                        similarity=best.similarity if best else None,
                    )
                )
            return who

        who = in_transaction(self.session_factory, record)
        out = []
        for i, face in enumerate(faces):
            best = matches[i][0] if matches[i] else None
            age, gender, gender_confidence = age_gender[i]
            out.append(
                {
                    **face.face.to_dict(),
                    "age": None if age is None else round(float(age), 1),
                    "gender": gender,
                    "gender_confidence": None if gender_confidence is None else round(float(gender_confidence), 4),
                    "identity": who[i].name,
                    "person_id": who[i].public_id,
                    "similarity": round(best.similarity, 4) if best else None,
                    "matches": [m.to_dict(threshold) for m in matches[i][:top_k]],
                }
            )
        count = len(out)
        return {
            "success": True,
            "faces": out,
            "message": f"{count} face{'s' if count != 1 else ''} detected",
            "timing_ms": elapsed_ms(start),
            "model_versions": versions,
        }

    def register(self, data: bytes, person_name: str, face_index: int | None) -> tuple[dict, bool]:
        """Enroll one face; returns the answer and whether anything new was stored."""
        start = time.perf_counter()
        name = clean_name(person_name)
        chosen = self._one_face(data, face_index, largest=False)
        models_done()
        digest = hashlib.sha256(data).hexdigest()
        crop = png_bytes(chosen.crop) if self.settings.keep_face_crops else None
        vector = normalize_rows(chosen.embedding)[0]
        box = chosen.face.box
        chosen_index = face_index or 0

        def work(session: Session) -> dict:
            person = session.execute(select(Person).where(Person.name_key == name_key(name))).scalar_one_or_none()
            created = person is None
            if person is None:
                person = Person(name=name, name_key=name_key(name), created_at=utcnow())
                session.add(person)
                session.flush()
            duplicate = session.execute(
                select(FaceEmbeddingRow.id).where(
                    FaceEmbeddingRow.person_id == person.id, FaceEmbeddingRow.image_sha256 == digest
                )
            ).first()
            if duplicate is None:
                row = FaceEmbeddingRow(
                    person_id=person.id,
                    vector=to_bytes(vector),
                    dim=int(vector.shape[0]),
                    embedder_version=self.pipeline.embedder.full_version,
                    image_sha256=digest,
                    face_index=chosen_index,
                    box_x=box.x,
                    box_y=box.y,
                    box_width=box.width,
                    box_height=box.height,
                    created_at=utcnow(),
                )
                session.add(row)
                session.flush()
                if crop is not None:
                    session.add(FaceCrop(embedding_id=row.id, person_id=person.id, image_format="png", data=crop))
                bump_revision(session)
            faces = session.execute(
                select(func.count()).select_from(FaceEmbeddingRow).where(FaceEmbeddingRow.person_id == person.id)
            ).scalar_one()
            return {
                "person_id": person.id,
                "name": person.name,
                "faces": int(faces),
                "created": created,
                "added": duplicate is None,
                "face": chosen.face.to_dict(),
            }

        answer = in_transaction(self.session_factory, work)
        if answer["added"]:
            self._sync_gallery()
        answer["timing_ms"] = elapsed_ms(start)
        return answer, answer["added"]

    def verify_person(
        self, data: bytes, person_name: str | None, person_id: int | None, face_index: int | None
    ) -> dict:
        start = time.perf_counter()
        return self.verify_known(data, self.find_person(person_id, person_name), face_index, start)

    def find_person(self, person_id: int | None, person_name: str | None) -> dict:
        """``{"id", "name"}`` of the enrolled person named by id or name (404 if none), looked up
        before the photo takes an inference slot."""
        with self.session_factory() as session:
            person = self._person(session, person_id, person_name)
            return {"id": person.id, "name": person.name}

    def verify_known(self, data: bytes, person_info: dict, face_index: int | None, start: float | None = None) -> dict:
        """Is the photo's face the person ``person_info`` (from :meth:`find_person`)?"""
        start = time.perf_counter() if start is None else start
        chosen = self._one_face(data, face_index, largest=True)
        raw = normalize_rows(chosen.embedding)[0]
        verdict = self.served.verify_person(person_info["name"], raw)
        models_done()
        if verdict is None:
            snapshot = self.gallery.current()
            score = snapshot.best_for_person(person_info["id"], self.gallery.project(raw[None])[0])
            if score is None:
                self._raise_if_deleted(person_info)
                raise ApiError(
                    409, f"{person_info['name']} has no face enrolled with the current embedder; register a photo again"
                )
            verdict = (score, self.threshold, self.pipeline.embedder.full_version)
        return verification_answer(verdict, person_info, start)

    def verify_pair(self, data1: bytes, data2: bytes) -> dict:
        start = time.perf_counter()
        first = normalize_rows(self._one_face(data1, None, largest=True).embedding)[0]
        second = normalize_rows(self._one_face(data2, None, largest=True).embedding)[0]
        verdict = self.served.verify_pair(first, second)
        models_done()
        if verdict is None:
            projected = self.gallery.project(np.stack([first, second]))
            verdict = (float(projected[0] @ projected[1]), self.threshold, self.pipeline.embedder.full_version)
        return verification_answer(verdict, None, start)

    def search_photo(self, data: bytes, top_k: int, face_index: int | None) -> dict:
        start = time.perf_counter()
        chosen = self._one_face(data, face_index, largest=True)
        models_done()
        snapshot = self.gallery.current()
        query = self.gallery.project(normalize_rows(chosen.embedding))
        threshold = self.identify_threshold(snapshot.size)
        matches = snapshot.top_k(query, top_k)[0]
        return {
            "face": chosen.face.to_dict(),
            "matches": [m.to_dict(threshold) for m in matches],
            "threshold": round(threshold, 4),
            "timing_ms": elapsed_ms(start),
        }

    def _raise_if_deleted(self, person_info: dict) -> None:
        """404 when the person was deleted while this request ran (not "register a photo again")."""
        with self.session_factory() as session:
            if session.get(Person, person_info["id"]) is None:
                raise ApiError(404, f"No person with id {person_info['id']} (deleted)")

    def delete_person(self, person_id: int) -> dict:
        def work(session: Session) -> dict:
            person = session.get(Person, person_id)
            if person is None:
                raise ApiError(404, f"No person with id {person_id}")
            vectors = [
                from_bytes(row.vector, row.dim)
                for row in session.execute(
                    select(FaceEmbeddingRow.vector, FaceEmbeddingRow.dim).where(
                        FaceEmbeddingRow.person_id == person_id,
                        FaceEmbeddingRow.embedder_version == self.unknowns.embedder_version,
                    )
                )
            ]
            forgotten = self.unknowns.forget(session, np.stack(vectors) if vectors else None, self.threshold)
            anonymised = session.execute(
                update(Detection)
                .where(Detection.person_id == person_id)
                .values(person_id=None, identity=UNKNOWN, similarity=None)
            ).rowcount
            crops = session.execute(FaceCrop.__table__.delete().where(FaceCrop.person_id == person_id)).rowcount
            embeddings = session.execute(
                FaceEmbeddingRow.__table__.delete().where(FaceEmbeddingRow.person_id == person_id)
            ).rowcount
            session.execute(Person.__table__.delete().where(Person.id == person_id))
            bump_revision(session)
            return {
                "deleted": True,
                "person_id": person_id,
                "name": person.name,
                "embeddings_removed": int(embeddings),
                "crops_removed": int(crops),
                "detections_anonymised": int(anonymised),
                "unknown_faces_removed": forgotten,
            }

        answer = in_transaction(self.session_factory, work)
        self._sync_gallery()  # the vectors leave this process's engine (or the shared Milvus) now
        return answer

    def _sync_gallery(self) -> None:
        """Reconcile the gallery engine with the database now; on failure the next request does."""
        try:
            self.gallery.refresh()
        except Exception:  # noqa: BLE001 - the change is committed; the engine catches up later
            logging.getLogger(__name__).exception("gallery reconcile after a change failed")


def verification_answer(verdict: tuple[float, float, str], person: dict | None, start: float) -> dict:
    """The /verify body, the same whichever verifier (personal, general or plain similarity) answered."""
    score, threshold, version = verdict
    return {
        "model_version": version,
        "is_match": bool(score >= threshold),
        "score": round(float(score), 4),
        "threshold": round(float(threshold), 4),
        "person": person,
        "timing_ms": elapsed_ms(start),
    }
