"""The site offers the source of the code it runs (AGPL-3.0 §13)."""

from __future__ import annotations

import io
import re
import tarfile
from pathlib import Path

import pytest

from initiatives import source

from .test_config import production


def _members(data: bytes) -> dict[str, bytes]:
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        return {
            m.name: tar.extractfile(m).read()  # type: ignore[union-attr]
            for m in tar.getmembers()
            if m.isfile()
        }


def test_every_public_page_links_the_source_and_it_is_the_running_code(client, make_initiative):
    initiative = make_initiative()
    for path in ("/", f"/i/{initiative.slug}", "/privacy", "/finns-inte"):
        page = client.get(path).get_data(as_text=True)
        assert re.search(r'<a href="/source">Källkod</a>', page), path

    response = client.get("/source")
    assert response.status_code == 200
    assert response.mimetype == "application/gzip"
    assert "initiatives-source.tar.gz" in response.headers["Content-Disposition"]
    files = _members(response.data)
    # The archive is this checkout's code: the very file that serves it is in it.
    served = files["initiatives-source/initiatives/source.py"]
    assert served == Path(source.__file__).read_bytes()
    for needed in ("LICENSE", "pyproject.toml", "wsgi.py", "migrations/env.py"):
        assert f"initiatives-source/{needed}" in files
    assert any(name.startswith("initiatives-source/templates/") for name in files)
    assert any(name.endswith("/messages.po") for name in files)

    # A browser that has it asks again and gets 304.
    again = client.get("/source", headers={"If-None-Match": response.headers["ETag"]})
    assert again.status_code == 304


def test_the_archive_holds_the_application_and_nothing_private(tmp_path):
    """Keys, the database and development mail live in instance/; bytecode, compiled
    catalogs, hidden files and links are left out (a link could point anywhere)."""
    root = tmp_path / "checkout"
    (root / "initiatives" / "__pycache__").mkdir(parents=True)
    (root / "initiatives" / "__init__.py").write_text("# app\n")
    (root / "initiatives" / "__pycache__" / "x.cpython-311.pyc").write_bytes(b"\0")
    (root / "initiatives" / "messages.mo").write_bytes(b"\0")
    (root / "initiatives" / ".env").write_text("SECRET_KEY=x\n")
    (root / "instance").mkdir()
    (root / "instance" / "dev-keys.json").write_text("{}")
    (root / "secret.txt").write_text("not part of the app")
    (root / "templates").mkdir()
    (root / "templates" / "leak.html").symlink_to(root / "secret.txt")
    (root / "templates" / "base.html").write_text("<html>")
    (root / "LICENSE").write_text("AGPL")

    files = _members(source.build_archive(root))

    assert sorted(files) == [
        "initiatives-source/LICENSE",
        "initiatives-source/initiatives/__init__.py",
        "initiatives-source/templates/base.html",
    ]
    # The same files give the same archive (an ETag that only changes with the code).
    assert source.build_archive(root) == source.build_archive(root)


def test_the_outputs_of_tests_and_benchmarks_are_not_source(tmp_path):
    """Screenshots, PDFs and result files that a test or benchmark run left in the
    checkout (git ignores them) are neither source nor the operator's to publish."""
    root = tmp_path / "checkout"
    for name in ("tests/test_x.py", "tests/artifacts/pack-list.pdf", "bench/run.py",
                 "bench/out/run.json", "bench/RESULTS.md"):  # fmt: skip
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text("x")

    assert sorted(_members(source.build_archive(root))) == [
        "initiatives-source/bench/RESULTS.md",
        "initiatives-source/bench/run.py",
        "initiatives-source/tests/test_x.py",
    ]


def test_an_operator_can_point_to_their_repository_instead(make_app, make_initiative):
    app = make_app(SOURCE_URL="https://git.example.org/rosengard/initiatives")
    client = app.test_client()
    page = client.get("/").get_data(as_text=True)
    assert '<a href="https://git.example.org/rosengard/initiatives">Källkod</a>' in page
    response = client.get("/source")
    assert response.status_code == 302
    assert response.headers["Location"] == "https://git.example.org/rosengard/initiatives"


def test_the_link_is_in_the_visitors_language(client):
    page = client.get("/?lang=ar").get_data(as_text=True)
    assert re.search(r'<a href="/source">[^<]*[\u0600-\u06ff][^<]*</a>', page)


@pytest.mark.parametrize("bad", ["git.example.org/initiatives", "javascript:alert(1)", "ftp://x"])
def test_a_source_url_that_is_not_a_web_address_stops_the_start(tmp_path, bad):
    from initiatives.config import ConfigError

    with pytest.raises(ConfigError, match="SOURCE_URL"):
        production(tmp_path, SOURCE_URL=bad)
