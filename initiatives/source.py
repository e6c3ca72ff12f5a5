"""The site's own source code, offered to everyone who uses it (AGPL-3.0, section 13).

A site running a changed copy must offer its users that copy's source.  With
``SOURCE_URL`` set, the footer links there (the repository of the version the site
runs).  Without it the site serves an archive of the code it is running itself, so a
deployment that never set the URL still offers the right source, changes included.

The archive holds only what the application is made of (the allow-list below): never
``instance/`` (keys, the database, development mail), never files outside the checkout.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import tarfile
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ARCHIVE_NAME = "initiatives-source"
# What makes the application and builds, installs and runs it.
INCLUDED_DIRECTORIES = ("initiatives", "templates", "static", "migrations", "bench", "tests")
INCLUDED_FILES = ("wsgi.py", "pyproject.toml", "Makefile", "README.md", "LICENSE", ".ci/run")
# Built from the files beside them (compiled catalogs, bytecode), or not ours to ship.
SKIPPED_SUFFIXES = (".pyc", ".pyo", ".mo")
SKIPPED_DIRECTORIES = ("__pycache__", "node_modules")
# What a test or benchmark run writes into the checkout (git ignores it): screenshots,
# PDFs and results made from test data, neither source nor the operator's to publish.
SKIPPED_OUTPUTS = (Path("tests/artifacts"), Path("bench/out"))


def source_files(root: Path = ROOT) -> list[Path]:
    """The archive's files, relative to ``root``, sorted.  Symbolic links and hidden
    files are left out: a link could point anywhere on the server."""
    found: list[Path] = []
    for name in INCLUDED_FILES:
        path = root / name
        if path.is_file() and not path.is_symlink():
            found.append(Path(name))
    for directory in INCLUDED_DIRECTORIES:
        top = root / directory
        if not top.is_dir() or top.is_symlink():
            continue
        for path in top.rglob("*"):
            relative = path.relative_to(root)
            if any(part.startswith(".") or part in SKIPPED_DIRECTORIES for part in relative.parts):
                continue
            if any(relative.is_relative_to(output) for output in SKIPPED_OUTPUTS):
                continue
            if path.is_symlink() or not path.is_file() or path.suffix in SKIPPED_SUFFIXES:
                continue
            found.append(relative)
    return sorted(found)


def build_archive(root: Path = ROOT) -> bytes:
    """A ``.tar.gz`` of :func:`source_files` under ``initiatives-source/``; the same
    files give the same bytes (sorted, no owner names, gzip without a time stamp)."""
    buffer = io.BytesIO()
    with (
        gzip.GzipFile(fileobj=buffer, mode="wb", mtime=0) as zipped,
        tarfile.open(fileobj=zipped, mode="w", format=tarfile.PAX_FORMAT) as tar,
    ):
        for relative in source_files(root):
            path = root / relative
            info = tarfile.TarInfo(f"{ARCHIVE_NAME}/{relative.as_posix()}")
            stat = path.stat()
            info.size = stat.st_size
            info.mtime = int(stat.st_mtime)
            info.mode = 0o755 if stat.st_mode & 0o111 else 0o644
            with path.open("rb") as handle:
                tar.addfile(info, handle)
    return buffer.getvalue()


@cache
def archive() -> tuple[bytes, str]:
    """The running code's archive and its ETag, made once per process (on first use:
    most processes are never asked)."""
    data = build_archive()
    return data, hashlib.sha256(data).hexdigest()[:32]
