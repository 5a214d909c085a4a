"""Smoke client of a running face API, in the form the original design's users know:

    python test_api.py              # is it up? (GET /healthz, no key needed)
    python test_api.py photo.jpg    # and what does it see in this photo? (POST /analyze)

The server is FACE_API_URL (default http://127.0.0.1:8000); the key is FACE_API_KEY, sent as
``Authorization: Bearer`` (not needed with API_KEYS_ENABLED=false). Exit status: 0 when every step
answered as expected, 1 when the server did not, 2 on bad input.

Not a pytest test, despite its name (the name is the one clients expect): pytest's ``testpaths`` is
``tests/`` and the root conftest.py tells pytest to skip this file."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import httpx

DEFAULT_URL = "http://127.0.0.1:8000"


def _show(title: str, response: httpx.Response) -> None:
    print(f"{title}: HTTP {response.status_code}")
    try:
        print(json.dumps(response.json(), indent=2))
    except ValueError:
        print(response.text[:500])


def main(argv: list[str]) -> int:
    if len(argv) > 1 or (argv and argv[0] in ("-h", "--help")):
        print(__doc__.strip().splitlines()[0], file=sys.stderr)
        print("usage: python test_api.py [image.jpg]", file=sys.stderr)
        return 0 if argv and argv[0] in ("-h", "--help") else 2
    photo = Path(argv[0]) if argv else None
    if photo is not None and not photo.is_file():
        print(f"error: no such file: {photo}", file=sys.stderr)
        return 2
    url = os.environ.get("FACE_API_URL") or DEFAULT_URL
    key = os.environ.get("FACE_API_KEY")
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    try:
        with httpx.Client(base_url=url, headers=headers, timeout=120) as client:
            health = client.get("/healthz")
            _show("GET /healthz", health)
            if health.status_code != 200:
                return 1
            if photo is None:
                return 0
            with open(photo, "rb") as handle:
                analysis = client.post("/analyze", files={"file": (photo.name, handle)})
            _show("POST /analyze", analysis)
            return 0 if analysis.status_code == 200 else 1
    except httpx.HTTPError as exc:
        print(f"error: cannot reach {url}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
