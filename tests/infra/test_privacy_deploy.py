"""`make deploy` refuses a wrong privacy rule before it touches the cloud (docs/privacy.md):
infra/deploy.sh against fake gcloud/terraform, in a copy of the repository whose
config/vendors.yaml has a rule removing a key Meta's mapping requires."""

from __future__ import annotations

import textwrap

from tests.infra.fake_tools import FakeCloud
from tests.infra.hcl import REPO_ROOT

GOOD = {"PROJECT": "my-project-123", "REGION": "europe-west1", "DOMAIN": "track.example.com"}


def _repository(cloud: FakeCloud, config: str) -> None:
    for name in ("devstack", "shared", "functions", ".venv"):
        (cloud.root / name).symlink_to(REPO_ROOT / name)
    (cloud.root / "config").mkdir()
    (cloud.root / "config" / "vendors.yaml").write_text(textwrap.dedent(config))


def test_deploy_stops_on_a_rule_that_removes_a_required_key(tmp_path):
    cloud = FakeCloud(tmp_path)
    _repository(
        cloud,
        """
        transformations:
          - {name: ads-no-ua, type: exclude, scope: [ad], keys: [user_agent]}
        vendors:
          meta: {enabled: true}
    """,
    )
    result = cloud.run("deploy", **GOOD)
    assert result.returncode != 0
    assert "vendor 'meta'" in result.stderr and "'ads-no-ua'" in result.stderr and "'user_agent'" in result.stderr
    assert "config/vendors.yaml is not valid" in result.stderr
    assert "Traceback" not in result.stderr
    # Only the credentials check ran: nothing enabled, created or planned.
    assert [c for c in cloud.commands() if not c.startswith("gcloud auth")] == []


def test_deploy_goes_on_with_a_valid_rule(tmp_path):
    cloud = FakeCloud(tmp_path)
    _repository(
        cloud,
        """
        transformations:
          - {name: meta-no-ip, type: exclude, scope: [meta], keys: [ip_override]}
        vendors:
          meta: {enabled: true}
    """,
    )
    result = cloud.run("plan", **GOOD)
    assert result.returncode == 0, result.stderr
    assert "config/vendors.yaml: ok" in result.stderr
    assert any(c.startswith("terraform plan") for c in cloud.commands())
