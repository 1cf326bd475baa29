"""Abuse controls and the edge in Terraform (issue 13): Cloud Armor rate limit on collect's
backend by default in load-balancer mode, ingress, the geo and X-Edge-Auth request headers,
the trusted proxy hops and the exclusion of collect's Cloud Run request log."""

from __future__ import annotations

import pytest

from tests.infra.hcl import all_modules, block


@pytest.fixture(scope="module")
def modules():
    return all_modules()


def test_cloud_armor_bans_an_ip_over_600_requests_a_minute_with_429(modules):
    armor = modules["cloud_armor"]
    policy = armor.of_type("google_compute_security_policy")["this"]
    rules = policy["rule"]
    [ban] = [rule for rule in rules if rule["action"] == "rate_based_ban"]
    options = block(ban, "rate_limit_options")
    assert options["enforce_on_key"] == "IP" and options["exceed_action"] == "deny(429)"
    assert options["ban_duration_sec"] == "${var.ban_duration_seconds}"
    threshold = block(options, "rate_limit_threshold")
    assert threshold == {"count": "${var.requests}", "interval_sec": "${var.interval_seconds}"}
    assert ban["preview"] == "${var.preview}"
    assert block(block(ban, "match"), "config")["src_ip_ranges"] == ["*"]
    # The last rule lets everything else through.
    assert any(rule["action"] == "allow" and rule["priority"] == 2147483647 for rule in rules)
    defaults = {name: armor.variables[name]["default"] for name in ("requests", "interval_seconds", "ban_duration_seconds", "preview")}
    assert defaults == {"requests": 600, "interval_seconds": 60, "ban_duration_seconds": 300, "preview": False}


def test_the_policy_is_on_by_default_in_load_balancer_mode_and_attached_to_collects_backend(modules):
    root = modules["root"]
    assert root.variables["domain_mode"]["default"] == "load_balancer"
    armor = root.variables["cloud_armor"]["type"]
    assert "enabled = optional(bool, true)" in armor and "requests = optional(number, 600)" in armor, armor
    call = root.calls["cloud_armor"]
    assert call["source"] == "./modules/cloud_armor"
    assert "local.behind_load_balancer && var.cloud_armor.enabled" in call["count"]
    assert root.calls["custom_domain"]["security_policy"] == "${local.security_policy}"
    assert "module.cloud_armor[0].self_link" in root.text
    backend = modules["custom_domain"].of_type("google_compute_backend_service")["this"]
    assert backend["security_policy"] == "${var.security_policy}"


def test_collect_refuses_the_raw_run_app_url_behind_the_load_balancer(modules):
    call = modules["root"].calls["collect"]
    assert call["ingress_settings"] == '${var.domain_mode == "load_balancer" ? "ALLOW_INTERNAL_AND_GCLB" : "ALLOW_ALL"}'


def test_the_load_balancer_adds_geo_headers_and_the_edge_secret(modules):
    domain = modules["custom_domain"]
    # Both backend services (hits; Google tag routes) add the edge secret; geo: see
    # tests/infra/test_script_routing.py (always on the script backend, optional on hits).
    headers = str(domain.locals["geo_headers"]) + str(domain.locals["edge_auth_header"])
    for header in ("X-Client-Geo-Country:{client_region}", "X-Client-Geo-Region:{client_region_subdivision}",
                   "X-Client-Geo-City:{client_city}", "X-Edge-Auth:${var.edge_auth_secret}"):
        assert header in headers
    for backend in domain.of_type("google_compute_backend_service").values():
        assert "local.geo_headers" in backend["custom_request_headers"]
        assert "local.edge_auth_header" in backend["custom_request_headers"]
    assert modules["custom_domain"].variables["edge_auth_secret"]["sensitive"] is True
    root = modules["root"]
    assert "random_password.edge_auth[0].result" in root.calls["custom_domain"]["edge_auth_secret"]
    assert "google_secret_manager_secret_version.edge_auth[0].secret" in root.calls["collect"]["edge_auth_secret_id"]
    assert root.of_type("google_secret_manager_secret")["edge_auth"]["secret_id"] == "EDGE_AUTH_SECRETS"
    # collect may read that secret (granted before the function starts).
    collect = modules["ingest_function"]
    grant = collect.of_type("google_secret_manager_secret_iam_member")["reads_edge_auth"]
    assert grant["role"] == "roles/secretmanager.secretAccessor"
    function = collect.of_type("google_cloudfunctions2_function")["this"]
    assert "${google_secret_manager_secret_iam_member.reads_edge_auth}" in function["depends_on"]


def test_collect_reads_the_visitor_ip_past_the_right_number_of_proxy_hops(modules):
    # collect's environment is local.settings (+ the secret references).
    assert modules["ingest_function"].locals["settings"]["TRUSTED_PROXY_HOPS"] == "${var.trusted_proxy_hops}"
    assert modules["root"].calls["collect"]["trusted_proxy_hops"] == "${local.trusted_proxy_hops}"
    assert 'local.behind_load_balancer ? "1" : "none"' in modules["root"].text


def test_collects_cloud_run_request_log_is_excluded_by_default(modules):
    collect = modules["ingest_function"]
    exclusion = collect.of_type("google_logging_project_exclusion")["request_log"]
    assert 'log_id(\\"run.googleapis.com/requests\\")' in exclusion["filter"] or 'log_id("run.googleapis.com/requests")' in exclusion["filter"]
    assert "resource.labels.service_name" in exclusion["filter"] and "${var.name}" in exclusion["filter"]
    assert exclusion["count"] == "${var.exclude_request_log ? 1 : 0}"
    assert collect.variables["exclude_request_log"]["default"] is True
    assert modules["root"].variables["exclude_collect_request_log"]["default"] is True
