"""What would break on the first `make deploy` of an empty project, on the second, and on
`make destroy` (issue 14), checked on the Terraform's structure with python-hcl2, since
`terraform apply` cannot run here. Each test names the failure it guards against; the error
messages a user may still meet are in docs/deploy.md, "What can go wrong on the first deploy".
"""

from __future__ import annotations

import re
import subprocess

import pytest

from tests.infra.hcl import INFRA, REPO_ROOT, all_modules, block


@pytest.fixture(scope="module")
def modules():
    return all_modules()


def depends_on(body: dict) -> list[str]:
    return [d.strip("${}") for d in body.get("depends_on", [])]


def duration_seconds(value: str) -> int:
    match = re.fullmatch(r"(\d+)s", value)
    assert match, value
    return int(match.group(1))


# --- waits where Google's APIs are eventually consistent ---------------------------------------


def test_alert_policy_waits_for_its_log_metric(modules):
    # Monitoring answers 404 "Cannot find metric(s)" for minutes after a log-based metric is
    # created (terraform-provider-google#11102); with set -e the deploy stopped there.
    monitoring = modules["monitoring"]
    wait = monitoring.resources[("time_sleep", "metric_ready")]
    assert "google_logging_metric.rejected_deliveries.id" in str(wait["triggers"])
    assert duration_seconds(monitoring.variables["metric_propagation_wait"]["default"]) >= 120
    policy = monitoring.of_type("google_monitoring_alert_policy")["rejected_deliveries"]
    assert "time_sleep.metric_ready" in depends_on(policy)
    assert modules["root"].calls["monitoring"]["metric_propagation_wait"] == "${var.metric_propagation_wait}"


def test_everything_waits_for_api_enablement_not_just_the_call(modules):
    root = modules["root"]
    wait = root.resources[("time_sleep", "apis_ready")]
    assert depends_on(wait) == ["google_project_service.enabled"]
    assert "local.services" in str(wait["triggers"])  # a new API waits again, an unchanged set does not
    # Nothing depends on the enablement call directly any more: all go through the wait.
    for name, module in modules.items():
        for (rtype, rname), body in module.resources.items():
            if rtype != "time_sleep":
                assert "google_project_service.enabled" not in depends_on(body), f"{name}: {rtype}.{rname}"
    for call in ("event_bus", "collect", "vendor", "custom_domain", "monitoring", "delivery_ledger"):
        assert "time_sleep.apis_ready" in depends_on(root.calls[call]), call
    assert "time_sleep.apis_ready" in depends_on(root.of_type("google_service_account")["build"])
    # The APIs the first plan itself needs are enabled by deploy.sh before Terraform runs too.
    assert '"serviceusage.googleapis.com"' in root.text and '"cloudresourcemanager.googleapis.com"' in root.text


def test_builds_start_after_the_build_grants_have_propagated(modules):
    root = modules["root"]
    wait = root.resources[("time_sleep", "iam_propagation")]
    assert duration_seconds(root.variables["iam_propagation_wait"]["default"]) >= 60
    triggers = str(wait["triggers"])
    assert "google_project_iam_member.build" in triggers
    assert "google_service_account_iam_member.pubsub_signs_push_tokens" in triggers
    for call in ("collect", "vendor"):
        assert "time_sleep.iam_propagation" in depends_on(root.calls[call]), call


def test_archive_subscription_waits_for_its_table_grant(modules):
    bus = modules["event_bus"]
    wait = bus.resources[("time_sleep", "archive_grant")]
    assert "google_bigquery_table_iam_member.service_agent_writes_archive" in str(wait["triggers"])
    archive = bus.of_type("google_pubsub_subscription")["archive"]
    assert depends_on(archive) == ["time_sleep.archive_grant"]


def test_pubsub_service_agent_is_created_before_terraform_names_it():
    script = (INFRA / "deploy.sh").read_text()
    assert "gcloud beta services identity create --service=pubsub.googleapis.com" in script
    assert script.index("services identity create") < script.index("tf init")


# --- the build identity -------------------------------------------------------------------------


def test_build_account_has_run_builder_scoped_to_the_function_buckets(modules):
    root = modules["root"]
    grant = root.of_type("google_project_iam_member")["build"]
    assert "roles/run.builder" in str(grant["for_each"])
    condition = block(grant, "dynamic")["condition"]
    assert condition["for_each"] == "${var.scope_build_storage ? [local.build_storage_condition] : []}"
    assert block(condition, "content")["expression"] == "${condition.value}"
    assert root.variables["scope_build_storage"]["default"] is True
    # The condition: non-storage permissions pass; storage ones only on the three buckets.
    text = root.text
    assert 'resource.type == \\"storage.googleapis.com/Bucket\\"' in text
    assert 'resource.type == \\"storage.googleapis.com/Object\\"' in text
    assert 'resource.name.startsWith(\\"projects/_/buckets/${b}\\")' in text
    for bucket in ('"${var.project_id}-tagging-sources"', '"gcf-v2-sources-${data.google_project.this.number}-${var.region}"',
                   '"gcf-v2-uploads-${data.google_project.this.number}-${var.region}"'):
        assert bucket in text, bucket
    assert root.of_type("google_storage_bucket")["sources"]["name"] == "${local.build_buckets[0]}"
    assert "roles/storage.objectViewer" not in text


def test_images_go_to_a_repository_with_a_cleanup_policy(modules):
    root = modules["root"]
    repo = root.of_type("google_artifact_registry_repository")["functions"]
    assert repo["format"] == "DOCKER" and repo["cleanup_policy_dry_run"] is False
    policies = {p["id"]: p for p in repo["cleanup_policies"]}
    assert policies["keep-newest"]["action"] == "KEEP"
    assert block(policies["keep-newest"], "most_recent_versions")["keep_count"] == "${var.images_kept_per_function}"
    assert policies["delete-older"]["action"] == "DELETE"
    assert block(policies["delete-older"], "condition")["older_than"]
    for call in ("collect", "vendor"):
        assert root.calls[call]["docker_repository"] == "${google_artifact_registry_repository.functions.id}"
    for module in ("ingest_function", "vendor_function"):
        function = modules[module].of_type("google_cloudfunctions2_function")["this"]
        assert block(function, "build_config")["docker_repository"] == "${var.docker_repository}"


# --- destroy and re-deploy ------------------------------------------------------------------------


def test_ledger_dataset_can_be_destroyed_with_the_table_logging_created(modules):
    ledger = modules["delivery_ledger"]
    dataset = ledger.of_type("google_bigquery_dataset")["this"]
    assert dataset["delete_contents_on_destroy"] == "${var.delete_contents_on_destroy}"
    assert modules["root"].variables["ledger_delete_contents_on_destroy"]["default"] is True
    assert modules["root"].calls["delivery_ledger"]["delete_contents_on_destroy"] == "${var.ledger_delete_contents_on_destroy}"


def test_certificate_name_follows_the_domain(modules):
    domain = modules["custom_domain"]
    cert = domain.of_type("google_compute_managed_ssl_certificate")["this"]
    assert "sha256(var.domain)" in cert["name"]
    assert block(cert, "lifecycle")["create_before_destroy"] is True
    names = [body.get("name", "") for body in domain.resources.values()]
    assert names.count(cert["name"]) == 1


# --- monitoring and logs -------------------------------------------------------------------------


def test_rejected_metric_has_a_bounded_reason_label(modules):
    metric = modules["monitoring"].of_type("google_logging_metric")["rejected_deliveries"]
    reason = metric["label_extractors"]["reason"]
    assert reason.startswith("REGEXP_EXTRACT(jsonPayload.reason")
    pattern = re.search(r'\\"(.+)\\"', reason).group(1)
    assert re.fullmatch(r"\^\(\[[^\]]+\]\{1,\d+\}\)", pattern), pattern  # a code, anchored and length-bounded
    extract = re.compile(pattern)
    assert extract.match("event_too_old:86400s").group(1) == "event_too_old"
    assert extract.match("vendor_misconfigured:invalid token").group(1) == "vendor_misconfigured"


def test_rejected_alert_counts_vendor_4xx_and_misconfiguration_at_a_rate(modules):
    monitoring = modules["monitoring"]
    text = monitoring.text
    for clause in ('jsonPayload.outcome=\\"rejected\\"', "jsonPayload.http_status>=400", "jsonPayload.http_status<500",
                   "jsonPayload.http_status!=429", 'severity>=ERROR AND jsonPayload.reason=~\\"^vendor_misconfigured\\"'):
        assert clause in text, clause
    metric = monitoring.of_type("google_logging_metric")["rejected_deliveries"]
    assert "${local.vendor_refused}" in metric["filter"] and "${local.misconfigured}" in metric["filter"]
    policy = monitoring.of_type("google_monitoring_alert_policy")["rejected_deliveries"]
    condition = block(block(policy, "conditions"), "condition_threshold")
    assert condition["threshold_value"] == "${var.rejected_deliveries_per_minute / 60}"
    assert block(condition, "aggregations")["per_series_aligner"] == "ALIGN_RATE"
    assert modules["root"].variables["rejected_deliveries_per_minute"]["default"] >= 1


def test_routine_ledger_lines_are_stored_once(modules):
    ledger = modules["delivery_ledger"]
    exclusion = ledger.of_type("google_logging_project_exclusion")["routine_delivery_lines"]
    assert exclusion["filter"].startswith("${local.sink_filter}")
    for outcome in ("delivered", "skipped", "dry_run"):
        assert outcome in exclusion["filter"]
    for kept in ("rejected", "retrying", "dead_lettered"):
        assert kept not in exclusion["filter"]  # what an operator and the alert look for
    assert depends_on(exclusion) == ["time_sleep.sink_grant"]
    assert modules["root"].variables["ledger_exclude_from_default_bucket"]["default"] is True


# --- providers, state, secrets ----------------------------------------------------------------------


def test_every_module_pins_one_major_of_each_provider(modules):
    constraints: dict[str, set[str]] = {}
    for name, module in modules.items():
        for provider, version in re.findall(r'source\s*=\s*"hashicorp/(\w+)"\s*\n\s*version\s*=\s*"([^"]+)"', module.text):
            assert re.fullmatch(r"~> \d+\.\d+", version), f"{name}: {provider} {version} allows more than one major"
            constraints.setdefault(provider, set()).add(version)
        if "time_sleep" in {t for t, _ in module.resources}:
            assert 'source  = "hashicorp/time"' in module.text, f"{name} uses time_sleep without declaring hashicorp/time"
    # random: the edge secret (infra/edge.tf).
    assert {p: len(v) for p, v in constraints.items()} == {"google": 1, "archive": 1, "time": 1, "random": 1}


def test_lock_file_of_the_root_module_is_not_ignored():
    # The first `make deploy` writes infra/.terraform.lock.hcl: it must show up to be committed.
    result = subprocess.run(["git", "check-ignore", "-q", "infra/.terraform.lock.hcl"], cwd=REPO_ROOT)
    assert result.returncode == 1


def test_state_lives_in_a_gcs_backend():
    versions = (INFRA / "versions.tf").read_text()
    assert re.search(r'backend\s+"gcs"\s*\{\s*\}', versions)


def test_vendor_secrets_never_block_a_deploy(modules):
    vendor = modules["vendor_function"]
    assert "provisioned_secrets" not in vendor.text  # every secret is referenced, with or without a value
    assert "secret_environment_variables" not in vendor.text
    assert "provisioned_secrets" not in modules["root"].calls["vendor"]


def test_deploy_sh_enables_every_api_terraform_uses(modules):
    # Terraform keeps managing them; deploy.sh enables them first so no resource meets an API
    # that is still being enabled.
    script = (INFRA / "deploy.sh").read_text()
    services = set(re.findall(r'"([a-z]+\.googleapis\.com)"', modules["root"].text))
    assert {"serviceusage.googleapis.com", "cloudresourcemanager.googleapis.com", "compute.googleapis.com"} <= services
    for service in services:
        assert service in script, service
