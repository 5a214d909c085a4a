"""Where the enrolled faces' vectors live and are searched: one face per key (``face_embeddings.id``).

* :class:`ExactIndex` - a dense float32 matrix, brute-force inner products (exact).
* :class:`HnswIndex` - usearch's HNSW graph (float16 by default), approximate, incremental
  adds and removals, saved and memory-mapped back in one file.
* :class:`MemoryIndex` - exact below ``ann_min_size`` faces, HNSW from there on (GALLERY_ENGINE=memory).
* :class:`MilvusIndex` - a Milvus collection (Milvus Lite file or a Milvus server; GALLERY_ENGINE=milvus).

The SQL database stays the source of truth: :class:`api.services.gallery.Gallery` reconciles an index
from it (adds what SQL has and the index lacks, removes what SQL no longer has), never the other way.
All vectors given to an index are projected and unit-norm; scores are inner products (cosines).
"""

from __future__ import annotations

import hashlib
import logging
import os
import sys
import threading
from abc import ABC, abstractmethod
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)


class FaceIndex(ABC):
    """A vector store of faces keyed by embedding id; the caller serialises calls (one lock)."""

    persistent = False
    """True when the index keeps its vectors itself across restarts (Milvus): the gallery then reads
    the ids it holds instead of starting empty."""

    @property
    def lossy(self) -> bool:
        """True when stored vectors are too coarse to rank by (int8): the gallery then re-scores the
        candidates from the exact vectors in SQL (its source of truth) before choosing."""
        return False

    @abstractmethod
    def __len__(self) -> int: ...

    @abstractmethod
    def add(self, ids: np.ndarray, vectors: np.ndarray, owners: np.ndarray) -> None: ...

    @abstractmethod
    def remove(self, ids: np.ndarray) -> None: ...

    @abstractmethod
    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """``(ids, scores)``, each ``(N, k)``, best first; missing entries have id -1 and score -inf."""

    @abstractmethod
    def vectors(self, ids: np.ndarray) -> np.ndarray:
        """The stored vectors of ``ids`` as float32 rows (dequantised)."""

    @abstractmethod
    def clear(self) -> None: ...

    def stored(self) -> tuple[np.ndarray, np.ndarray]:
        """``(ids, owners)`` the index holds by itself (persistent indexes only)."""
        return np.zeros(0, np.int64), np.zeros(0, np.int64)

    def save(self, path: Path) -> bool:
        """Write the vectors next to ``path`` (a file stem); False when this index cannot."""
        return False

    def load(self, path: Path) -> bool:
        return False

    def close(self) -> None:
        return None


def _pad(ids: list[np.ndarray], scores: list[np.ndarray], k: int) -> tuple[np.ndarray, np.ndarray]:
    out_ids = np.full((len(ids), k), -1, np.int64)
    out_scores = np.full((len(ids), k), -np.inf, np.float32)
    for row, (i, s) in enumerate(zip(ids, scores)):
        out_ids[row, : len(i)] = i
        out_scores[row, : len(s)] = s
    return out_ids, out_scores


class ExactIndex(FaceIndex):
    """Dense rows with swap-remove: every search scores every face (exact, BLAS)."""

    def __init__(self, dim: int) -> None:
        self.dim = dim
        self._matrix = np.zeros((0, dim), np.float32)
        self._keys = np.zeros(0, np.int64)
        self._count = 0
        self._slot: dict[int, int] = {}

    def __len__(self) -> int:
        return self._count

    def add(self, ids: np.ndarray, vectors: np.ndarray, owners: np.ndarray) -> None:
        ids = np.asarray(ids, np.int64)
        need = self._count + len(ids)
        if need > len(self._matrix):
            capacity = max(need, 2 * len(self._matrix), 1024)
            matrix = np.zeros((capacity, self.dim), np.float32)
            keys = np.full(capacity, -1, np.int64)
            matrix[: self._count] = self._matrix[: self._count]
            keys[: self._count] = self._keys[: self._count]
            self._matrix, self._keys = matrix, keys
        self._matrix[self._count : need] = vectors
        self._keys[self._count : need] = ids
        for offset, key in enumerate(ids.tolist()):
            self._slot[key] = self._count + offset
        self._count = need

    def remove(self, ids: np.ndarray) -> None:
        for key in np.asarray(ids, np.int64).tolist():
            slot = self._slot.pop(key, None)
            if slot is None:
                continue
            last = self._count - 1
            if slot != last:
                moved = int(self._keys[last])
                self._matrix[slot] = self._matrix[last]
                self._keys[slot] = moved
                self._slot[moved] = slot
            self._matrix[last] = 0.0  # the removed vector is overwritten, not only forgotten
            self._keys[last] = -1
            self._count = last

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        k = min(k, self._count)
        if k == 0:
            return _pad([np.zeros(0, np.int64)] * len(queries), [np.zeros(0, np.float32)] * len(queries), 0)
        scores = queries @ self._matrix[: self._count].T
        best = np.argpartition(-scores, k - 1, axis=1)[:, :k]
        best_scores = np.take_along_axis(scores, best, axis=1)
        order = np.argsort(-best_scores, axis=1, kind="stable")
        best = np.take_along_axis(best, order, axis=1)
        return self._keys[best], np.take_along_axis(best_scores, order, axis=1)

    def vectors(self, ids: np.ndarray) -> np.ndarray:
        slots = [self._slot[int(i)] for i in ids if int(i) in self._slot]
        return self._matrix[slots].copy()

    def clear(self) -> None:
        self.__init__(self.dim)

    def items(self) -> tuple[np.ndarray, np.ndarray]:
        return self._keys[: self._count].copy(), self._matrix[: self._count]

    def save(self, path: Path) -> bool:
        keys, matrix = self.items()
        _atomic(path.with_suffix(".exact.npz"), lambda tmp: np.savez(tmp, keys=keys, matrix=matrix))
        return True

    def load(self, path: Path) -> bool:
        file = path.with_suffix(".exact.npz")
        if not file.is_file():
            return False
        with np.load(file) as data:
            if data["matrix"].shape[1:] != (self.dim,):
                return False
            self.clear()
            self.add(data["keys"], data["matrix"], np.zeros(len(data["keys"]), np.int64))
        return True


class HnswIndex(FaceIndex):
    """usearch HNSW over inner product; ``dtype`` f32, f16 (default: half the memory, same recall on
    our faces, see reports/gallery.json) or i8."""

    def __init__(self, dim: int, dtype: str = "f16", connectivity: int = 16, expansion_add: int = 128,
                 expansion_search: int = 256, threads: int = 0) -> None:
        self.dim = dim
        self.dtype = dtype
        self.connectivity = connectivity
        self.expansion_add = expansion_add
        self.expansion_search = expansion_search
        self.threads = threads or (os.cpu_count() or 1)
        self._index = self._new()

    def _new(self):
        from usearch.index import Index

        return Index(ndim=self.dim, metric="ip", dtype=self.dtype, connectivity=self.connectivity,
                     expansion_add=self.expansion_add, expansion_search=self.expansion_search)

    @property
    def expansion_search(self) -> int:
        return self._expansion_search

    @expansion_search.setter
    def expansion_search(self, value: int) -> None:
        """The search beam (ef): changeable on a built graph, no rebuild (benchmarks sweep it)."""
        self._expansion_search = int(value)
        if hasattr(self, "_index"):
            self._index.expansion_search = int(value)

    @property
    def lossy(self) -> bool:
        # int8 (usearch scales each unit vector by 127) moves the 10th-best cosine past the 11th too
        # often: recall@10 0.93 in its own order, 0.996 at 100k once its candidates are re-scored
        # (api.services.gallery.LOSSY_CANDIDATES).
        return self.dtype == "i8"

    def __len__(self) -> int:
        return len(self._index)

    def add(self, ids: np.ndarray, vectors: np.ndarray, owners: np.ndarray) -> None:
        if len(ids):
            self._index.add(np.asarray(ids, np.uint64), np.ascontiguousarray(vectors, np.float32),
                            threads=self.threads)

    def remove(self, ids: np.ndarray) -> None:
        if len(ids):
            self._index.remove(np.asarray(ids, np.uint64))

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        k = min(k, len(self._index))
        if k == 0:
            return _pad([np.zeros(0, np.int64)] * len(queries), [np.zeros(0, np.float32)] * len(queries), 0)
        found = self._index.search(np.ascontiguousarray(queries, np.float32), k,
                                   threads=1 if len(queries) == 1 else self.threads)
        keys = np.atleast_2d(found.keys).astype(np.int64)
        distances = np.atleast_2d(found.distances).astype(np.float32)
        counts = np.atleast_1d(getattr(found, "counts", keys.shape[1]))  # one query: Matches, trimmed
        ids = [keys[row, : counts[row]] for row in range(len(keys))]
        scores = [1.0 - distances[row, : counts[row]] for row in range(len(keys))]  # ip distance = 1 - dot
        return _pad(ids, scores, k)

    def vectors(self, ids: np.ndarray) -> np.ndarray:
        if not len(ids):
            return np.zeros((0, self.dim), np.float32)
        got = self._index.get(np.asarray(ids, np.uint64), dtype=np.float32)
        got = np.atleast_2d(np.asarray(got, np.float32))
        return got[~np.isnan(got).any(axis=1)] if got.size else got

    def clear(self) -> None:
        self._index = self._new()

    def save(self, path: Path) -> bool:
        _atomic(path.with_suffix(".usearch"), lambda tmp: self._index.save(str(tmp)))
        return True

    def load(self, path: Path) -> bool:
        file = path.with_suffix(".usearch")
        if not file.is_file():
            return False
        index = self._new()
        index.load(str(file))
        if index.ndim != self.dim:
            return False
        self._index = index
        return True


class MemoryIndex(FaceIndex):
    """Exact search while the gallery is small, an HNSW graph once it holds ``ann_min_size`` faces."""

    def __init__(self, dim: int, ann_min_size: int = 50_000, **hnsw: object) -> None:
        self.dim = dim
        self.ann_min_size = ann_min_size
        self._hnsw_options = hnsw
        self._inner: FaceIndex = ExactIndex(dim)

    @property
    def approximate(self) -> bool:
        return isinstance(self._inner, HnswIndex)

    @property
    def lossy(self) -> bool:
        return self._inner.lossy

    def __len__(self) -> int:
        return len(self._inner)

    def add(self, ids: np.ndarray, vectors: np.ndarray, owners: np.ndarray) -> None:
        if not self.approximate and len(self._inner) + len(ids) >= self.ann_min_size:
            hnsw = HnswIndex(self.dim, **self._hnsw_options)  # type: ignore[arg-type]
            keys, matrix = self._inner.items()  # type: ignore[attr-defined]
            hnsw.add(keys, matrix, owners)
            self._inner = hnsw
            log.info("gallery: %d faces, switching to an HNSW index", len(keys) + len(ids))
        self._inner.add(ids, vectors, owners)

    def remove(self, ids: np.ndarray) -> None:
        self._inner.remove(ids)

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        return self._inner.search(queries, k)

    def vectors(self, ids: np.ndarray) -> np.ndarray:
        return self._inner.vectors(ids)

    def clear(self) -> None:
        self._inner = ExactIndex(self.dim)

    def save(self, path: Path) -> bool:
        for stale in (path.with_suffix(".usearch"), path.with_suffix(".exact.npz")):
            stale.unlink(missing_ok=True)
        return self._inner.save(path)

    def load(self, path: Path) -> bool:
        if path.with_suffix(".usearch").is_file():
            hnsw = HnswIndex(self.dim, **self._hnsw_options)  # type: ignore[arg-type]
            if hnsw.load(path):
                self._inner = hnsw
                return True
        exact = ExactIndex(self.dim)
        if exact.load(path):
            self._inner = exact
            return True
        return False


_ENV_LOCK = threading.Lock()


def _milvus_client_class() -> type:
    """``pymilvus.MilvusClient``, imported so that our own MILVUS_URI setting cannot break the import.
    Why: pymilvus reads the same environment variable when it is first imported and raises if it is not
    an http(s) address, so ``MILVUS_URI=data/gallery.milvus.db`` (Milvus Lite, as documented) in the
    environment made the API fail to load its models. The variable is hidden during that first import
    only; the URI this index uses is always the one passed in."""
    if "pymilvus" not in sys.modules:
        with _ENV_LOCK:
            hidden = os.environ.pop("MILVUS_URI", None)
            try:
                import pymilvus  # noqa: F401 - the first import, with MILVUS_URI out of sight
            finally:
                if hidden is not None:
                    os.environ["MILVUS_URI"] = hidden
    from pymilvus import MilvusClient

    return MilvusClient


class MilvusIndex(FaceIndex):
    """One Milvus collection per matching space: ``id`` (embedding id), ``person_id``, ``vector``.

    ``uri`` is a file path for Milvus Lite (one process, tests) or ``http://host:19530`` for a
    Milvus server shared by every replica. Writes are idempotent (upsert, delete by id), so replicas
    reconciling at the same time do no harm."""

    persistent = True
    BATCH = 2000

    def __init__(self, uri: str, dim: int, collection_prefix: str = "faces", token: str | None = None,
                 index_type: str | None = None, ef_search: int = 256, space: str = "") -> None:
        MilvusClient = _milvus_client_class()

        self.uri = uri
        self.lite = "://" not in uri
        if self.lite:
            Path(uri).parent.mkdir(parents=True, exist_ok=True)
        self.dim = dim
        self.ef_search = ef_search
        self.index_type = index_type or ("FLAT" if self.lite else "HNSW")
        self.prefix = collection_prefix
        if self.lite:
            # Milvus Lite locks its file: every gallery of this process shares one client (and server).
            with _LITE_LOCK:
                client, users = _LITE_CLIENTS.get(uri, (None, 0))
                _LITE_CLIENTS[uri] = (client or MilvusClient(uri), users + 1)
                self.client = _LITE_CLIENTS[uri][0]
        else:
            self.client = MilvusClient(uri, token=token or "")
        self._closed = False
        self.collection: str | None = None
        if space:
            self.switch_space(space)

    def switch_space(self, space: str) -> None:
        """Use the collection of this matching space (embedder, dimension, recognition head)."""
        left = self.collection
        self.collection = f"{self.prefix}_{hashlib.sha1(space.encode()).hexdigest()[:12]}"
        if left is not None and left != self.collection:
            # Stale vectors of the space left (deleted people included) must not linger; a replica
            # still on it recreates and reconciles it until it moves too.
            try:
                self.client.drop_collection(left)
            except Exception:  # noqa: BLE001 - another replica dropped it first
                log.info("milvus: %s was already gone", left)
        self._ensure()

    def _ensure(self) -> None:
        from pymilvus import DataType, MilvusClient

        if self.client.has_collection(self.collection):
            self.client.load_collection(self.collection)
            return
        schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
        schema.add_field("id", DataType.INT64, is_primary=True)
        schema.add_field("person_id", DataType.INT64)
        schema.add_field("vector", DataType.FLOAT_VECTOR, dim=self.dim)
        params = self.client.prepare_index_params()
        options = {"M": 16, "efConstruction": 200} if self.index_type == "HNSW" else {}
        params.add_index("vector", index_type=self.index_type, metric_type="IP", params=options)
        try:
            self.client.create_collection(self.collection, schema=schema, index_params=params,
                                          consistency_level="Strong")
        except Exception:
            if not self.client.has_collection(self.collection):
                raise
            self.client.load_collection(self.collection)  # another worker or replica made it meanwhile
            return
        log.info("milvus: created collection %s (%s) at %s", self.collection, self.index_type, self.uri)

    def __len__(self) -> int:
        rows = self.client.query(self.collection, filter="", output_fields=["count(*)"],
                                 consistency_level="Strong")
        return int(rows[0]["count(*)"])

    def add(self, ids: np.ndarray, vectors: np.ndarray, owners: np.ndarray) -> None:
        for start in range(0, len(ids), self.BATCH):
            rows = [
                {"id": int(i), "person_id": int(p), "vector": v}
                for i, p, v in zip(ids[start : start + self.BATCH], owners[start : start + self.BATCH],
                                   np.asarray(vectors[start : start + self.BATCH], np.float32))
            ]
            self.client.upsert(self.collection, rows)
        self._seal(len(ids))

    def _seal(self, changed: int) -> None:
        """Flush so that new rows leave the growing segment: Milvus Lite searches that one by brute
        force over gRPC (about 150 ms at 2,000 faces, 5 ms once flushed); a server only for big batches
        (it rate-limits flushes and indexes growing segments itself)."""
        if changed and (self.lite or changed >= 10_000):
            self.client.flush(self.collection)

    def remove(self, ids: np.ndarray) -> None:
        for start in range(0, len(ids), self.BATCH):
            self.client.delete(self.collection, ids=[int(i) for i in ids[start : start + self.BATCH]])
        self._seal(len(ids))

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        k = min(k, 16_384)
        params = {"metric_type": "IP", "params": {"ef": max(self.ef_search, k)} if self.index_type == "HNSW" else {}}
        hits = self.client.search(self.collection, data=np.asarray(queries, np.float32).tolist(), limit=k,
                                  anns_field="vector", search_params=params, consistency_level="Session")
        ids = [np.array([h["id"] for h in row], np.int64) for row in hits]
        scores = [np.array([h["distance"] for h in row], np.float32) for row in hits]
        return _pad(ids, scores, k)

    def vectors(self, ids: np.ndarray) -> np.ndarray:
        if not len(ids):
            return np.zeros((0, self.dim), np.float32)
        rows = self.client.get(self.collection, ids=[int(i) for i in ids], output_fields=["vector"])
        return np.array([row["vector"] for row in rows], np.float32).reshape(-1, self.dim)

    def stored(self) -> tuple[np.ndarray, np.ndarray]:
        ids, owners = [], []
        iterator = self.client.query_iterator(self.collection, batch_size=10_000, filter="",
                                              output_fields=["id", "person_id"])
        try:
            while batch := iterator.next():
                ids.extend(row["id"] for row in batch)
                owners.extend(row["person_id"] for row in batch)
        finally:
            iterator.close()
        order = np.argsort(np.array(ids, np.int64), kind="stable")
        return np.array(ids, np.int64)[order], np.array(owners, np.int64)[order]

    def clear(self) -> None:
        self.client.drop_collection(self.collection)
        self._ensure()

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if not self.lite:
            self.client.close()
            return
        with _LITE_LOCK:
            client, users = _LITE_CLIENTS[self.uri]
            if users > 1:
                _LITE_CLIENTS[self.uri] = (client, users - 1)
                return
            del _LITE_CLIENTS[self.uri]
        client.close()


_LITE_LOCK = threading.Lock()
_LITE_CLIENTS: dict[str, tuple[object, int]] = {}


def _atomic(path: Path, write) -> None:
    """Write through a temporary file and rename it over ``path``: readers never see half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    suffix = "".join(path.suffixes)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp{suffix}")
    write(tmp)
    os.replace(tmp, path)
