"""Enroll many people at once through the API: ``python -m scripts.enroll SOURCE [--workers N]``.

    python -m scripts.enroll photos/                 # photos/Jane_Doe/*.jpg, or photos/Jane_Doe_0001.jpg
    python -m scripts.enroll class.xlsx --url https://faces.example.org --api-key fah_...
    python -m scripts.enroll class.csv --skipped not-enrolled.csv

SOURCE is a folder (one subfolder per person, or file names that carry the name) or a class list
(CSV or XLSX: a name and a photo path or http(s) URL per row; a header row is recognised, and
relative paths are relative to the spreadsheet). Each photo goes to ``POST /register`` (an admin
key: --api-key or FACE_API_KEY), several at a time (--workers). Running it again adds nothing: the
API keeps one copy of each photo per person. Photos that could not be enrolled (no face, several
faces, unreadable, download failed) are listed with the reason in the --skipped CSV.

Exit status: 0 when the run finished (even with skipped photos), 2 on bad input (no such source,
a spreadsheet without a name or photo column, a refused key), 1 when the server could not be reached
(the run stops; running it again carries on where it stopped)."""

from __future__ import annotations

import argparse
import csv
import hashlib
import sys
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

import httpx
from tqdm import tqdm

from scripts._client import (
    CliError,
    add_connection_arguments,
    check_server,
    error_of,
    make_client,
    positive_int,
    refuse_bad_key,
    request,
)
from scripts._roster import Item, Skip, read_roster

MAX_DOWNLOAD_BYTES = 20 * 1024 * 1024
SKIPPED_COLUMNS = ("where", "name", "photo", "reason")


@dataclass(frozen=True)
class Outcome:
    item: Item
    status: str  # added | already enrolled | skipped
    reason: str = ""
    created: bool = False


def download(client: httpx.Client, url: str) -> bytes:
    """The photo behind ``url`` (redirects followed, size capped); raises ValueError saying why not.
    ``client`` is not the API's: the API key is not sent to other servers."""
    try:
        with client.stream("GET", url, follow_redirects=True) as response:
            if response.status_code != 200:
                raise ValueError(f"HTTP {response.status_code}")
            chunks, size = [], 0
            for chunk in response.iter_bytes():
                size += len(chunk)
                if size > MAX_DOWNLOAD_BYTES:
                    raise ValueError(f"larger than {MAX_DOWNLOAD_BYTES:,} bytes")
                chunks.append(chunk)
    except httpx.HTTPError as exc:
        raise ValueError(str(exc) or type(exc).__name__) from None
    data = b"".join(chunks)
    if not data:
        raise ValueError("empty answer")
    return data


def classify_refusal(response: httpx.Response) -> str:
    """Why /register refused a photo, in the words of the skipped CSV."""
    message = error_of(response)
    try:
        body = response.json()
    except ValueError:
        body = {}
    if response.status_code == 422 and isinstance(body, dict) and isinstance(body.get("face_count"), int):
        return f"several faces ({body['face_count']}): {message}"
    if response.status_code == 422 and message.startswith("No face"):
        return "no face detected"
    if response.status_code in (400, 415, 422):
        return f"unreadable: {message}"
    if response.status_code == 413:
        return f"too large: {message}"
    return f"server error: {message}"


class _Skipped(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Enroller:
    """Sends each item to /register once; identical local photos for one person are sent once."""

    def __init__(self, client: httpx.Client, downloader: httpx.Client) -> None:
        self.client = client
        self.downloader = downloader
        self._sent: set[tuple[str, str]] = set()
        self._lock = threading.Lock()

    def _photo(self, item: Item) -> bytes:
        if item.is_url:
            try:
                return download(self.downloader, item.source)
            except ValueError as exc:
                raise _Skipped(f"download failed: {exc}") from None
        try:
            return Path(item.source).read_bytes()
        except OSError as exc:
            raise _Skipped(f"unreadable: {exc.strerror or exc}") from None

    def enroll(self, item: Item) -> Outcome:
        try:
            data = self._photo(item)
        except _Skipped as skipped:
            return Outcome(item, "skipped", skipped.reason)
        key = (" ".join(item.name.split()).casefold(), hashlib.sha256(data).hexdigest())
        with self._lock:
            duplicate = key in self._sent
            self._sent.add(key)
        if duplicate:
            return Outcome(item, "already enrolled", "the same photo is listed twice for this person")
        response = request(self.client, "POST", "/register", data={"person_name": item.name},
                           files={"file": (Path(item.source.split("?")[0]).name or "photo", data)})  # fmt: skip
        refuse_bad_key(response)
        if response.status_code in (200, 201):
            body = response.json()
            if body.get("added"):
                return Outcome(item, "added", created=bool(body.get("created")))
            return Outcome(item, "already enrolled")
        return Outcome(item, "skipped", classify_refusal(response))


def write_skipped(path: Path, skipped: list[Skip]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(SKIPPED_COLUMNS)
        for skip in skipped:
            writer.writerow((skip.where, skip.name, skip.source, skip.reason))


def run(items: list[Item], client: httpx.Client, workers: int, progress: bool = True) -> list[Outcome]:
    with httpx.Client(timeout=client.timeout) as downloader, ThreadPoolExecutor(max_workers=workers) as pool:
        enroller = Enroller(client, downloader)
        futures = [pool.submit(enroller.enroll, item) for item in items]
        outcomes = []
        try:
            for future in tqdm(as_completed(futures), total=len(futures), desc="enrolling", unit="photo",
                               disable=not progress):  # fmt: skip
                outcomes.append(future.result())
        except CliError:
            for future in futures:
                future.cancel()
            raise
    order = {id(item): i for i, item in enumerate(items)}
    return sorted(outcomes, key=lambda o: order[id(o.item)])


def summary(outcomes: list[Outcome], skipped: list[Skip]) -> str:
    counts = Counter(o.status for o in outcomes)
    new_people = sum(1 for o in outcomes if o.created)
    reasons = Counter(s.reason.split(":")[0].split(" (")[0] for s in skipped)
    text = (f"enrolled {counts['added']} new photo(s) ({new_people} new people); "
            f"{counts['already enrolled']} already enrolled; {len(skipped)} skipped")  # fmt: skip
    if reasons:
        text += " (" + ", ".join(f"{n} {reason}" for reason, n in reasons.most_common()) + ")"
    return text


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m scripts.enroll", description=__doc__.splitlines()[0])
    parser.add_argument("source", type=Path, help="a folder of photos, or a CSV/XLSX class list")
    add_connection_arguments(parser)
    parser.add_argument("--workers", type=positive_int, default=4, help="photos sent at once (default 4)")
    parser.add_argument("--skipped", type=Path, default=Path("enroll_skipped.csv"),
                        help="CSV of what was not enrolled and why (default enroll_skipped.csv)")  # fmt: skip
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        items, skipped = read_roster(args.source)
        with make_client(args, args.workers) as client:
            check_server(client)
            outcomes = run(items, client, args.workers, progress=not args.quiet)
    except CliError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.code
    skipped = skipped + [Skip(o.item.where, o.item.name, o.item.source, o.reason)
                         for o in outcomes if o.status == "skipped"]  # fmt: skip
    write_skipped(args.skipped, skipped)
    print(summary(outcomes, skipped) + f"; skipped photos listed in {args.skipped}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
