"""infra/deploy.sh against fake `gcloud` and `terraform` on PATH (tests/infra/fake_tools.py).

What a first `make deploy` on an empty project needs before Terraform runs, in this order:
the APIs (Terraform's first plan reads the project through Resource Manager and Service
Usage), the Pub/Sub service agent (enabling the API does not create it at once), a region
check, the versioned state bucket (created once), and the secrets that hold a value. Each
step that fails stops the script with a message before Terraform runs; a second run without
changes does the same calls minus the creation of the state bucket.
"""

from __future__ import annotations

import json

import pytest

from tests.infra.fake_tools import FakeCloud

GOOD = {"PROJECT": "my-project-123", "REGION": "europe-west1", "DOMAIN": "track.example.com"}
STATE_BUCKET = "my-project-123-tagging-tfstate"


def index(commands: list[str], prefix: str) -> int:
    matches = [i for i, c in enumerate(commands) if c.startswith(prefix)]
    assert matches, f"no call starting with {prefix!r} in {commands}"
    return matches[0]


def assert_stopped_before_terraform(result, cloud: FakeCloud, *phrases: str) -> None:
    assert result.returncode != 0, result.stdout
    assert "Traceback" not in result.stderr
    for phrase in phrases:
        assert phrase in result.stderr, result.stderr
    assert not [c for c in cloud.commands() if c.startswith("terraform")], cloud.commands()


def test_first_deploy_bootstraps_in_order_then_runs_terraform(tmp_path):
    cloud = FakeCloud(tmp_path)
    result = cloud.run("deploy", **GOOD)
    assert result.returncode == 0, result.stderr
    commands = cloud.commands()
    order = [
        index(commands, "gcloud services enable"),
        index(commands, "gcloud beta services identity create"),
        index(commands, "gcloud functions regions list"),
        index(commands, "gcloud storage buckets list"),
        index(commands, "gcloud storage buckets create"),
        index(commands, "gcloud storage buckets update"),
        index(commands, "gcloud secrets list"),
        index(commands, "terraform init"),
        index(commands, "terraform plan"),
        index(commands, "terraform show"),
        index(commands, "terraform apply"),
    ]
    assert order == sorted(order), commands
    calls = cloud.calls()
    enable = next(c for c in calls if c[1:3] == ["services", "enable"])
    # The APIs Terraform's first plan needs (data.google_project, google_project_service).
    assert {"serviceusage.googleapis.com", "cloudresourcemanager.googleapis.com", "pubsub.googleapis.com",
            "cloudbuild.googleapis.com", "compute.googleapis.com"} <= set(enable)
    identity = next(c for c in calls if c[1:5] == ["beta", "services", "identity", "create"])
    assert "--service=pubsub.googleapis.com" in identity
    assert cloud.buckets() == [STATE_BUCKET]
    update = next(c for c in calls if c[1:4] == ["storage", "buckets", "update"])
    assert "--versioning" in update
    init = next(c for c in calls if c[0] == "terraform" and "init" in c)
    assert f"-backend-config=bucket={STATE_BUCKET}" in init
    assert "https://track.example.com/g/collect" in result.stdout


def test_second_run_without_changes_is_idempotent(tmp_path):
    cloud = FakeCloud(tmp_path, secrets={"META_ACCESS_TOKEN": True})
    first = cloud.run("deploy", **GOOD)
    assert first.returncode == 0, first.stderr
    first_commands, first_vars = cloud.commands(), cloud.tfvars()
    second = cloud.run("deploy", **GOOD)
    assert second.returncode == 0, second.stderr
    # The same calls, except that the state bucket now exists and is not created again.
    assert [c for c in first_commands if not c.startswith("gcloud storage buckets c")
            and not c.startswith("gcloud storage buckets u")] == cloud.commands()
    assert cloud.buckets() == [STATE_BUCKET]
    assert cloud.tfvars() == first_vars


@pytest.mark.parametrize("step, message", [
    ("services enable", "could not enable the APIs"),
    ("beta services identity create", "could not create the Pub/Sub service agent"),
    ("functions regions list", "could not list the Cloud Run functions regions"),
    ("storage buckets list", "could not look for the state bucket"),
    ("storage buckets create", "could not create gs://"),
    ("storage buckets update", "could not turn on versioning"),
    ("secrets list", "could not list the secrets"),
    ("secrets versions list", "could not list the versions of secret META_ACCESS_TOKEN"),
])
def test_each_bootstrap_step_that_fails_stops_before_terraform(tmp_path, step, message):
    cloud = FakeCloud(tmp_path, secrets={"META_ACCESS_TOKEN": True}, fail_on=[f"gcloud {step}"])
    result = cloud.run("deploy", **GOOD)
    assert_stopped_before_terraform(result, cloud, message, "fake failure")


def test_a_failed_secret_listing_never_deploys_without_the_secrets(tmp_path):
    # Before: `2>/dev/null || true` read a transient failure as "no secret holds a value" and
    # the next apply removed every injected secret from collect.
    cloud = FakeCloud(tmp_path, secrets={"MP_API_SECRETS": True, "DEBUG_TOKEN": True})
    assert cloud.run("deploy", **GOOD).returncode == 0
    assert set(cloud.tfvars()["provisioned_secrets"]) == {"MP_API_SECRETS", "DEBUG_TOKEN"}
    cloud.fail_on = ["gcloud secrets list"]
    result = cloud.run("deploy", **GOOD)
    assert_stopped_before_terraform(result, cloud, "could not list the secrets", "nothing was changed")


def test_only_secrets_with_an_enabled_version_are_listed(tmp_path):
    cloud = FakeCloud(tmp_path, secrets={"MP_API_SECRETS": True, "DEBUG_TOKEN": False, "META_ACCESS_TOKEN": True})
    assert cloud.run("plan", **GOOD).returncode == 0
    assert sorted(cloud.tfvars()["provisioned_secrets"]) == ["META_ACCESS_TOKEN", "MP_API_SECRETS"]


def test_a_region_without_cloud_run_functions_is_refused(tmp_path):
    cloud = FakeCloud(tmp_path, regions=["europe-west1", "us-central1"])
    result = cloud.run("deploy", **{**GOOD, "REGION": "europe-north2"})
    assert_stopped_before_terraform(result, cloud, "REGION=europe-north2 does not offer Cloud Run functions",
                                    "europe-west1")


def test_empty_allowed_origins_warns_and_a_list_is_passed_on(tmp_path):
    cloud = FakeCloud(tmp_path)
    result = cloud.run("plan", **GOOD)
    assert result.returncode == 0, result.stderr
    assert "warning: ALLOWED_ORIGINS is empty" in result.stderr
    assert "allowed_origins" not in cloud.tfvars()

    result = cloud.run("plan", **GOOD, ALLOWED_ORIGINS="https://www.example.com, https://example.com")
    assert result.returncode == 0, result.stderr
    assert "ALLOWED_ORIGINS is empty" not in result.stderr
    assert cloud.tfvars()["allowed_origins"] == ["https://www.example.com", "https://example.com"]

    (cloud.infra / "terraform.tfvars").write_text('allowed_origins = ["https://shop.example"]\n')
    assert "ALLOWED_ORIGINS is empty" not in cloud.run("plan", **GOOD).stderr


def test_allowed_origins_must_be_origins(tmp_path):
    cloud = FakeCloud(tmp_path)
    result = cloud.run("deploy", **GOOD, ALLOWED_ORIGINS='https://www.example.com/path"')
    assert_stopped_before_terraform(result, cloud, "is not an origin")


REPLACED_PLAN = {"resource_changes": [
    {"address": 'module.vendor["meta"].google_pubsub_subscription.push["meta-push"]',
     "type": "google_pubsub_subscription",
     "change": {"actions": ["delete", "create"], "before": {"name": "meta-push"}}},
    {"address": 'module.vendor["meta"].google_pubsub_subscription.push["meta-replay-push"]',
     "type": "google_pubsub_subscription", "change": {"actions": ["no-op"], "before": {"name": "meta-replay-push"}}},
]}


def test_plan_warns_when_a_subscription_would_be_replaced(tmp_path):
    cloud = FakeCloud(tmp_path, plan=REPLACED_PLAN)
    result = cloud.run("plan", **GOOD)
    assert result.returncode == 0, result.stderr
    assert "REPLACES Pub/Sub subscription(s): meta-push" in result.stderr
    assert "meta-replay-push" not in result.stderr
    assert not [c for c in cloud.commands() if "seek" in c or "apply" in c]
    quiet = FakeCloud(tmp_path / "other")
    assert "REPLACES" not in quiet.run("plan", **GOOD).stderr


def test_deploy_replays_a_replaced_subscription_from_before_the_apply(tmp_path):
    cloud = FakeCloud(tmp_path, plan=REPLACED_PLAN)
    result = cloud.run("deploy", **GOOD)
    assert result.returncode == 0, result.stderr
    commands = cloud.commands()
    assert index(commands, "terraform apply") < index(commands, "gcloud pubsub subscriptions seek meta-push")
    seek = next(c for c in cloud.calls() if c[1:4] == ["pubsub", "subscriptions", "seek"])
    assert seek[4] == "meta-push" and any(a.startswith("--time=20") for a in seek)
    assert not [c for c in commands if "seek meta-replay-push" in c]

    result = cloud.run("deploy", **GOOD, SEEK_TIME="2026-01-02T03:04:05Z")
    seek = next(c for c in cloud.calls() if c[1:4] == ["pubsub", "subscriptions", "seek"])
    assert "--time=2026-01-02T03:04:05Z" in seek


def test_a_failed_apply_fails_the_deploy(tmp_path):
    cloud = FakeCloud(tmp_path, fail_on=["terraform -chdir=" + str(tmp_path / "infra") + " apply"])
    result = cloud.run("deploy", **GOOD)
    assert result.returncode != 0
    assert "collect:" not in result.stdout


def test_local_state_is_moved_into_the_bucket_once(tmp_path):
    cloud = FakeCloud(tmp_path)
    (cloud.infra / "terraform.tfstate").write_text("{}")
    assert cloud.run("deploy", **GOOD).returncode == 0
    init = next(c for c in cloud.calls() if c[0] == "terraform" and "init" in c)
    assert "-migrate-state" in init and "-force-copy" in init
    assert not (cloud.infra / "terraform.tfstate").exists()
    assert cloud.run("deploy", **GOOD).returncode == 0
    init = next(c for c in cloud.calls() if c[0] == "terraform" and "init" in c)
    assert "-migrate-state" not in init


def test_destroy_says_what_it_deletes_and_what_it_leaves(tmp_path):
    cloud = FakeCloud(tmp_path)
    assert cloud.run("deploy", **GOOD).returncode == 0
    result = cloud.run("destroy", **GOOD, AUTO_APPROVE="1")
    assert result.returncode == 0, result.stderr
    assert "static IP" in result.stderr and "WITH ITS VALUES" in result.stderr
    assert "ALLOWED_ORIGINS" not in result.stderr
    for left in (f"gcloud storage rm -r gs://{STATE_BUCKET}", "gcloud services disable", "gcf-v2-sources"):
        assert left in result.stdout
    commands = cloud.commands()
    assert "terraform destroy" in commands
    # destroy creates nothing and enables nothing
    assert not [c for c in commands if c.startswith(("gcloud services enable", "gcloud storage buckets create"))]


def test_destroy_without_a_state_bucket_refuses(tmp_path):
    cloud = FakeCloud(tmp_path)
    result = cloud.run("destroy", **GOOD, AUTO_APPROVE="1")
    assert_stopped_before_terraform(result, cloud, f"no Terraform state bucket gs://{STATE_BUCKET}")
    assert cloud.buckets() == []


def test_the_fake_tools_record_and_fail_on_demand(tmp_path):
    # The harness itself: a test that relies on it must be able to fail.
    cloud = FakeCloud(tmp_path, fail_on=["gcloud services enable"])
    result = cloud.run("deploy", **GOOD)
    assert result.returncode == 1
    assert cloud.calls()[-1][:3] == ["gcloud", "services", "enable"]
    assert json.loads((cloud.state / "config.json").read_text())["fail_on"] == ["gcloud services enable"]


def test_the_deploy_guide_lists_each_first_deploy_error_with_its_fix():
    from tests.infra.hcl import REPO_ROOT

    guide = (REPO_ROOT / "docs" / "deploy.md").read_text()
    section = guide.split("## What can go wrong on the first deploy", 1)[1].split("\n## ", 1)[0]
    for message in ("could not enable the APIs", "could not create the Pub/Sub service agent",
                    "does not offer Cloud Run functions", "could not create gs://", "could not list the secrets",
                    "Cannot find metric(s)", "scope_build_storage", "iam_propagation_wait"):
        assert message in section, message
    assert "REPLACES Pub/Sub subscription(s)" in guide and "SEEK_TIME" in guide
