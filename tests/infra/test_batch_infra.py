"""Batch mode in Terraform: the pull subscription replaces the push one with the same retry
and dead-letter policy, a Cloud Scheduler job per batch vendor calls POST /drain with OIDC,
and each identity gets only what it needs. Read with python-hcl2; vendor_config evaluated by
terraform itself."""

from __future__ import annotations

import pytest

from tests.infra.hcl import all_modules, block
from tests.infra.test_vendor_config import evaluate
from tests.infra.hcl import REPO_ROOT


@pytest.fixture(scope="module")
def modules():
    return all_modules()


def test_batch_mode_swaps_the_push_subscription_for_a_pull_one_with_the_same_policies(modules):
    vendor = modules["vendor_function"]
    pull = vendor.of_type("google_pubsub_subscription")["pull"]
    push = vendor.of_type("google_pubsub_subscription")["push"]
    assert pull["count"] == "${local.batch ? 1 : 0}"
    assert "push_config" not in pull  # a pull subscription
    assert 'pull_subscription = "${local.sub_base}-pull"' in vendor.text  # devstack/names.py's name
    for key in ("retry_policy", "dead_letter_policy"):
        assert block(pull, key) == block(push, key)
    assert pull["filter"] == "${var.filter}" and pull["topic"] == "${var.events_topic_id}"
    # the events push subscription exists only in push mode; the replay one always
    assert 'var.delivery == "push" ? { (local.subscription)' in vendor.text
    grants = vendor.of_type("google_pubsub_subscription_iam_member")
    assert grants["function_drains"]["member"] == "${google_service_account.this.member}"
    assert grants["function_drains"]["subscription"] == "${google_pubsub_subscription.pull[0].name}"
    assert grants["service_agent_dead_letters_pull"]["member"] == "serviceAccount:${var.pubsub_service_agent}"
    # the function learns what to drain from its environment
    assert "DRAIN_SUBSCRIPTION" in vendor.text and "local.batch_env" in vendor.text


def test_a_scheduler_job_drains_each_batch_vendor_with_oidc(modules):
    drain = modules["batch_drain"]
    job = drain.of_type("google_cloud_scheduler_job")["drain"]
    target = block(job, "http_target")
    assert target["http_method"] == "POST"
    assert target["uri"].endswith("/drain")
    oidc = block(target, "oidc_token")
    assert oidc["service_account_email"] == "${google_service_account.scheduler.email}"
    assert oidc["audience"] == "${var.function_uri}"
    assert job["schedule"] == "${var.schedule}"
    assert block(job, "retry_config")["retry_count"] == 0
    # its identity may invoke this one function, nothing else
    grants = [(t, body["role"], body["member"]) for (t, _), body in drain.resources.items() if t.endswith("_iam_member")]
    assert grants == [("google_cloud_run_v2_service_iam_member", "roles/run.invoker",
                       "${google_service_account.scheduler.member}")]
    root = modules["root"]
    call = root.calls["batch_drain"]
    assert call["for_each"] == "${local.batch_vendors}"
    assert 'vendor.delivery == "batch"' in root.text


def test_vendor_config_reads_delivery_and_batch_settings(tmp_path):
    config = tmp_path / "vendors.yaml"
    config.write_text(
        "delivery:\n  batch:\n    max_messages: 500\n    cloud:\n      schedule: '*/5 * * * *'\n      drain_seconds: 40\n"
        "vendors:\n  meta:\n    delivery: batch\n  tiktok: {}\n"
    )
    outputs = evaluate(tmp_path, config, REPO_ROOT / "functions" / "vendors")
    assert outputs["vendors"]["meta"]["delivery"] == "batch"
    assert outputs["vendors"]["tiktok"]["delivery"] == "push"
    assert outputs["batch"] == {"max_messages": 500, "schedule": "*/5 * * * *", "drain_seconds": 40}


def test_collect_billing_is_a_variable_that_switches_cpu_allocation(modules):
    root = modules["root"]
    variable = root.variables["collect_billing"]
    assert variable["default"] == "request"
    assert "contains([\"request\", \"instance\"]" in str(variable["validation"]).replace("'", '"')
    switch = root.resources[("terraform_data", "collect_billing")]
    command = str(switch["provisioner"])
    assert "--no-cpu-throttling" in command and "--cpu-throttling" in command
    assert "module.collect.function_name" in command
    # a new revision of collect (new source or sizing) resets the flag: re-applied then
    assert "${module.collect_source.object}" in switch["triggers_replace"]
