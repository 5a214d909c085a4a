"""Fast checks of the client CLIs' reading of what to enroll (no server): names from folders and
file names, class lists with and without a header, CSV dialects, and the one-line errors."""

from __future__ import annotations

from pathlib import Path

import pytest
from openpyxl import Workbook

from scripts._client import CliError
from scripts._roster import from_folder, from_spreadsheet, header_columns, name_from_file, read_roster


def test_names_from_file_names():
    assert name_from_file(Path("Jane_Doe_0001.jpg")) == "Jane Doe"
    assert name_from_file(Path("Jean-Pierre_Raffarin_0002.jpg")) == "Jean-Pierre Raffarin"
    assert name_from_file(Path("alice (2).png")) == "alice"
    assert name_from_file(Path("0001.jpg")) == ""


def test_folder_layouts(tmp_path):
    (tmp_path / "Jane_Doe" / "2024").mkdir(parents=True)
    (tmp_path / "Jane_Doe" / "2024" / "a.jpg").write_bytes(b"x")
    (tmp_path / "Bob_Ray_0003.JPG").write_bytes(b"x")
    (tmp_path / "0001.jpg").write_bytes(b"x")
    (tmp_path / ".DS_Store").write_bytes(b"x")
    (tmp_path / "list.txt").write_text("x")
    items, skipped = from_folder(tmp_path)
    found = sorted((i.name, i.where) for i in items)
    assert found == [("Bob Ray", "Bob_Ray_0003.JPG"), ("Jane Doe", "Jane_Doe/2024/a.jpg")]
    assert {s.where: s.reason for s in skipped} == {"0001.jpg": "no name in the file name",
                                                     "list.txt": "not an image file (by its extension)"}


def test_header_detection():
    assert header_columns(["Student ID", "First name", "Last name", "Photo URL"]).photo == 3
    assert header_columns(["Name", "Image"]).name == 0
    assert header_columns(["Alice", "alice.jpg"]) is None


def test_class_list_with_header_in_xlsx(tmp_path):
    book = Workbook()
    book.active.append(["Surname", "Given name", "Picture", "Notes"])
    book.active.append(["Doe", "Jane", "pics/jane.jpg", "front row"])
    book.active.append(["Ray", "Bob", "https://example.org/bob.jpg?size=large", ""])
    book.save(tmp_path / "c.xlsx")
    items, skipped = from_spreadsheet(tmp_path / "c.xlsx")
    assert [(i.name, i.source, i.is_url) for i in items] == [
        ("Jane Doe", str(tmp_path / "pics" / "jane.jpg"), False),
        ("Bob Ray", "https://example.org/bob.jpg?size=large", True),
    ]
    assert not skipped


def test_headerless_semicolon_csv_guesses_the_columns(tmp_path):
    listing = tmp_path / "l.csv"
    listing.write_text("12;/data/a.jpg;Alice Smith\n13;/data/b.png;Bob\n14;;Carol\n")
    items, skipped = from_spreadsheet(listing)
    assert [(i.name, i.source) for i in items] == [("Alice Smith", "/data/a.jpg"), ("Bob", "/data/b.png")]
    assert [(s.name, s.reason) for s in skipped] == [("Carol", "no photo in this row")]


def test_bad_sources_are_one_line_errors(tmp_path):
    with pytest.raises(CliError, match="no such folder or file"):
        read_roster(tmp_path / "missing")
    (tmp_path / "a.pdf").write_bytes(b"%PDF")
    with pytest.raises(CliError, match="neither a folder nor a spreadsheet"):
        read_roster(tmp_path / "a.pdf")
    (tmp_path / "broken.xlsx").write_bytes(b"not a zip")
    with pytest.raises(CliError, match="cannot read .* as a spreadsheet"):
        read_roster(tmp_path / "broken.xlsx")
    (tmp_path / "empty").mkdir()
    with pytest.raises(CliError, match="nothing to enroll"):
        read_roster(tmp_path / "empty")


def test_an_unreachable_server_is_one_line_and_exit_1(tmp_path, capsys):
    from scripts import attendance, enroll
    from tests.registry_helpers import closed_port_url

    (tmp_path / "Jane_Doe_0001.jpg").write_bytes(b"x")
    url = closed_port_url()
    assert enroll.main([str(tmp_path), "--url", url, "--quiet", "--skipped", str(tmp_path / "s.csv")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"error: cannot reach the face API at {url}")
    assert attendance.main([str(tmp_path / "Jane_Doe_0001.jpg"), "--url", url, "--quiet"]) == 1
    assert capsys.readouterr().err.startswith("error: cannot reach the face API")
    assert enroll.main([str(tmp_path), "--url", "ftp://x", "--quiet"]) == 2
    assert capsys.readouterr().err.strip() == "error: --url must start with http:// or https://, not 'ftp://x'"
