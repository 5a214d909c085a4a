"""API settings, read once from the environment (no prefix) so that every worker, script and test
configures the service the same way; the face pipeline keeps its own ``FACE_*`` settings."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

ROOT = Path(__file__).resolve().parents[1]
"""The repository root: relative SQLite paths are taken from here, not from the working directory."""

SUPPORTED_BACKENDS = ("sqlite", "mysql", "mariadb")


class ApiSettings(BaseSettings):
    """Everything the API reads from the environment; each field is documented in ``.env.example``."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", env_ignore_empty=True)

    database_url: str = Field(
        "sqlite:///data/face_api.db",
        description="SQLAlchemy URL; a relative SQLite path is relative to the repository root.",
    )
    api_keys_enabled: bool = Field(
        True, description="Require an API key (X-API-Key or Authorization: Bearer) on the face endpoints."
    )
    max_upload_bytes: int = Field(10 * 1024 * 1024, ge=1, description="Largest accepted request body (413 beyond).")
    match_threshold: float | None = Field(
        None, ge=-1.0, le=1.0,
        description="1:1 (/verify) cosine needed for a match; unset uses the served model's or the calibrated one.",
    )
    identify_threshold: float | None = Field(
        None, ge=-1.0, le=1.0,
        description="Fixed cosine a best gallery match must reach to name someone (/analyze, /search); unset: "
        "derived from the gallery's size and IDENTIFY_STRANGER_RATE.",
    )
    identify_stranger_rate: float = Field(
        0.01, gt=0.0, lt=1.0,
        description="Share of never-enrolled people the gallery may name as someone; the identification "
        "threshold tightens as the gallery grows to hold it.",
    )
    keep_face_crops: bool = Field(True, description="Store the aligned crop of every enrolled face.")
    unknown_match_window_hours: float = Field(
        24.0 * 30, gt=0, description="Unknown faces seen within this many hours are matched to give a stable id."
    )
    unknown_max_recent: int = Field(10_000, ge=1, description="At most this many recent unknown faces are compared.")
    default_top_k: int = Field(3, ge=0, le=100, description="Look-alikes listed per face when ?top_k= is not given.")
    log_level: str = Field("INFO", description="Python log level of the API's own loggers.")
    annotated_jpeg_quality: int = Field(
        90, ge=1, le=95, description="JPEG quality of POST /analyze?format=jpeg (the photo with its faces drawn)."
    )
    log_format: Literal["text", "json"] = Field(
        "text", description="text: human-readable lines; json: one JSON object per line (with the request id)."
    )
    me_person: str | None = Field(
        None, description="The enrolled person (or personal verifier) /verify checks when no person is named."
    )
    # Models from the MLflow registry (api/services/registry_models.py).
    mlflow_tracking_uri: str | None = Field(None, description="MLflow tracking/registry URI (standard variable).")
    model_source: Literal["registry", "packaged"] | None = Field(
        None, description="registry: serve models:/<name>@production; packaged: pipeline only; unset: registry "
        "when MLFLOW_TRACKING_URI is set."
    )
    model_cache_dir: Path = Field(Path("data/model-cache"), description="Local copies of the served model versions.")
    age_gender_runtime: Literal["openvino", "pyfunc"] = Field(
        "openvino", description="openvino: the age-gender model's Keras file converted once (in a child "
        "process) and run without TensorFlow, about 600 MiB less per worker; pyfunc: its MLflow pyfunc "
        "(Keras on TensorFlow). A version that cannot be converted is served through its pyfunc."
    )
    model_refresh_seconds: float = Field(
        30.0, ge=0, description="How often the production aliases are checked (0: never)."
    )

    # Reliability: database timeouts, capacity limits, rate limits (docs/reliability.md).
    database_connect_timeout_seconds: float = Field(
        5.0, gt=0, description="Seconds to open a database connection (503 beyond)."
    )
    database_read_timeout_seconds: float = Field(
        15.0, gt=0, description="Seconds to wait for any one database reply (MySQL/MariaDB socket timeout)."
    )
    database_statement_timeout_seconds: float = Field(
        10.0, gt=0, description="Longest statement the server may run (MariaDB max_statement_time); SQLite's "
        "busy wait for a lock."
    )
    database_pool_timeout_seconds: float = Field(
        5.0, gt=0, description="Seconds to wait for a free pooled connection (503 beyond)."
    )
    retry_after_seconds: int = Field(5, ge=1, description="Retry-After sent with every 503.")
    api_key_cache_seconds: float = Field(
        60.0, ge=0, description="A verified key is trusted this long without the database (0: always ask it)."
    )
    max_concurrent_inferences: int = Field(
        2, ge=1, description="Photos decoded and analysed at once per worker process; more wait in a queue."
    )
    inference_queue_seconds: float = Field(
        10.0, ge=0, description="How long a photo may wait for a free slot before a 503."
    )
    max_decode_bytes: int = Field(
        640 * 1024 * 1024, ge=1, description="Estimated memory to decode one photo above which it is refused (422)."
    )
    rate_limit_enabled: bool = Field(True, description="Throttle requests per client address and per API key.")
    rate_limit_per_address: str = Field(
        "300/minute", description="Requests per client address (the limits library's notation, e.g. 10/second)."
    )
    rate_limit_per_key_holder: str = Field("600/minute", description="Requests per API key, whatever the address.")
    rate_limit_failed_keys: str = Field(
        "20/minute", description="Wrong or revoked API keys per client address before it is refused (429)."
    )
    rate_limit_storage_uri: str = Field(
        "memory://", description="Where the counters live: memory:// is per worker process; redis://... shared."
    )

    # The gallery of enrolled faces (docs/scaling.md).
    gallery_engine: Literal["memory", "milvus"] = Field(
        "memory", description="memory: every worker holds the faces (exact, then HNSW above GALLERY_ANN_MIN_SIZE); "
        "milvus: a Milvus collection (MILVUS_URI) shared by every worker and replica."
    )
    gallery_ann_min_size: int = Field(
        50_000, ge=1, description="Faces from which the memory engine searches an HNSW graph instead of every face."
    )
    gallery_hnsw_dtype: Literal["f32", "f16", "i8"] = Field(
        "i8", description="How the memory engine's HNSW graph stores vectors (i8: a quarter of f32's memory; "
        "its candidates are re-scored from SQL's exact vectors, so answers and scores stay exact-ranked; f16: half)."
    )
    gallery_hnsw_connectivity: int = Field(16, ge=4, le=128, description="HNSW neighbours per node (M).")
    gallery_hnsw_expansion_add: int = Field(
        128, ge=8, description="HNSW candidates explored per insertion (efConstruction: higher builds slower, "
        "with a better graph)."
    )
    gallery_hnsw_ef_search: int = Field(
        256, ge=8, description="HNSW candidates explored per search (higher: better recall, slower). 256: "
        "on all of LFW (real faces) 64 reached recall@10 0.94 and 256 0.99 (reports/gallery_real_lfw.json)."
    )
    gallery_snapshot_dir: Path | None = Field(
        None, description="Folder of the memory engine's on-disk snapshot, read at start and reconciled with "
        "the database (unset: rebuilt from the database at every start)."
    )
    gallery_snapshot_seconds: float = Field(
        60.0, ge=0, description="Least seconds between two snapshot writes after changes."
    )
    milvus_uri: str = Field(
        "data/gallery.milvus.db", description="A file path (Milvus Lite, one process) or http://HOST:19530 (server)."
    )
    milvus_token: str | None = Field(None, description="Milvus credentials (user:password or an API token).")
    milvus_collection: str = Field("faces", description="Prefix of the Milvus collections of this service.")

    @field_validator("database_url")
    @classmethod
    def _supported_database(cls, url: str) -> str:
        """Only the backends we ship drivers and migrations for; anything else is a one-line error."""
        from sqlalchemy.engine import make_url
        from sqlalchemy.exc import ArgumentError

        try:
            backend = make_url(url).get_backend_name()
        except ArgumentError:
            raise ValueError("not a database URL (e.g. sqlite:///data/face_api.db)") from None
        if backend not in SUPPORTED_BACKENDS:
            raise ValueError(
                f"unsupported database {backend!r}: use sqlite:///PATH or mysql+pymysql://USER:PASSWORD@HOST/DB"
            )
        return url

    @field_validator("rate_limit_per_address", "rate_limit_per_key_holder", "rate_limit_failed_keys")
    @classmethod
    def _rate_limit(cls, value: str) -> str:
        from limits import parse_many

        try:
            parse_many(value)
        except ValueError:
            raise ValueError(f"not a rate limit: {value!r} (e.g. 300/minute)") from None
        return value

    def resolved_database_url(self) -> str:
        """The database URL with a relative SQLite path made absolute and its folder created."""
        return resolve_database_url(self.database_url)


def resolve_database_url(url: str, create_folder: bool = True) -> str:
    """``url`` with a relative SQLite path made absolute; its folder is created unless ``create_folder``
    is false, when a missing folder is a :class:`MissingDatabaseError` (tools that only read)."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database or parsed.database == ":memory:":
        return url
    path = Path(parsed.database)
    if not path.is_absolute():
        path = ROOT / path
    if create_folder:
        path.parent.mkdir(parents=True, exist_ok=True)
    elif not path.is_file():
        raise MissingDatabaseError(f"no database at {path} (check DATABASE_URL)")
    return parsed.set(database=str(path)).render_as_string(hide_password=False)


class MissingDatabaseError(Exception):
    """A SQLite database that should already exist does not."""


@lru_cache(maxsize=1)
def get_settings() -> ApiSettings:
    return ApiSettings()
