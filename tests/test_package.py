"""The package's surface: its public names, a cheap import, and a wheel that claims one import root only."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

import coc_intake

ROOT = Path(__file__).resolve().parent.parent
UV = ROOT / ".tools" / "bin" / "uv"


def test_every_public_name_resolves_to_the_object_its_module_defines() -> None:
    import importlib

    for name in coc_intake.__all__:
        module = importlib.import_module(f"coc_intake.{coc_intake._WHERE[name]}")
        assert getattr(coc_intake, name) is getattr(module, name), name


def test_importing_the_package_loads_neither_pandas_nor_prefect() -> None:
    code = "import sys, coc_intake; print(sorted(m for m in ('pandas', 'prefect') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


@pytest.mark.slow
@pytest.mark.skipif(not UV.exists(), reason="uv is installed into .tools by `python3 dev.py`")
def test_the_wheel_holds_coc_intake_only_with_its_data_and_flows_inside(tmp_path: Path) -> None:
    subprocess.run([str(UV), "build", "--wheel", "--quiet", "-o", str(tmp_path), str(ROOT)], check=True)
    [wheel] = tmp_path.glob("*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    roots = {n.split("/", 1)[0] for n in names if not n.split("/", 1)[0].endswith(".dist-info")}
    assert roots == {"coc_intake"}
    for member in ("coc_intake/schemas/dictionary.toml", "coc_intake/schemas/request.schema.json",
                   "coc_intake/agreements/de.toml", "coc_intake/flows/intake.py"):
        assert member in names, member
