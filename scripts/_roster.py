"""Who to enroll with which photo, read from what people already have: a folder of photos (one
subfolder per person, or file names carrying the name, as LFW's ``Jane_Doe_0001.jpg``) or a class
list (CSV or XLSX: a name and a photo path or http(s) URL per row, with or without a header row).

Reading never touches the network; anything that cannot be enrolled is returned as a :class:`Skip`
with its reason, so the caller can report it instead of stopping."""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from pathlib import Path

from scripts._client import CliError, is_image_file, visible_files

SPREADSHEET_SUFFIXES = (".csv", ".xlsx", ".xlsm")

_NAME_HEADERS = {"name", "full name", "fullname", "person", "person name", "student", "student name", "display name",
                 "employee", "employee name", "member", "pupil"}  # fmt: skip
_FIRST_HEADERS = {"first name", "firstname", "first", "given name", "forename"}
_LAST_HEADERS = {"last name", "lastname", "last", "surname", "family name"}
_PHOTO_HEADERS = {"photo", "image", "picture", "path", "file", "filename", "file name", "url", "link", "photo url",
                  "image url", "photo path", "image path", "picture url", "photo file", "headshot"}  # fmt: skip


@dataclass(frozen=True)
class Item:
    """One photo to enroll: the person's name, a local path or an http(s) URL, and where it was listed."""

    name: str
    source: str
    where: str

    @property
    def is_url(self) -> bool:
        return self.source.lower().startswith(("http://", "https://"))


@dataclass(frozen=True)
class Skip:
    where: str
    name: str
    source: str
    reason: str


def name_from_file(path: Path) -> str:
    """``Jane_Doe_0001.jpg`` -> ``Jane Doe``: underscores are spaces and a trailing number goes."""
    stem = re.sub(r"[\s_-]*\(?\d+\)?$", "", path.stem)
    return " ".join(stem.replace("_", " ").split())


def name_from_folder(folder: str) -> str:
    return " ".join(folder.replace("_", " ").split())


def from_folder(root: Path) -> tuple[list[Item], list[Skip]]:
    """Photos in a subfolder belong to the person the subfolder is named after (at any depth below
    it); photos directly in ``root`` to the person their file name carries."""
    items, skipped = [], []
    for path in visible_files(root):
        relative = path.relative_to(root)
        if not is_image_file(path):
            skipped.append(Skip(str(relative), "", str(path), "not an image file (by its extension)"))
            continue
        name = name_from_folder(relative.parts[0]) if len(relative.parts) > 1 else name_from_file(path)
        if not name:
            skipped.append(Skip(str(relative), "", str(path), "no name in the file name"))
            continue
        items.append(Item(name, str(path), str(relative)))
    return items, skipped


def _clean(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return " ".join(str(value).split())


def _rows(path: Path) -> list[list[str]]:
    if path.suffix.lower() == ".csv":
        try:
            text = path.read_text(encoding="utf-8-sig")
        except UnicodeDecodeError:
            text = path.read_text(encoding="latin-1")
        try:
            dialect = csv.Sniffer().sniff(text[:4096], delimiters=",;\t")
        except csv.Error:
            dialect = csv.excel
        return [[_clean(cell) for cell in row] for row in csv.reader(text.splitlines(), dialect)]
    from openpyxl import load_workbook

    try:
        workbook = load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # noqa: BLE001 - openpyxl raises many kinds for a bad file
        raise CliError(f"cannot read {path} as a spreadsheet: {exc}") from None
    try:
        sheet = workbook.worksheets[0]
        return [[_clean(cell) for cell in row] for row in sheet.iter_rows(values_only=True)]
    finally:
        workbook.close()


def _looks_like_photo(value: str) -> bool:
    lowered = value.lower()
    return lowered.startswith(("http://", "https://")) or Path(lowered.split("?")[0]).suffix in {
        ".jpg", ".jpeg", ".png", ".bmp", ".webp", ".gif", ".tif", ".tiff"}  # fmt: skip


@dataclass(frozen=True)
class Columns:
    photo: int
    name: int | None = None
    first: int | None = None
    last: int | None = None


def header_columns(row: list[str]) -> Columns | None:
    """The columns a header row names, or None when the row is data (no photo and name headings)."""
    cells = [cell.casefold().strip(" :*") for cell in row]

    def find(headings: set[str]) -> int | None:
        return next((i for i, cell in enumerate(cells) if cell in headings), None)

    photo, name, first, last = find(_PHOTO_HEADERS), find(_NAME_HEADERS), find(_FIRST_HEADERS), find(_LAST_HEADERS)
    if photo is None or (name is None and first is None and last is None):
        return None
    return Columns(photo, name, first, last)


def guess_columns(rows: list[list[str]]) -> Columns:
    """No header: the photo column is the one most cells of which look like a path or URL, the name
    the other column with the most cells holding letters (not an id number; the leftmost on a tie)."""
    width = max(len(row) for row in rows)
    scores = [sum(1 for row in rows if i < len(row) and _looks_like_photo(row[i])) for i in range(width)]
    photo = max(range(width), key=lambda i: scores[i])
    if scores[photo] == 0:
        photo = min(1, width - 1)
    def letters(i: int) -> int:
        return sum(1 for row in rows if i < len(row) and any(c.isalpha() for c in row[i]))

    names = [i for i in range(width) if i != photo and letters(i)]
    if not names:
        raise CliError("the spreadsheet needs a name column and a photo column (a path or http(s) URL)")
    return Columns(photo, max(names, key=lambda i: (letters(i), -i)))


def from_spreadsheet(path: Path) -> tuple[list[Item], list[Skip]]:
    rows = [row for row in _rows(path) if any(row)]
    if not rows:
        raise CliError(f"{path} has no rows")
    columns = header_columns(rows[0])
    first_data = 1 if columns is not None else 0
    if columns is None:
        columns = guess_columns(rows)
    items, skipped = [], []
    for number, row in enumerate(rows[first_data:], start=first_data + 1):

        def cell(index: int | None, row: list[str] = row) -> str:
            return row[index] if index is not None and index < len(row) else ""

        name = cell(columns.name) or " ".join(p for p in (cell(columns.first), cell(columns.last)) if p)
        source = cell(columns.photo)
        where = f"{path.name} row {number}"
        if not name:
            skipped.append(Skip(where, "", source, "no name in this row"))
        elif not source:
            skipped.append(Skip(where, name, "", "no photo in this row"))
        else:
            if not source.lower().startswith(("http://", "https://")) and not Path(source).is_absolute():
                source = str(path.parent / source)  # relative to the spreadsheet, not to where we run
            items.append(Item(name, source, where))
    return items, skipped


def read_roster(source: Path) -> tuple[list[Item], list[Skip]]:
    """Items to enroll and rows skipped already, from a folder or a CSV/XLSX class list."""
    if source.is_dir():
        items, skipped = from_folder(source)
    elif source.is_file() and source.suffix.lower() in SPREADSHEET_SUFFIXES:
        items, skipped = from_spreadsheet(source)
    elif source.is_file():
        raise CliError(f"{source} is neither a folder nor a spreadsheet ({', '.join(SPREADSHEET_SUFFIXES)})")
    else:
        raise CliError(f"no such folder or file: {source}")
    if not items and not skipped:
        raise CliError(f"nothing to enroll in {source}")
    return items, skipped
