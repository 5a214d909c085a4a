"""``python -m scripts.download_utkface [--limit N] [--dest DIR] [--archive FILE]``: fetch UTKFace.

Without ``--archive`` the dataset archive is downloaded from Kaggle with the ``kaggle`` package
(imported only then: serving never needs it); credentials come from ``KAGGLE_USERNAME`` /
``KAGGLE_KEY`` (or ``KAGGLE_API_TOKEN``) or ``~/.kaggle/kaggle.json``. With ``--archive`` a local
zip or tar(.gz) is unpacked instead. Either way the images land flat in ``--dest`` (member paths
are never trusted: only the base name is used), ``--limit`` keeps the first N image names in sorted
order, and the summary counts the names that ``scripts.prepare_utk_face`` will skip as malformed."""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import shutil
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

DEFAULT_DATASET = "jangedoo/utkface-new"
ROOT = Path(__file__).resolve().parents[1]
CREDENTIALS_HELP = ("Kaggle credentials not found: set KAGGLE_USERNAME and KAGGLE_KEY (or KAGGLE_API_TOKEN), "
                    "or put kaggle.json in ~/.kaggle/ (https://www.kaggle.com/settings/api)")


class DownloadError(Exception):
    """A failure worth one line to the user."""


def kaggle_config_dir() -> Path:
    return Path(os.environ.get("KAGGLE_CONFIG_DIR") or Path.home() / ".kaggle")


def has_kaggle_credentials() -> bool:
    if os.environ.get("KAGGLE_USERNAME") and os.environ.get("KAGGLE_KEY"):
        return True
    if os.environ.get("KAGGLE_API_TOKEN"):
        return True
    folder = kaggle_config_dir()
    return (folder / "kaggle.json").is_file() or (folder / "access_token").is_file()


def download_archive(dataset: str, folder: Path) -> Path:
    """Download ``dataset`` from Kaggle into ``folder`` (zipped); returns the archive path."""
    if not has_kaggle_credentials():
        raise DownloadError(CREDENTIALS_HELP)
    noise = io.StringIO()
    try:
        # The package authenticates (and prints a page of help) on import; keep that out of our output.
        with contextlib.redirect_stdout(noise), contextlib.redirect_stderr(noise):
            from kaggle.api.kaggle_api_extended import KaggleApi

            api = KaggleApi()
            api.authenticate()
    except ImportError as exc:
        raise DownloadError(f"the kaggle package is not installed ({exc}): "
                            "pip install -r requirements.trainer.txt") from None
    except (Exception, SystemExit) as exc:  # noqa: BLE001 - the package exits on bad credentials
        raise DownloadError(f"Kaggle authentication failed ({type(exc).__name__}); {CREDENTIALS_HELP}") from None
    try:
        with contextlib.redirect_stdout(noise):
            api.dataset_download_files(dataset, path=str(folder), unzip=False, quiet=True)
    except (Exception, SystemExit) as exc:  # noqa: BLE001 - network, permissions, unknown dataset
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DownloadError(f"could not download {dataset} from Kaggle: {first}") from None
    archives = sorted(folder.glob("*.zip"))
    if not archives:
        raise DownloadError(f"Kaggle returned no archive for {dataset}")
    return archives[0]


def _wanted(name: str) -> bool:
    from training.age_gender.utk import is_image_name

    return is_image_name(name) and not Path(name).name.startswith(".")


def _extract(names_to_open: dict, dest: Path, open_member) -> None:
    for name, member in names_to_open.items():
        with open_member(member) as source, (dest / name).open("wb") as target:
            shutil.copyfileobj(source, target)


def _select(members: list[tuple[str, object]], limit: int | None) -> tuple[dict, int]:
    unique: dict = {}
    for name, member in sorted(members, key=lambda item: item[0]):
        unique.setdefault(name, member)  # the Kaggle archive holds some photos twice, in two folders
    names = sorted(unique)[:limit] if limit is not None else sorted(unique)
    return {name: unique[name] for name in names}, len(unique)


def unpack(archive: Path, dest: Path, limit: int | None = None) -> dict:
    """Extract the archive's images flat into ``dest`` (first ``limit`` names in sorted order)."""
    from training.age_gender.utk import parse_name

    archive = Path(archive)
    if not archive.is_file():
        raise DownloadError(f"archive {archive} not found")
    dest.mkdir(parents=True, exist_ok=True)
    try:
        if zipfile.is_zipfile(archive):
            with zipfile.ZipFile(archive) as handle:
                members = [(Path(i.filename).name, i) for i in handle.infolist()
                           if not i.is_dir() and _wanted(i.filename)]
                chosen, total = _select(members, limit)
                _extract(chosen, dest, handle.open)
        elif tarfile.is_tarfile(archive):
            with tarfile.open(archive) as handle:
                members = [(Path(m.name).name, m) for m in handle.getmembers() if m.isfile() and _wanted(m.name)]
                chosen, total = _select(members, limit)
                _extract(chosen, dest, handle.extractfile)
        else:
            raise DownloadError(f"{archive} is neither a zip nor a tar archive")
    except (zipfile.BadZipFile, tarfile.TarError, OSError, EOFError) as exc:
        raise DownloadError(f"cannot read {archive}: {exc}") from None
    names = sorted(chosen)
    malformed = [name for name in names if parse_name(name) is None]
    return {"archive": str(archive), "dest": str(dest), "images": len(names), "images_in_archive": total,
            "malformed_names": len(malformed), "malformed_examples": malformed[:5]}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m scripts.download_utkface", description=__doc__.split("\n")[0])
    parser.add_argument("--dest", type=Path, default=ROOT / "data" / "utkface" / "UTKFace",
                        help="folder the images go to (default data/utkface/UTKFace)")
    parser.add_argument("--limit", type=int, default=None, help="keep only the first N images (sorted by name)")
    parser.add_argument("--archive", type=Path, default=None,
                        help="unpack this local zip/tar.gz instead of downloading")
    parser.add_argument("--dataset", default=DEFAULT_DATASET, help=f"Kaggle dataset (default {DEFAULT_DATASET})")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.limit is not None and args.limit < 1:
        print("error: --limit must be at least 1", file=sys.stderr)
        return 2
    try:
        if args.archive is not None:
            summary = unpack(args.archive, args.dest, args.limit)
        else:
            with tempfile.TemporaryDirectory(prefix="utkface-") as tmp:
                summary = unpack(download_archive(args.dataset, Path(tmp)), args.dest, args.limit)
    except DownloadError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
