"""Who of the enrolled people is in a set of group photos: ``python -m scripts.attendance PHOTOS... [--out DIR]``.

    python -m scripts.attendance class-photo-1.jpg class-photo-2.jpg --out monday/
    python -m scripts.attendance photos/monday/ --url https://faces.example.org --api-key fah_...

Every enrolled person is listed (``GET /search``, all pages) and every photo analysed
(``POST /analyze``, a read key: --api-key or FACE_API_KEY). DIR/attendance.csv has one row per
enrolled person: person, present (yes/no), the photos they were recognised in, and their best
similarity; DIR holds an annotated copy of each photo too (green: recognised, red: unknown).
A folder given as PHOTOS stands for the photos in it.

Exit status: 0 when every photo was analysed, 1 when some could not be (listed on stderr) or the
server failed, 2 on bad input (no such photo, a refused key)."""

from __future__ import annotations

import argparse
import csv
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from PIL import Image, ImageOps
from tqdm import tqdm

from api.services.annotate import draw_faces
from scripts._client import (
    CliError,
    add_connection_arguments,
    check_server,
    error_of,
    is_image_file,
    make_client,
    positive_int,
    refuse_bad_key,
    request,
    visible_files,
)

CSV_NAME = "attendance.csv"
CSV_COLUMNS = ("person", "present", "photos", "best_similarity")


@dataclass
class Attendee:
    person_id: int
    name: str
    photos: list[str] = field(default_factory=list)
    best_similarity: float | None = None

    def seen(self, photo: str, similarity: float | None) -> None:
        if photo not in self.photos:
            self.photos.append(photo)
        if similarity is not None and (self.best_similarity is None or similarity > self.best_similarity):
            self.best_similarity = similarity


@dataclass(frozen=True)
class PhotoResult:
    path: Path
    faces: list[dict]
    error: str | None = None


def photo_paths(arguments: list[Path]) -> list[Path]:
    """The photos named, folders expanded to the images in them; a missing path is bad input."""
    found: list[Path] = []
    for path in arguments:
        if path.is_dir():
            found += [p for p in visible_files(path) if is_image_file(p)]
        elif path.is_file():
            found.append(path)
        else:
            raise CliError(f"no such photo or folder: {path}")
    if not found:
        raise CliError("no photos given (the folders hold no images)")
    return list(dict.fromkeys(found))


def enrolled_people(client: httpx.Client) -> dict[int, Attendee]:
    """Everyone enrolled, from ``GET /search`` with an empty name, page by page."""
    people: dict[int, Attendee] = {}
    page = 1
    while True:
        response = request(client, "GET", "/search", params={"name": "", "page": page, "page_size": 100})
        refuse_bad_key(response)
        if response.status_code != 200:
            raise CliError(f"listing the enrolled people failed: {error_of(response)}", code=1)
        body = response.json()
        for person in body["results"]:
            people[int(person["id"])] = Attendee(int(person["id"]), person["name"])
        if page >= body["pages"]:
            return people
        page += 1


def analyse(client: httpx.Client, path: Path) -> PhotoResult:
    try:
        data = path.read_bytes()
    except OSError as exc:
        return PhotoResult(path, [], f"unreadable: {exc.strerror or exc}")
    response = request(client, "POST", "/analyze", params={"top_k": 1}, files={"file": (path.name, data)})
    refuse_bad_key(response)
    if response.status_code != 200:
        return PhotoResult(path, [], error_of(response))
    return PhotoResult(path, response.json()["faces"])


def write_annotated(source: Path, faces: list[dict], target: Path) -> Path:
    """``source`` (turned upright from its EXIF orientation, as the API does before detecting) with
    every face of its /analyze answer drawn by the same code as ``POST /analyze?format=jpeg``."""
    with Image.open(source) as opened:
        image = ImageOps.exif_transpose(opened).convert("RGB")
    target.parent.mkdir(parents=True, exist_ok=True)
    draw_faces(image, faces).save(target, quality=90)
    return target


def annotated_name(path: Path, taken: set[str]) -> str:
    stem, candidate, n = path.stem, f"{path.stem}_annotated.jpg", 1
    while candidate in taken:
        n += 1
        candidate = f"{stem}_{n}_annotated.jpg"
    taken.add(candidate)
    return candidate


def tally(people: dict[int, Attendee], results: list[PhotoResult]) -> None:
    for result in results:
        for face in result.faces:
            person_id = face.get("person_id")
            if face["identity"] == "unknown" or not isinstance(person_id, int):
                continue
            attendee = people.setdefault(person_id, Attendee(person_id, face["identity"]))
            attendee.seen(result.path.name, face.get("similarity"))


def write_csv(path: Path, people: dict[int, Attendee]) -> None:
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(CSV_COLUMNS)
        for person in sorted(people.values(), key=lambda p: (p.name.casefold(), p.person_id)):
            best = "" if person.best_similarity is None else f"{person.best_similarity:.4f}"
            writer.writerow((person.name, "yes" if person.photos else "no", "; ".join(person.photos), best))


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m scripts.attendance", description=__doc__.splitlines()[0])
    parser.add_argument("photos", nargs="+", type=Path, help="group photos, or folders of them")
    parser.add_argument("--out", type=Path, default=Path("attendance"), help="output folder (default ./attendance)")
    add_connection_arguments(parser)
    parser.add_argument("--workers", type=positive_int, default=2, help="photos analysed at once (default 2)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        paths = photo_paths(args.photos)
        with make_client(args, args.workers) as client:
            check_server(client)
            people = enrolled_people(client)
            with ThreadPoolExecutor(max_workers=args.workers) as pool:
                results = list(tqdm(pool.map(lambda p: analyse(client, p), paths), total=len(paths),
                                    desc="analysing", unit="photo", disable=args.quiet))  # fmt: skip
    except CliError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.code
    tally(people, results)
    args.out.mkdir(parents=True, exist_ok=True)
    write_csv(args.out / CSV_NAME, people)
    taken: set[str] = set()
    failed = [r for r in results if r.error is not None]
    for result in results:
        if result.error is None:
            try:
                write_annotated(result.path, result.faces, args.out / annotated_name(result.path, taken))
            except OSError as exc:
                print(f"warning: {result.path}: no annotated copy ({exc})", file=sys.stderr)
    for result in failed:
        print(f"warning: {result.path}: not analysed: {result.error}", file=sys.stderr)
    present = sum(1 for p in people.values() if p.photos)
    faces = sum(len(r.faces) for r in results)
    unknown = sum(1 for r in results for f in r.faces if f["identity"] == "unknown")
    print(f"present: {present} of {len(people)} enrolled; {len(results) - len(failed)} photo(s) analysed, "
          f"{faces} face(s) ({unknown} unknown); {args.out / CSV_NAME} and annotated copies in {args.out}")  # fmt: skip
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
