"""Structural tests of infra/: module layout, vendor wiring and least-privilege IAM.

They read the Terraform with python-hcl2 (no provider, no network). The schema itself is
checked by tfcheck (.ci/run) and the security baseline by checkov (test_terraform_tools.py).
"""

from __future__ import annotations

import re

import pytest

from tests.infra.hcl import INFRA, all_modules, block, load

MODULE_FILES = {"main.tf", "variables.tf", "outputs.tf", "versions.tf"}
PUBLIC_MEMBERS = ("allUsers", "allAuthenticatedUsers")


@pytest.fixture(scope="module")
def modules():
    return all_modules()


def iam_members(module) -> list[tuple[str, str, str, str]]:
    """(resource type, name, role, member) of every *_iam_member / *_iam_binding in a module."""
    found = []
    for (rtype, name), body in module.resources.items():
        if rtype.endswith("_iam_member"):
            found.append((rtype, name, body["role"], body["member"]))
        if rtype.endswith(("_iam_binding", "_iam_policy")):
            found.append((rtype, name, body.get("role", ""), str(body.get("members", body.get("policy_data")))))
    return found


# --- layout ------------------------------------------------------------------------------------


def test_every_module_has_the_four_files(modules):
    assert {"event_bus", "ingest_function", "vendor_function", "custom_domain", "monitoring"} <= set(modules)
    for name, module in modules.items():
        assert set(module.files) >= MODULE_FILES, f"{name} lacks {MODULE_FILES - set(module.files)}"


def test_every_variable_is_typed_and_described_and_every_output_described(modules):
    for name, module in modules.items():
        assert module.variables, f"{name} has no variables"
        for var, body in module.variables.items():
            assert body.get("type"), f"{name}: variable {var} has no type"
            assert len(body.get("description", "")) > 10, f"{name}: variable {var} has no description"
        for out, body in module.outputs.items():
            assert len(body.get("description", "")) > 10, f"{name}: output {out} has no description"


def test_examples_call_the_root_module():
    for example in ("minimal", "load-balancer"):
        module = load(INFRA / "examples" / example)
        call = module.calls["tagging"]
        assert call["source"] == "../../"
        assert "project_id" in call


# --- vendors -------------------------------------------------------------------------------------


def test_root_deploys_one_vendor_module_per_discovered_vendor(modules):
    root = modules["root"]
    assert root.calls["vendor_config"]["source"] == "./modules/vendor_config"
    vendor = root.calls["vendor"]
    assert vendor["source"] == "./modules/vendor_function"
    assert vendor["for_each"] == "${local.vendors}"
    assert "module.vendor_config.vendors" in root.text
    # Each vendor gets its own source archive too.
    assert root.calls["vendor_source"]["for_each"] == "${local.vendors}"
    # A config entry without a folder fails the plan.
    guard = root.resources[("terraform_data", "vendor_config")]
    conditions = [p["condition"] for p in block(guard, "lifecycle")["precondition"]]
    assert any("missing_folders" in c for c in conditions)


def test_vendor_module_has_function_service_account_and_secrets(modules):
    vendor = modules["vendor_function"]
    function = vendor.of_type("google_cloudfunctions2_function")["this"]
    build = block(function, "build_config")
    service = block(function, "service_config")
    assert build["entry_point"] == "${var.entry_point}" and vendor.variables["entry_point"]["default"] == "deliver"
    assert vendor.variables["runtime"]["default"] == "python312"
    assert service["service_account_email"] == "${google_service_account.this.email}"
    assert service["ingress_settings"] == "ALLOW_INTERNAL_ONLY"
    assert "MAX_DELIVERY_ATTEMPTS" in service["environment_variables"]
    assert "var.max_delivery_attempts" in service["environment_variables"]
    # secrets: one secret per name, read at runtime (shared/secrets.py) through SECRET_<NAME>
    assert "local.secret_refs" in service["environment_variables"]
    assert 'SECRETS_BACKEND       = "secretmanager"' in vendor.text
    assert '"SECRET_${s}" => "projects/${var.project_id}/secrets/${s}/versions/latest"' in vendor.text
    assert "dynamic" not in service, "vendor secrets are not injected at deploy time"
    assert "google_service_account" in {t for t, _ in vendor.resources}
    assert vendor.of_type("google_secret_manager_secret")["this"]["for_each"] == "${toset(var.secrets)}"
    assert not vendor.of_type("google_secret_manager_secret_version"), "secret values must never be in Terraform"


def test_vendor_subscriptions_have_oidc_retry_and_dead_letter(modules):
    vendor = modules["vendor_function"]
    subscriptions = vendor.of_type("google_pubsub_subscription")
    assert set(subscriptions) == {"push", "pull"}  # pull: batch mode (tests/infra/test_batch_infra.py)
    push = subscriptions["push"]
    assert push["for_each"] == "${local.subscriptions}"
    # both the events subscription and the replay one, as devstack/topology.py names them
    assert "(local.subscription)" in vendor.text and '"${local.sub_base}-replay-push"' in vendor.text
    assert 'subscription = "${local.sub_base}-push"' in vendor.text
    # Pub/Sub names must not start with "goog": googleads gets vendor-googleads-* (names.py too).
    assert 'sub_base     = startswith(var.vendor, "goog") ? "vendor-${var.vendor}" : var.vendor' in vendor.text
    assert 'replay_topic = "tagging-replay-${var.vendor}"' in vendor.text
    config = block(push, "push_config")
    oidc = block(config, "oidc_token")
    assert oidc["service_account_email"] == "${var.push_service_account}"
    assert "google_cloudfunctions2_function.this" in config["push_endpoint"]
    dead_letter = block(push, "dead_letter_policy")
    assert dead_letter["dead_letter_topic"] == "${var.dead_letter_topic_id}"
    assert dead_letter["max_delivery_attempts"] == "${var.max_delivery_attempts}"
    retry = block(push, "retry_policy")
    assert (
        "minimum_backoff_seconds" in retry["minimum_backoff"] and "maximum_backoff_seconds" in retry["maximum_backoff"]
    )
    # The ack deadline is the function's timeout, which must exceed the vendor HTTP timeout.
    assert push["ack_deadline_seconds"] == "${var.scaling.timeout_seconds}"
    assert push["filter"] == "${each.value.filter}"
    # The service agent may acknowledge on each subscription so it can dead-letter.
    grant = vendor.of_type("google_pubsub_subscription_iam_member")["service_agent_dead_letters"]
    assert grant["for_each"] == "${google_pubsub_subscription.push}"
    assert grant["role"] == "roles/pubsub.subscriber"


def test_vendor_function_timeout_exceeds_the_vendor_http_timeout(modules):
    from shared.delivery.vendor import DEFAULT_TIMEOUT_SECONDS

    variable = modules["root"].variables["vendor_functions"]
    default = re.search(r"timeout_seconds\s*=\s*optional\(number,\s*(\d+)\)", variable["type"])
    assert default and int(default.group(1)) > DEFAULT_TIMEOUT_SECONDS
    minimum = re.search(r"timeout_seconds >= (\d+)", str(variable["validation"]))
    assert minimum and int(minimum.group(1)) > DEFAULT_TIMEOUT_SECONDS


def test_dead_letter_topic_has_inspection_subscription_and_service_agent_grant(modules):
    bus = modules["event_bus"]
    assert bus.variables["events_topic"]["default"] == "tagging-events"
    assert bus.variables["dead_letter_topic"]["default"] == "tagging-dead-letter"
    assert bus.variables["dead_letter_subscription"]["default"] == "tagging-dead-letter-inspect"
    inspect = bus.of_type("google_pubsub_subscription")["dead_letter_inspect"]
    assert inspect["topic"] == "${google_pubsub_topic.dead_letter.id}"
    assert "push_config" not in inspect  # a pull subscription
    grant = bus.of_type("google_pubsub_topic_iam_member")["service_agent_publishes_dead_letters"]
    assert grant["role"] == "roles/pubsub.publisher"
    assert grant["topic"] == "${google_pubsub_topic.dead_letter.name}"


def test_collect_function_settings(modules):
    collect = modules["ingest_function"]
    function = collect.of_type("google_cloudfunctions2_function")["this"]
    service = block(function, "service_config")
    assert service["environment_variables"] == (
        "${merge(local.settings, local.secret_refs, local.cookie_keeper_settings, local.cookie_keeper_secret_refs)}"
    )
    env = collect.locals["settings"]
    for name in ("EVENTS_TOPIC", "GOOGLE_CLOUD_PROJECT", "ALLOWED_MEASUREMENT_IDS", "ALLOWED_ORIGINS", "COOKIE_DOMAIN"):
        assert name in env, name
    # THREADS matches the concurrency
    assert env["THREADS"] == "${tostring(var.scaling.max_instance_request_concurrency)}"
    assert service["max_instance_request_concurrency"] == "${var.scaling.max_instance_request_concurrency}"
    for key in ("min_instance_count", "max_instance_count", "timeout_seconds"):
        assert key in service
    assert collect.variables["runtime"]["default"] == "python312"
    assert collect.variables["entry_point"]["default"] == "collect"
    assert collect.variables["secret_names"]["default"] == ["MP_API_SECRETS", "DEBUG_TOKEN", "MP_SIGNING_SECRETS"]
    # Secrets are read at runtime (tests/infra/test_collect_settings.py), never injected.
    assert "secret_environment_variables" not in collect.text


# --- IAM -----------------------------------------------------------------------------------------


def test_only_collect_is_public(modules):
    for name, module in modules.items():
        for rtype, rname, role, member in iam_members(module):
            if any(p in member for p in PUBLIC_MEMBERS):
                assert (name, rtype, rname, role) == (
                    "ingest_function",
                    "google_cloud_run_v2_service_iam_member",
                    "public",
                    "roles/run.invoker",
                ), f"public access in {name}: {rtype}.{rname}"
    assert not any(p in modules["vendor_function"].text for p in PUBLIC_MEMBERS)


def test_vendor_iam_is_least_privilege(modules):
    grants = {(rtype, role, member) for rtype, _, role, member in iam_members(modules["vendor_function"])}
    assert grants == {
        # each vendor reads only its own secrets
        (
            "google_secret_manager_secret_iam_member",
            "roles/secretmanager.secretAccessor",
            "${google_service_account.this.member}",
        ),
        # only the push identity invokes the function
        ("google_cloud_run_v2_service_iam_member", "roles/run.invoker", "serviceAccount:${var.push_service_account}"),
        # the Pub/Sub service agent forwards dead letters
        (
            "google_pubsub_subscription_iam_member",
            "roles/pubsub.subscriber",
            "serviceAccount:${var.pubsub_service_agent}",
        ),
        # batch mode: the function pulls its own pull subscription
        ("google_pubsub_subscription_iam_member", "roles/pubsub.subscriber", "${google_service_account.this.member}"),
    }
    secret_grant = modules["vendor_function"].of_type("google_secret_manager_secret_iam_member")["reads_own_secrets"]
    assert secret_grant["for_each"] == "${google_secret_manager_secret.this}"


def test_collect_iam_is_least_privilege(modules):
    grants = {(rtype, role, member) for rtype, _, role, member in iam_members(modules["ingest_function"])}
    assert grants == {
        ("google_pubsub_topic_iam_member", "roles/pubsub.publisher", "${google_service_account.this.member}"),
        (
            "google_secret_manager_secret_iam_member",
            "roles/secretmanager.secretAccessor",
            "${google_service_account.this.member}",
        ),
        ("google_cloud_run_v2_service_iam_member", "roles/run.invoker", "allUsers"),
        # The cookie keeper's store, conditioned on its database (test_cookie_keeper_infra.py).
        ("google_project_iam_member", "roles/datastore.user", "${google_service_account.this.member}"),
    }
    publish = modules["ingest_function"].of_type("google_pubsub_topic_iam_member")["publishes_events"]
    assert publish["topic"] == "${var.events_topic_id}"


def test_no_broad_roles_anywhere(modules):
    broad = re.compile(
        r"roles/(owner|editor|viewer|iam\.serviceAccountUser|pubsub\.admin|pubsub\.editor|secretmanager\.admin|run\.admin)\b"
    )
    for name, module in modules.items():
        for rtype, rname, role, member in iam_members(module):
            assert not broad.search(role), f"{name}: {rtype}.{rname} grants {role}"
    # Project-wide grants exist only for the build identity: roles/run.builder, which Google's
    # Cloud Run build docs ask for, with its storage rights scoped (test_first_deploy.py).
    root = modules["root"]
    project_grants = root.of_type("google_project_iam_member")
    assert set(project_grants) == {"build"}
    assert project_grants["build"]["member"] == "${google_service_account.build.member}"
    assert sorted(re.findall(r"roles/[\w.]+", str(project_grants["build"]["for_each"]))) == ["roles/run.builder"]
    for name, module in modules.items():
        if name == "ingest_function":
            # Firestore has no per-database IAM resource: the cookie keeper's grant is a project
            # grant with an IAM condition naming its database (and exists only when it is on).
            grants = module.of_type("google_project_iam_member")
            assert set(grants) == {"cookie_keeper_store"}
            assert "databases/${var.cookie_keeper_database}" in grants["cookie_keeper_store"]["condition"][0]["expression"]
        elif name != "root":
            assert not module.of_type("google_project_iam_member"), f"{name} grants project-wide roles"


def test_push_identity_may_only_invoke(modules):
    root = modules["root"]
    assert root.resources[("google_service_account", "push")]["account_id"] == "tagging-push"
    # The push identity's only grants are run.invoker on each vendor function (vendor module);
    # the root lets the Pub/Sub service agent mint its tokens and nothing else.
    token = root.of_type("google_service_account_iam_member")["pubsub_signs_push_tokens"]
    assert token["role"] == "roles/iam.serviceAccountTokenCreator"
    assert token["service_account_id"] == "${google_service_account.push.name}"
    for name, module in modules.items():
        for rtype, rname, role, member in iam_members(module):
            if "push_service_account" in member or "google_service_account.push" in member:
                assert role == "roles/run.invoker", f"{name}: push identity gets {role}"


# --- sources, domain, ledger ------------------------------------------------------------------


def test_function_source_bundles_folder_shared_and_requirements(modules):
    source = modules["function_source"]
    archive = source.data[("archive_file", "this")]
    dynamic = block(archive, "dynamic")["source"]
    assert dynamic["for_each"] == "${local.files}"
    assert '"shared/${f}"' in source.text and '"requirements.txt" = var.requirements_file' in source.text
    bucket = modules["root"].of_type("google_storage_bucket")["sources"]
    assert bucket["uniform_bucket_level_access"] is True
    assert bucket["public_access_prevention"] == "enforced"
    assert block(bucket, "versioning")["enabled"] is True


def test_custom_domain_offers_the_three_choices(modules):
    domain = modules["custom_domain"]
    types = {t for t, _ in domain.resources}
    assert {
        "google_compute_region_network_endpoint_group",
        "google_compute_backend_service",
        "google_compute_managed_ssl_certificate",
        "google_compute_target_https_proxy",
        "google_compute_global_forwarding_rule",
        "google_cloud_run_domain_mapping",
    } <= types
    neg = domain.of_type("google_compute_region_network_endpoint_group")["this"]
    assert neg["network_endpoint_type"] == "SERVERLESS"
    root_mode = modules["root"].variables["domain_mode"]
    assert "load_balancer" in str(root_mode["validation"]) and "none" in str(root_mode["validation"])


def test_delivery_ledger_is_a_partitioned_dataset_with_retention(modules):
    ledger = modules["delivery_ledger"]
    sink = ledger.of_type("google_logging_project_sink")["this"]
    assert sink["filter"] == "${local.sink_filter}" and 'jsonPayload.message=\\"delivery\\"' in ledger.text
    assert block(sink, "bigquery_options")["use_partitioned_tables"] is True
    dataset = ledger.of_type("google_bigquery_dataset")["this"]
    assert "retention_days" in dataset["default_partition_expiration_ms"]
    grant = ledger.of_type("google_bigquery_dataset_iam_member")["sink_writes"]
    assert grant["member"] == "${google_logging_project_sink.this.writer_identity}"
    assert grant["role"] == "roles/bigquery.dataEditor"


def test_alerts_on_dead_letters_and_rejections(modules):
    monitoring = modules["monitoring"]
    policies = monitoring.of_type("google_monitoring_alert_policy")
    assert {"dead_lettered", "dead_letter_backlog", "rejected_deliveries"} <= set(policies)
    assert "dead_letter_message_count" in monitoring.text
    metric = monitoring.of_type("google_logging_metric")["rejected_deliveries"]
    assert "local.vendor_refused" in metric["filter"] and 'jsonPayload.outcome=\\"rejected\\"' in monitoring.text


def test_every_checkov_skip_gives_a_reason():
    skips = []
    for tf in INFRA.rglob("*.tf"):
        if ".terraform" in tf.parts:
            continue
        for line in tf.read_text().splitlines():
            if "checkov:skip" in line:
                skips.append((tf, line))
    assert skips, "expected the justified skips"
    for tf, line in skips:
        match = re.search(r"#checkov:skip=(CKV2?_[A-Z]+_\d+):(.{30,})", line)
        assert match, f"{tf}: skip without a reason: {line.strip()}"


def test_no_module_declares_a_name_twice():
    """`terraform validate` (which cannot run here) refuses a duplicate variable, output,
    resource, data source or module in one module; merges produced three such duplicates."""
    import collections
    import re
    from pathlib import Path

    infra = Path(__file__).resolve().parents[2] / "infra"
    declaration = re.compile(r'^(variable|output|resource|data|module) "([^"]+)"(?: "([^"]+)")?', re.M)
    for folder in {path.parent for path in infra.rglob("*.tf") if ".terraform" not in path.parts}:
        names = collections.Counter(
            match.groups() for path in folder.glob("*.tf") for match in declaration.finditer(path.read_text())
        )
        assert [name for name, count in names.items() if count > 1] == [], folder
