"""``make vendor NAME=<name>``: the scaffold writes a vendor whose first golden case fails
until the mapping is written, and passes once it is."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.unit.test_vendor_golden import resolve_event
from tools import new_vendor

REPO_ROOT = Path(__file__).resolve().parents[2]


def load_module(path: Path, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_cases(module, golden: dict) -> list[str]:
    """Names of the golden cases the module fails."""
    failed = []
    for case in golden["cases"]:
        # The template's NotImplementedError comes back as a mapping_error plan.
        plan = module.VENDOR.plan(
            resolve_event(case),
            {**golden["settings"], **case.get("settings", {})},
            case.get("attributes"),
            now=golden["now"],
        )
        got = {"debug": plan.debug}
        if plan.attempt:
            got.update(outcome=plan.attempt.outcome.value, reason=plan.attempt.reason)
        if plan.request:
            got["request"] = plan.request.as_dict()
        if got != case["expected"]:
            failed.append(case["name"])
    return failed


def test_scaffold_creates_a_vendor_whose_first_golden_case_fails_until_mapped(tmp_path):
    result = subprocess.run(
        [sys.executable, str(REPO_ROOT / "tools" / "new_vendor.py"), "acme_ads", "--root", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "config/vendors.yaml" in result.stdout and "acme_ads:" in result.stdout
    main_py = tmp_path / "functions" / "vendors" / "acme_ads" / "main.py"
    golden = json.loads((tmp_path / "tests" / "golden" / "vendors" / "acme_ads" / "requests.json").read_text())
    assert json.loads(
        (
            main_py.parent.parent.parent.parent / "tests" / "golden" / "vendors" / "acme_ads" / "responses.json"
        ).read_text()
    )["cases"]
    module = load_module(main_py, "scaffolded_acme_ads")
    assert module.VENDOR.name == "acme_ads" and callable(module.deliver)
    assert run_cases(module, golden) == ["page_view"]

    # Writing the mapping the golden file describes makes every case pass.
    expected = golden["cases"][0]["expected"]["request"]
    source = main_py.read_text().replace(
        '    raise NotImplementedError("write the acme_ads mapping in functions/vendors/acme_ads/main.py")',
        "    return VendorRequest('POST', API_URL, {'Authorization': f\"Bearer {settings['API_KEY']}\", "
        f"'Content-Type': 'application/json'}}, {expected['json']!r})",
    )
    main_py.write_text(source)
    assert run_cases(load_module(main_py, "scaffolded_acme_ads_2"), golden) == []


@pytest.mark.parametrize("name", ["Acme", "1acme", "a", "shared", "acme-ads"])
def test_bad_names_are_refused(tmp_path, name):
    with pytest.raises(ValueError):
        new_vendor.scaffold(name, tmp_path)


def test_an_existing_vendor_is_never_overwritten(tmp_path):
    new_vendor.scaffold("acme", tmp_path)
    with pytest.raises(FileExistsError):
        new_vendor.scaffold("acme", tmp_path)
    assert new_vendor.main(["acme", "--root", str(tmp_path)]) == 1
