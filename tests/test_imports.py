"""Every module of the package can be the first one a fresh interpreter imports.

The app imports them in one order; a script, a shell or a tool may start from any of
them ("from initiatives import kiosks"), and a cycle between modules then fails where
the app never does.
"""

from __future__ import annotations

import json
import pkgutil
import subprocess
import sys
from pathlib import Path

import initiatives
import initiatives.admin

ROOT = Path(initiatives.__file__).resolve().parent.parent


def _modules() -> list[str]:
    found = []
    for package in (initiatives, initiatives.admin):
        prefix = f"{package.__name__}."
        found += [prefix + m.name for m in pkgutil.iter_modules(package.__path__)]
    return found


def test_the_scan_finds_the_modules_of_both_packages():
    modules = _modules()
    assert {"initiatives.kiosks", "initiatives.models", "initiatives.admin.review"} <= set(modules)


# Run in one fresh interpreter: before each module, every module of the package is
# forgotten, so that each is imported first; the libraries stay loaded (an interpreter
# per module took a second or two each).
FIRST_IMPORTS = """
import importlib, json, sys
failed = {}
for name in sys.argv[1:]:
    package = name.split(".")[0]
    for loaded in [m for m in sys.modules if m.split(".")[0] == package]:
        del sys.modules[loaded]
    try:
        importlib.import_module(name)
    except Exception as exc:
        failed[name] = f"{type(exc).__name__}: {exc}"
print(json.dumps(failed))
"""


def _first_import_failures(names: list[str], where: Path = ROOT) -> dict[str, str]:
    """The error of each module that fails when it is the first of its package imported."""
    result = subprocess.run(
        [sys.executable, "-c", FIRST_IMPORTS, *names],
        cwd=where,
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    return json.loads(result.stdout.splitlines()[-1])  # after anything a module printed


def test_a_module_that_fails_only_when_imported_first_is_found(tmp_path):
    """The check itself: ``b`` imported first is fine, and imports ``a``; ``a`` imported
    first meets ``b`` half-imported (as kiosks met kiosk_signatures through models)."""
    package = tmp_path / "cyclic"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("from .b import B\n\nA = 1\n")
    (package / "b.py").write_text("B = 1\n\nfrom .a import A  # noqa\n")
    failed = _first_import_failures(["cyclic.b", "cyclic.a"], where=tmp_path)
    assert list(failed) == ["cyclic.a"]
    assert "cannot import name 'A'" in failed["cyclic.a"]


def test_each_module_of_the_package_can_be_imported_first():
    assert _first_import_failures(_modules()) == {}
