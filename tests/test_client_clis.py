"""The client CLIs against a real ``uvicorn`` over HTTP with API keys on and real LFW photos:
``scripts.enroll`` from a folder, an XLSX written by openpyxl (with an http URL) and a header-less
CSV, idempotent on a rerun, with what it could not enroll in its skipped CSV; then
``scripts.attendance`` on a group photo pasted together from LFW photos."""

from __future__ import annotations

import csv
import functools
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from openpyxl import Workbook
from PIL import Image

from scripts import attendance, enroll
from tests.api_server import ROOT, make_keys, running_api
from tests.conftest import lfw_image

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def api(tmp_path_factory, data_dir) -> Iterator[dict]:
    folder = tmp_path_factory.mktemp("client_clis")
    keys = make_keys(f"sqlite:///{folder / 'face_api.db'}")
    with running_api(folder, API_KEYS_ENABLED="true") as base:
        yield {"base": base, **keys}


@pytest.fixture(scope="module")
def web(tmp_path_factory) -> Iterator[tuple[str, Path]]:
    """A plain HTTP server for the spreadsheet's photo URLs."""
    folder = tmp_path_factory.mktemp("web")
    handler = functools.partial(SimpleHTTPRequestHandler, directory=str(folder))
    handler.log_message = lambda *args: None  # type: ignore[method-assign]
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", folder
    finally:
        server.shutdown()


def people(api: dict) -> dict[str, int]:
    response = httpx.get(f"{api['base']}/search", params={"page_size": 100}, headers={"X-API-Key": api["read"]})
    return {r["name"]: r["faces"] for r in response.json()["results"]}


def skipped_rows(path: Path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def connection(api: dict, key: str = "admin") -> list[str]:
    return ["--url", api["base"], "--api-key", api[key], "--quiet"]


def test_enroll_a_folder_then_rerun_adds_nothing(api, tmp_path, capsys):
    photos = tmp_path / "photos"
    for name, indexes in {"George_W_Bush": (1, 2), "Colin_Powell": (1,)}.items():
        (photos / name).mkdir(parents=True)
        for index in indexes:
            shutil.copy(lfw_image(name, index), photos / name)
    shutil.copy(lfw_image("Tony_Blair", 20), photos)  # the file name carries the name
    (photos / "notes.jpg").write_text("not a photo at all")
    (photos / "README.txt").write_text("class of 2026")
    with Image.open(lfw_image("Colin_Powell", 2)) as image:  # a real photo's corner: no face in it
        image.crop((0, 0, 40, 40)).resize((160, 160)).save(photos / "wall_0001.jpg")
    pair = Image.new("RGB", (500, 250))
    for i, (name, index) in enumerate([("Colin_Powell", 4), ("Tony_Blair", 5)]):
        with Image.open(lfw_image(name, index)) as image:
            pair.paste(image.convert("RGB"), (250 * i, 0))
    pair.save(photos / "Colin_Powell_0004.jpg")  # named for one person, but two faces in it
    report = tmp_path / "skipped.csv"

    assert enroll.main([str(photos), *connection(api), "--workers", "3", "--skipped", str(report)]) == 0
    out = capsys.readouterr().out
    assert "enrolled 4 new photo(s) (3 new people); 0 already enrolled; 4 skipped" in out
    assert people(api) == {"George W Bush": 2, "Colin Powell": 1, "Tony Blair": 1}
    reasons = {row["where"]: row["reason"] for row in skipped_rows(report)}
    assert reasons["wall_0001.jpg"] == "no face detected"
    assert reasons["notes.jpg"].startswith("unreadable: ")
    assert reasons["README.txt"] == "not an image file (by its extension)"
    assert reasons["Colin_Powell_0004.jpg"].startswith("several faces (2)")

    rerun = subprocess.run([sys.executable, "-m", "scripts.enroll", str(photos), *connection(api), "--skipped",
                            str(report)], cwd=ROOT, capture_output=True, text=True, timeout=300)  # fmt: skip
    assert rerun.returncode == 0, rerun.stderr
    assert "enrolled 0 new photo(s) (0 new people); 4 already enrolled; 4 skipped" in rerun.stdout
    assert people(api) == {"George W Bush": 2, "Colin Powell": 1, "Tony Blair": 1}


def test_enroll_an_xlsx_class_list_with_a_url_and_a_headerless_csv(api, tmp_path, web, capsys):
    base_url, served = web
    shutil.copy(lfw_image("Serena_Williams", 2), served / "serena.jpg")
    (tmp_path / "pics").mkdir()
    shutil.copy(lfw_image("Serena_Williams", 1), tmp_path / "pics" / "s1.jpg")
    workbook = Workbook()
    sheet = workbook.active
    sheet.append(["Student ID", "First name", "Last name", "Photo"])
    sheet.append([101, "Serena", "Williams", "pics/s1.jpg"])  # relative to the spreadsheet
    sheet.append([102, "Serena", "Williams", f"{base_url}/serena.jpg"])
    sheet.append([103, "Hugo", "Chavez", f"{base_url}/missing.jpg"])
    sheet.append([104, "Nobody", "", ""])
    workbook.save(tmp_path / "class.xlsx")
    report = tmp_path / "skipped.csv"

    assert enroll.main([str(tmp_path / "class.xlsx"), *connection(api), "--skipped", str(report)]) == 0
    assert "enrolled 2 new photo(s) (1 new people); 0 already enrolled; 2 skipped" in capsys.readouterr().out
    reasons = {row["where"]: row["reason"] for row in skipped_rows(report)}
    assert reasons["class.xlsx row 4"].startswith("download failed: HTTP 404")
    assert reasons["class.xlsx row 5"] == "no photo in this row"
    assert people(api)["Serena Williams"] == 2

    listing = tmp_path / "list.csv"
    listing.write_text(f"Hugo Chavez,{lfw_image('Hugo_Chavez', 1)}\nHugo Chavez,{lfw_image('Hugo_Chavez', 2)}\n")
    assert enroll.main([str(listing), *connection(api), "--skipped", str(report)]) == 0
    assert "enrolled 2 new photo(s) (1 new people)" in capsys.readouterr().out
    assert people(api)["Hugo Chavez"] == 2


def test_enroll_says_what_is_wrong_in_one_line(api, tmp_path, capsys):
    assert enroll.main([str(tmp_path / "nothing-here"), *connection(api)]) == 2
    assert capsys.readouterr().err.strip() == f"error: no such folder or file: {tmp_path / 'nothing-here'}"
    (tmp_path / "one").mkdir()
    shutil.copy(lfw_image("Tony_Blair", 2), tmp_path / "one")
    assert enroll.main([str(tmp_path / "one"), *connection(api, "read"), "--skipped", str(tmp_path / "s.csv")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: the API refused the key: This API key is read")


def test_attendance_on_a_pasted_group_photo(api, tmp_path, capsys):
    group = Image.new("RGB", (750, 250))
    for i, (name, index) in enumerate([("George_W_Bush", 5), ("Colin_Powell", 3), ("Gerhard_Schroeder", 1)]):
        with Image.open(lfw_image(name, index)) as photo:
            group.paste(photo.convert("RGB"), (250 * i, 0))
    group.save(tmp_path / "group.jpg", quality=95)
    shutil.copy(lfw_image("Tony_Blair", 3), tmp_path / "blair.jpg")
    out = tmp_path / "out"

    code = attendance.main([str(tmp_path / "group.jpg"), str(tmp_path / "blair.jpg"), "--out", str(out),
                            *connection(api, "read")])  # fmt: skip
    assert code == 0
    assert "present: 3 of 5 enrolled; 2 photo(s) analysed, 4 face(s) (1 unknown)" in capsys.readouterr().out
    with open(out / "attendance.csv", newline="", encoding="utf-8") as handle:
        rows = {row["person"]: row for row in csv.DictReader(handle)}
    assert {name: row["present"] for name, row in rows.items()} == {
        "Colin Powell": "yes", "George W Bush": "yes", "Hugo Chavez": "no", "Serena Williams": "no", "Tony Blair": "yes"
    }  # fmt: skip
    assert rows["George W Bush"]["photos"] == "group.jpg" and rows["Tony Blair"]["photos"] == "blair.jpg"
    assert 0.0 < float(rows["Colin Powell"]["best_similarity"]) <= 1.0 and rows["Hugo Chavez"]["best_similarity"] == ""
    with Image.open(out / "group_annotated.jpg") as annotated:
        assert annotated.size == (750, 250)
        pixels = annotated.convert("RGB").getdata()
        green = sum(1 for r, g, b in pixels if g > 170 and r < 110 and b < 130)
        orange = sum(1 for r, g, b in pixels if r > 220 and 80 < g < 150 and b < 70)
        assert green > 500 and orange > 200, "two green boxes (known) and an orange one (unknown), as /analyze draws"
    assert (out / "blair_annotated.jpg").is_file()

    assert attendance.main([str(tmp_path / "absent.jpg"), *connection(api, "read")]) == 2
    assert capsys.readouterr().err.startswith("error: no such photo or folder")
