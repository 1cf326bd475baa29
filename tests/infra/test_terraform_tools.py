"""`terraform fmt` and checkov over infra/, offline.

checkov lives in its own virtual environment (.venv-checkov, created by `make test` through
mk/infra.mk) because it pins old versions of packages the project also uses.
"""

from __future__ import annotations

import json
import os
import subprocess

import pytest

from tests.infra.hcl import INFRA, REPO_ROOT
from tests.infra.terraform import run

CHECKOV = REPO_ROOT / ".venv-checkov" / "bin" / "checkov"


def test_terraform_fmt_is_clean():
    result = run(["fmt", "-check", "-recursive", "-diff", "-no-color", str(INFRA)], REPO_ROOT)
    assert result.returncode == 0, f"terraform fmt would change:\n{result.stdout}{result.stderr}"


def checkov(*args: str) -> subprocess.CompletedProcess:
    if not CHECKOV.exists():
        pytest.fail("checkov is not installed: `make test` creates .venv-checkov (mk/infra.mk)")
    env = dict(os.environ, BC_SKIP_MAPPING="TRUE", CKV_SKIP_PACKAGE_UPDATE_CHECK="TRUE", LOG_LEVEL="ERROR")
    return subprocess.run(
        [str(CHECKOV), "--directory", str(INFRA), "--framework", "terraform", "--skip-download", "--quiet",
         "--output", "json", *args],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300,
    )


def test_checkov_has_no_failed_checks_and_every_skip_is_justified():
    result = checkov()
    reports = json.loads(result.stdout)
    reports = reports if isinstance(reports, list) else [reports]
    terraform = [r for r in reports if r.get("check_type") == "terraform"]
    assert terraform, f"checkov produced no terraform report: {result.stdout[:500]} {result.stderr[:500]}"
    summary = terraform[0]["summary"]
    results = terraform[0]["results"]
    failed = [f"{c['check_id']} {c['resource']} ({c['file_path']})" for c in results.get("failed_checks", [])]
    assert not failed, "checkov failed checks:\n" + "\n".join(failed)
    assert summary["parsing_errors"] == 0
    assert summary["passed"] > 0
    for skipped in results.get("skipped_checks", []):
        reason = (skipped.get("check_result") or {}).get("suppress_comment", "")
        assert len(reason) >= 30, f"{skipped['check_id']} on {skipped['resource']} is skipped without a reason"
    assert result.returncode == 0, result.stderr[-2000:]
