"""One gallery test suite for every engine (GALLERY_ENGINE=memory, exact and HNSW; milvus on a
Milvus Lite file): add, delete (the vector is gone from the engine), search with the per-person max,
a change seen by another instance, restart from the snapshot or the persisted index, a matching
space change; on synthetic unit vectors and on real fused descriptors of LFW photos."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import delete

from api.config import ApiSettings
from api.db.engine import make_engine, make_session_factory, upgrade_database
from api.db.models import FaceEmbeddingRow, Person
from api.services.gallery import Gallery, bump_revision, make_gallery
from api.services.vectors import normalize_rows, to_bytes
from tests.conftest import lfw_image

DIM = 640
ENGINES = ["memory", "memory-hnsw", "memory-hnsw-i8", "milvus"]


@pytest.fixture
def sessions(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'gallery.db'}")
    upgrade_database(engine)
    yield make_session_factory(engine)
    engine.dispose()


def settings_for(kind: str, folder: Path) -> ApiSettings:
    return ApiSettings(
        database_url=f"sqlite:///{folder / 'unused.db'}",
        gallery_engine="milvus" if kind == "milvus" else "memory",
        gallery_ann_min_size=1 if kind.startswith("memory-hnsw") else 50_000,
        gallery_hnsw_dtype="i8" if kind.endswith("-i8") else "f16",
        gallery_snapshot_dir=folder / "snapshot",
        gallery_snapshot_seconds=0,
        milvus_uri=str(folder / "gallery.milvus.db"),
    )


@pytest.fixture(params=ENGINES)
def open_gallery(request, sessions, tmp_path) -> Callable[..., Gallery]:
    """Opens a gallery of this engine over the test database (several: several instances)."""
    opened: list[Gallery] = []

    def make(projection_key: Callable[[], str | None] = lambda: None, dim: int = DIM) -> Gallery:
        gallery = make_gallery(settings_for(request.param, tmp_path), sessions, lambda x: x, "v1", dim,
                               projection_key=projection_key)
        opened.append(gallery)
        return gallery

    make.kind = request.param  # type: ignore[attr-defined]
    yield make
    for gallery in opened:
        with contextlib.suppress(Exception):  # already closed
            gallery.index.close()


def add_people(sessions, vectors_per_person: list[np.ndarray], prefix: str = "Person") -> list[int]:
    ids = []
    with sessions.begin() as session:
        for n, vectors in enumerate(vectors_per_person):
            person = Person(name=f"{prefix} {n}", name_key=f"{prefix.casefold()} {n}")
            session.add(person)
            session.flush()
            for k, vector in enumerate(vectors):
                session.add(FaceEmbeddingRow(person_id=person.id, vector=to_bytes(vector), dim=vector.size,
                                             embedder_version="v1", image_sha256=f"{prefix}-{n}-{k}", face_index=0,
                                             box_x=0, box_y=0, box_width=1, box_height=1))
            ids.append(person.id)
        bump_revision(session)
    return ids


def delete_person(sessions, person_id: int) -> list[int]:
    """What FaceService.delete_person does to the gallery's rows; returns the face ids removed."""
    with sessions.begin() as session:
        faces = list(session.scalars(
            FaceEmbeddingRow.__table__.select().with_only_columns(FaceEmbeddingRow.id)
            .where(FaceEmbeddingRow.person_id == person_id)))
        session.execute(delete(FaceEmbeddingRow).where(FaceEmbeddingRow.person_id == person_id))
        session.execute(delete(Person).where(Person.id == person_id))
        bump_revision(session)
    return faces


def synthetic_people(count: int, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [normalize_rows(rng.normal(size=(int(rng.integers(1, 4)), DIM))) for _ in range(count)]


def brute_force(people: list[np.ndarray], queries: np.ndarray) -> np.ndarray:
    return np.array([[float(np.max(p @ q)) for p in people] for q in queries])


def test_search_is_the_best_face_per_person_and_a_delete_leaves_the_engine(open_gallery, sessions):
    people = synthetic_people(120)
    ids = add_people(sessions, people)
    gallery = open_gallery()
    view = gallery.current()
    assert view.size == 120 and view.faces == sum(len(p) for p in people)
    rng = np.random.default_rng(1)
    # Queries near one face of a known person (as real probes are), and one at random.
    targets = rng.choice(120, 8, replace=False)
    queries = normalize_rows(np.stack([people[t][0] + 0.6 * normalize_rows(rng.normal(size=DIM))[0]
                                       for t in targets] + [normalize_rows(rng.normal(size=DIM))[0]]))
    brute = brute_force(people, queries)
    found = view.top_k(queries, 5)
    top1_hits, overlaps = 0, []
    for q, matches in enumerate(found):
        expected = [ids[i] for i in np.argsort(-brute[q])[:5]]
        got = [m.person_id for m in matches]
        if q < len(targets):
            assert expected[0] == ids[targets[q]]
            top1_hits += got[0] == expected[0]
        overlaps.append(len(set(got) & set(expected)))
        if open_gallery.kind == "memory":  # exact: the whole ranking, scores to float precision
            assert got == expected
            assert np.allclose([m.similarity for m in matches], np.sort(brute[q])[::-1][:5], atol=1e-5)
        if open_gallery.kind.endswith("-i8"):  # int8 candidates, re-scored from SQL's exact vectors
            assert gallery.index.lossy
            assert np.allclose([m.similarity for m in matches], [brute[q][ids.index(m.person_id)] for m in matches],
                               atol=1e-5)
    # An approximate graph may miss a node now and then (CI once saw one of eight top-1s missed on this
    # 240-face graph, built by two threads): every answer but one must be right, and most neighbours.
    assert top1_hits >= len(targets) - (0 if open_gallery.kind == "memory" else 1)
    assert np.mean(overlaps) >= 4
    assert view.best_for_person(ids[3], queries[0]) == pytest.approx(brute[0][3], abs=2e-3)
    assert view.best_for_person(999_999, queries[0]) is None
    assert gallery.current() is view  # no change, no reconcile

    # GDPR: deleting the first target removes its vectors from the engine, not only from SQL.
    victim = ids[targets[0]]
    faces = delete_person(sessions, victim)
    after = gallery.current()
    assert after is not view and after.size == 119 and after.faces == view.faces - len(faces)
    assert gallery.last_sync["removed"] == len(faces) and gallery.last_sync["added"] == 0
    assert victim not in [m.person_id for m in after.top_k(queries[:1], 10)[0]]
    assert after.best_for_person(victim, queries[0]) is None
    assert len(gallery.index.vectors(np.array(faces))) == 0
    assert len(gallery.index) == after.faces


def test_another_instance_sees_the_change_on_its_next_request(open_gallery, sessions):
    first, second = open_gallery(), open_gallery()
    assert first.current().size == 0 and second.current().size == 0
    newcomer = normalize_rows(np.random.default_rng(2).normal(size=(1, DIM)))
    [pid] = add_people(sessions, [newcomer], prefix="Newcomer")
    first.current()
    best = second.current().top_k(newcomer, 1)[0][0]
    assert (best.person_id, best.name) == (pid, "Newcomer 0") and best.similarity == pytest.approx(1.0, abs=2e-3)
    delete_person(sessions, pid)
    assert second.current().top_k(newcomer, 1) == [[]]
    assert first.current().size == 0 and len(first.index) == 0


def test_a_restart_reads_the_snapshot_and_reconciles_only_the_difference(open_gallery, sessions):
    people = synthetic_people(60, seed=3)
    ids = add_people(sessions, people)
    gallery = open_gallery()
    assert gallery.current().faces == sum(len(p) for p in people)
    gallery.close()  # writes the snapshot (memory) / leaves the collection (milvus)

    removed = delete_person(sessions, ids[0])
    extra = normalize_rows(np.random.default_rng(4).normal(size=(2, DIM)))
    [late] = add_people(sessions, [extra], prefix="Late")
    restarted = open_gallery()
    view = restarted.current()
    assert restarted.last_sync["added"] == 2 and restarted.last_sync["removed"] == len(removed)
    assert view.size == 60 and view.faces == sum(len(p) for p in people[1:]) + 2
    assert view.top_k(extra[1:], 1)[0][0].person_id == late
    assert view.top_k(people[5][:1], 1)[0][0].person_id == ids[5]
    assert view.top_k(people[5][:1], 1)[0][0].name == "Person 5"
    assert view.best_for_person(ids[0], people[0][0]) is None


def test_a_snapshot_of_another_database_is_not_trusted(open_gallery, sessions, tmp_path):
    if open_gallery.kind == "milvus":
        pytest.skip("Milvus keeps no revision: it is reconciled id by id at start")
    add_people(sessions, synthetic_people(5, seed=5))
    add_people(sessions, synthetic_people(5, seed=6), prefix="More")
    gallery = open_gallery()
    gallery.current()
    gallery.close()
    with sessions.begin() as session:  # a restored, older database: lower revision, other rows
        session.execute(delete(FaceEmbeddingRow))
        session.execute(delete(Person))
        session.execute(Person.__table__.update().values(name="x"))
    with sessions.begin() as session:
        from api.db.models import GalleryState

        session.execute(GalleryState.__table__.update().values(revision=1))
    fresh = open_gallery()
    assert fresh.current().size == 0 and fresh.last_sync["removed"] == 0 and len(fresh.index) == 0


def test_a_new_recognition_head_rebuilds_the_matching_space(open_gallery, sessions):
    add_people(sessions, synthetic_people(10, seed=7))
    head = {"version": "head:1"}
    gallery = open_gallery(projection_key=lambda: head["version"])
    assert gallery.current().faces > 0 and gallery.last_sync["added"] == gallery.current().faces
    head["version"] = "head:2"
    view = gallery.current()
    assert gallery.last_sync["added"] == view.faces and view.size == 10


# --- real faces -------------------------------------------------------------------------------------

REAL = {"Colin_Powell": (1, 2), "Donald_Rumsfeld": (1, 2), "George_W_Bush": (1, 2), "Gerhard_Schroeder": (1, 2)}


@pytest.fixture(scope="module")
def real_faces(pipeline) -> dict[str, np.ndarray]:
    """Fused 640-D descriptors of two photos of each of four people (largest face)."""
    out = {}
    for name, numbers in REAL.items():
        vectors = []
        for number in numbers:
            faces = pipeline.process(pipeline.load(lfw_image(name, number)))
            vectors.append(max(faces, key=lambda f: f.face.box.width * f.face.box.height).embedding)
        out[name] = normalize_rows(np.stack(vectors))
    assert all(v.shape == (2, DIM) for v in out.values())
    return out


def test_real_faces_are_found_among_distractors_and_forgotten(open_gallery, sessions, real_faces):
    names = list(REAL)
    add_people(sessions, synthetic_people(200, seed=8), prefix="Distractor")
    ids = add_people(sessions, [real_faces[n][:1] for n in names], prefix="Real")
    gallery = open_gallery()
    view = gallery.current()
    probes = np.stack([real_faces[n][1] for n in names])
    for q, matches in enumerate(view.top_k(probes, 3)):
        assert matches[0].person_id == ids[q] and matches[0].name == f"Real {q}"
        assert matches[0].similarity > 0.4 > matches[1].similarity
        assert view.best_for_person(ids[q], probes[q]) == pytest.approx(matches[0].similarity, abs=2e-3)
    # A second photo of the first person: their score is the better of the two faces.
    with sessions.begin() as session:
        session.add(FaceEmbeddingRow(person_id=ids[0], vector=to_bytes(probes[0]), dim=DIM, embedder_version="v1",
                                     image_sha256="second", face_index=0, box_x=0, box_y=0, box_width=1,
                                     box_height=1))
        bump_revision(session)
    other = open_gallery()
    assert other.current().top_k(probes[:1], 1)[0][0].similarity == pytest.approx(1.0, abs=2e-3)
    faces = delete_person(sessions, ids[0])
    view = other.current()
    assert ids[0] not in [m.person_id for m in view.top_k(probes[:1], 10)[0]]
    assert len(other.index.vectors(np.array(faces))) == 0
    assert len(gallery.current().top_k(probes[:1], 10)[0]) == 10
    assert len(gallery.index.vectors(np.array(faces))) == 0


def test_names_come_from_sql_so_a_rename_shows_and_a_vanished_person_is_not_named(open_gallery, sessions):
    people = synthetic_people(30, seed=5)
    ids = add_people(sessions, people)
    view = open_gallery().current()
    query = people[7][:1]
    assert view.top_k(query, 1)[0][0].name == "Person 7"
    with sessions.begin() as session:  # a rename does not change the gallery's vectors (no revision bump)
        session.get(Person, ids[7]).name = "Renamed Seven"
    assert view.top_k(query, 1)[0][0].name == "Renamed Seven"
    with sessions.begin() as session:  # gone from SQL before this process reconciled: never named
        session.execute(delete(FaceEmbeddingRow).where(FaceEmbeddingRow.person_id == ids[7]))
        session.execute(delete(Person).where(Person.id == ids[7]))
    assert ids[7] not in [m.person_id for m in view.top_k(query, 3)[0]]


def test_milvus_lite_file_given_in_the_environment_does_not_break_pymilvus(tmp_path):
    """MILVUS_URI is our setting and also the variable pymilvus reads when first imported, where a file
    path (Milvus Lite, as .env.example documents) used to raise and stop the models loading. A fresh
    process, as uvicorn starts, with the variable set through the environment only."""
    import os
    import subprocess
    import sys

    lite = tmp_path / "env.milvus.db"
    script = (
        "import numpy as np\n"
        "from api.config import ApiSettings\n"
        "from api.services.gallery_engines import MilvusIndex\n"
        "settings = ApiSettings()\n"
        "index = MilvusIndex(settings.milvus_uri, 4, collection_prefix='envtest', space='v1')\n"
        "index.add(np.array([7]), np.eye(4, dtype=np.float32)[:1], np.array([70]))\n"
        "ids, scores = index.search(np.eye(4, dtype=np.float32)[:1], 1)\n"
        "import os; assert os.environ['MILVUS_URI'] == settings.milvus_uri\n"
        "print(int(ids[0][0]), round(float(scores[0][0]), 3))\n"
        "index.close()\n"
    )
    env = {**os.environ, "MILVUS_URI": str(lite), "DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}"}
    done = subprocess.run([sys.executable, "-c", script], env=env, cwd=Path(__file__).resolve().parents[1],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split()[-2:] == ["7", "1.0"]
    assert lite.exists()
