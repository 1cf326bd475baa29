"""``make audit``: pip-audit over the hashed lock files, in `make test`.

A known vulnerability in a locked version fails the run. A lock entry the vulnerability
service could not look up (offline, or a version the service does not know) is reported
with a count and does not fail it: CI must not depend on a third-party API being reachable,
but nobody should read "no known vulnerabilities" where nothing was checked.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
LOCKS = ("requirements.txt", "requirements-dev.txt")


def audit(lock: Path) -> tuple[list[str], list[str], str]:
    """Run pip-audit on one lock: (vulnerabilities, names not audited, error text)."""
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "audit.json"
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "pip_audit",
                "--requirement",
                str(lock),
                "--require-hashes",
                "--disable-pip",
                "--progress-spinner",
                "off",
                "--format",
                "json",
                "--output",
                str(report),
            ],
            capture_output=True,
            text=True,
            timeout=300,
        )
        if not report.exists():
            return [], [], (proc.stderr or proc.stdout).strip()[-500:]
        data = json.loads(report.read_text() or "{}")
    vulnerable, skipped = [], []
    for dep in data.get("dependencies", []):
        for vuln in dep.get("vulns", []):
            fixes = ", ".join(vuln.get("fix_versions", [])) or "no fix yet"
            vulnerable.append(f"{dep['name']} {dep.get('version', '')}: {vuln.get('id')} (fixed in {fixes})")
        if dep.get("skip_reason"):
            skipped.append(dep["name"])
    return vulnerable, skipped, ""


def main() -> int:
    failed = False
    for name in LOCKS:
        vulnerable, skipped, error = audit(REPO_ROOT / name)
        if error:
            print(f"pip-audit {name}: could not run ({error}); not fatal, audit again when online")
            continue
        for line in vulnerable:
            print(f"pip-audit {name}: VULNERABLE {line}")
        failed = failed or bool(vulnerable)
        note = f"; {len(skipped)} not audited (service unreachable or version unknown to it)" if skipped else ""
        print(f"pip-audit {name}: {len(vulnerable)} known vulnerabilities{note}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
