"""OpenVINO models converted once and kept on disk, so a restart (or a second worker) reads the
converted IR instead of converting again.

The cache key is the source file's sha256, OpenVINO's version and the converter's own revision:
a new weight file, a new OpenVINO or a change to how we convert never reuses an old IR. Every
IR is written next to a manifest of its files' sha256; a reader checks them and rebuilds on any
mismatch or read error, so a truncated, corrupt or half-written cache is never trusted. Files are
written under temporary names and renamed into place (the manifest last), so workers that build
at the same moment each leave a whole, consistent set."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import queue
import re
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)


@lru_cache(maxsize=16)
def file_sha256(path: str, size: int, mtime_ns: int) -> str:
    """sha256 of a file; cached per (path, size, mtime) so a process hashes each source once."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def sha256_of(path: Path) -> str:
    stat = path.stat()
    return file_sha256(str(path), stat.st_size, stat.st_mtime_ns)


def openvino_version() -> str:
    import openvino as ov

    return ov.get_version().split("-")[0]


def cache_key(source: Path, revision: str) -> str:
    """What an IR in the cache was made from: the source's content, OpenVINO and our converter."""
    raw = f"{sha256_of(source)}|{openvino_version()}|{revision}"
    return hashlib.sha256(raw.encode()).hexdigest()[:20]


class IRCache:
    """Converted models under ``folder``, named ``<name>-<key>.{xml,bin,json}``."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)

    def paths(self, name: str, key: str) -> tuple[Path, Path, Path]:
        stem = self.folder / f"{re.sub(r'[^A-Za-z0-9_.-]+', '-', name)}-{key}"
        return stem.with_suffix(".xml"), stem.with_suffix(".bin"), stem.with_suffix(".json")

    def load_or_build(self, name: str, source: Path, revision: str, build: Callable[[], object]):
        """The cached ``ov.Model`` for ``source``, or ``build()``'s, written to the cache first.

        Returns ``(model, how)`` with ``how`` one of ``"cache"``, ``"built"`` or ``"rebuilt"``
        (a cached copy existed but failed its check)."""

        key = cache_key(source, revision)
        xml, binary, manifest = self.paths(name, key)
        how = "built"
        if manifest.exists() or xml.exists():
            try:
                expected = json.loads(manifest.read_text())
                if expected != {"xml": sha256_of(xml), "bin": sha256_of(binary)}:
                    raise ValueError("files do not match their manifest")
                return read_unmapped(xml), "cache"
            except Exception as exc:  # noqa: BLE001 - any damage means: do not trust it, rebuild
                log.warning("OpenVINO cache %s is unusable (%s): rebuilding it", xml.name, exc)
                how = "rebuilt"
        model = build()
        try:
            self._write(model, xml, binary, manifest)
        except OSError as exc:  # a read-only or full disk costs the next start a conversion, nothing else
            log.warning("could not write the OpenVINO cache in %s: %s", self.folder, exc)
        return model, how

    def _write(self, model, xml: Path, binary: Path, manifest: Path) -> None:
        import openvino as ov

        self.folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=self.folder, prefix=".build-") as tmp:
            tmp_xml = Path(tmp) / "model.xml"
            ov.save_model(model, str(tmp_xml), compress_to_fp16=False)
            tmp_bin = tmp_xml.with_suffix(".bin")
            record = {"xml": hashlib.sha256(tmp_xml.read_bytes()).hexdigest(),
                      "bin": hashlib.sha256(tmp_bin.read_bytes()).hexdigest()}
            tmp_manifest = Path(tmp) / "manifest.json"
            tmp_manifest.write_text(json.dumps(record))
            os.replace(tmp_bin, binary)
            os.replace(tmp_xml, xml)
            os.replace(tmp_manifest, manifest)


def read_unmapped(xml: Path):
    """``xml``'s model with its weights read into memory, not mapped from the ``.bin`` file.

    Why: a mapped weights file stays mapped (and resident) as long as the compiled model lives,
    although the CPU plugin keeps its own, repacked copy of the weights; read instead, the file's
    copy is freed once the model is compiled: the face pipeline holds about 62 MiB less, in bfloat16
    and in f32 (``reports/pipeline_memory.json``, ``python -m benchmarks.pipeline_memory``)."""
    import openvino as ov

    core = ov.Core()
    core.set_property({"ENABLE_MMAP": False})
    return core.read_model(str(xml))


def resolved_precision(precision: str) -> str:
    """``auto`` -> ``bf16`` where the CPU computes in bfloat16 natively (AVX-512 BF16 / AMX; about
    1.8x faster for FaceNet here, embeddings equal to cosine 0.9999), else ``f32``."""
    if precision != "auto":
        return precision
    import openvino as ov

    return "bf16" if "BF16" in ov.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES") else "f32"


class CompiledNetwork:
    """A compiled OpenVINO model that several threads can call at once (one infer request each,
    kept in a small pool so none is created per call)."""

    def __init__(self, model, threads: int = 0, precision: str = "auto") -> None:
        import openvino as ov

        self.precision = resolved_precision(precision)
        config = {"PERFORMANCE_HINT": "LATENCY", "INFERENCE_PRECISION_HINT": self.precision}
        if threads:
            config["INFERENCE_NUM_THREADS"] = threads
        self.compiled = ov.Core().compile_model(model, "CPU", config)
        self._requests: queue.SimpleQueue = queue.SimpleQueue()

    @contextmanager
    def _request(self) -> Iterator[object]:
        try:
            request = self._requests.get_nowait()
        except queue.Empty:
            request = self.compiled.create_infer_request()
        try:
            yield request
        finally:
            self._requests.put(request)

    def __call__(self, batch: np.ndarray | dict[str, np.ndarray]) -> list[np.ndarray]:
        """Every output of the model for one input batch (a dict by input name for a model of several
        inputs), copied out of the request's buffers."""
        feed = ({name: np.ascontiguousarray(value) for name, value in batch.items()} if isinstance(batch, dict)
                else {0: np.ascontiguousarray(batch)})
        with self._request() as request:
            results = request.infer(feed)
            return [np.array(results[output]) for output in self.compiled.outputs]
