"""What the client CLIs (``scripts.enroll``, ``scripts.attendance``) share: how they reach the API
over HTTP (``--url``/``FACE_API_URL``, ``--api-key``/``FACE_API_KEY`` sent as ``Authorization:
Bearer``), so they work against a remote server exactly as against a local one, and how they turn
what went wrong into one ``error: ...`` line."""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

DEFAULT_URL = "http://127.0.0.1:8000"
IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp", ".gif", ".tif", ".tiff"})


class CliError(Exception):
    """Ends the CLI with ``error: <message>`` and ``code`` (2: bad input, 1: the server failed)."""

    def __init__(self, message: str, code: int = 2) -> None:
        super().__init__(message)
        self.code = code


def add_connection_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--url", default=None, help=f"the face API (default: FACE_API_URL, else {DEFAULT_URL})")
    parser.add_argument("--api-key", default=None, help="an API key (default: FACE_API_KEY)")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds to wait for each answer (default 120)")


def positive_int(text: str) -> int:
    """argparse type: a whole number of at least 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number, not {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def make_client(args: argparse.Namespace, workers: int = 1) -> httpx.Client:
    """One client for every thread (httpx.Client is thread-safe), with enough connections for them."""
    url = (args.url or os.environ.get("FACE_API_URL") or DEFAULT_URL).rstrip("/")
    if not url.startswith(("http://", "https://")):
        raise CliError(f"--url must start with http:// or https://, not {url!r}")
    key = args.api_key or os.environ.get("FACE_API_KEY")
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    limits = httpx.Limits(max_connections=max(workers, 1) + 2, max_keepalive_connections=max(workers, 1))
    return httpx.Client(base_url=url, headers=headers, timeout=args.timeout, limits=limits)


def error_of(response: httpx.Response) -> str:
    """The API's one-line ``{"error": ...}``, or the start of whatever else came back."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("error"), str):
        return body["error"]
    return f"HTTP {response.status_code}: {' '.join(response.text.split())[:200]}"


def check_server(client: httpx.Client, wait_s: float = 300.0) -> None:
    """Fail early and clearly when the API is unreachable; wait while its models are still loading."""
    deadline = time.monotonic() + wait_s
    while True:
        try:
            response = client.get("/healthz")
        except httpx.HTTPError as exc:
            raise CliError(f"cannot reach the face API at {client.base_url}: {exc}", code=1) from None
        if response.status_code != 200:
            raise CliError(f"{client.base_url}/healthz answered {error_of(response)}", code=1)
        if response.json().get("model_loaded", True) or time.monotonic() > deadline:
            return
        time.sleep(2.0)


def refuse_bad_key(response: httpx.Response) -> None:
    """A 401 or 403 will not get better by retrying: stop the whole run."""
    if response.status_code in (401, 403):
        raise CliError(f"the API refused the key: {error_of(response)} (--api-key or FACE_API_KEY)")


def request(client: httpx.Client, method: str, path: str, retries: int = 5, **kwargs) -> httpx.Response:
    """One request, retried with back-off while the server is loading (503) or briefly unreachable;
    a server still unreachable after that ends the run (exit 1): the rest would fail the same way,
    and as both CLIs can simply be run again, stopping loses nothing."""
    delay = 1.0
    for attempt in range(retries + 1):
        try:
            response = client.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            if attempt == retries:
                raise CliError(f"lost the face API at {client.base_url}: {exc or type(exc).__name__}", code=1) from None
        else:
            if response.status_code != 503 or attempt == retries:
                return response
        time.sleep(delay)
        delay = min(delay * 2, 10.0)
    raise AssertionError("unreachable")


def is_image_file(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_EXTENSIONS


def visible_files(folder: Path) -> Iterator[Path]:
    """Every file under ``folder``, sorted, skipping hidden ones (``.DS_Store``, ``.git``)."""
    for path in sorted(folder.rglob("*")):
        if path.is_file() and not any(part.startswith(".") for part in path.relative_to(folder).parts):
            yield path
