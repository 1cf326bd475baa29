"""The cookie keeper's Terraform (infra/cookie_keeper.tf, modules/ingest_function/cookie_keeper.tf):
nothing unless enabled; then a Native-mode Firestore database, a TTL policy on ``expire_at``
of the collection the code writes, roles/datastore.user for collect on that database only,
the salt through Secret Manager, and the settings the code reads.

TTL policies: https://cloud.google.com/firestore/docs/ttl (a timestamp field; deletion
typically within 24 h after expiry). IAM conditions on Firestore databases:
https://cloud.google.com/firestore/docs/security/iam#conditions
"""

from __future__ import annotations

import pytest

from shared import collect_secrets
from shared.first_party import cookie_keeper
from tests.infra.hcl import all_modules

GATED = "${local.cookie_keeper_on ? 1 : 0}"


@pytest.fixture(scope="module")
def modules():
    return all_modules()


def test_off_by_default_with_a_typed_described_variable(modules):
    root = modules["root"]
    variable = root.variables["cookie_keeper"]
    assert variable["default"] == {} and "restore_only" in variable["description"]
    assert root.locals["cookie_keeper_on"] == '${var.cookie_keeper.mode != "off"}'
    module = modules["ingest_function"].variables["cookie_keeper"]["default"]
    assert module["mode"] == cookie_keeper.KeeperConfig().mode == "off"
    assert module["ttl_days"] == cookie_keeper.KeeperConfig().ttl_days
    assert module["timeout_ms"] / 1000 == cookie_keeper.KeeperConfig().timeout_seconds
    # The Terraform list of cookie names is the code's default list.
    validation = str(root.variables["cookie_keeper"]["validation"])
    for name in cookie_keeper.DEFAULT_NAMES:
        assert f'"{name}"' in validation, name


def test_every_keeper_resource_exists_only_when_enabled(modules):
    root = modules["root"]
    for (rtype, name), body in root.resources.items():
        if "cookie_keeper" in name:
            assert body["count"] == GATED, (rtype, name)
    collect = modules["ingest_function"]
    assert collect.of_type("google_project_iam_member")["cookie_keeper_store"]["count"] == GATED


def test_firestore_native_database_with_ttl_on_the_field_the_code_writes(modules):
    root = modules["root"]
    database = root.of_type("google_firestore_database")["cookie_keeper"]
    assert database["type"] == "FIRESTORE_NATIVE"
    assert database["name"] == "${local.cookie_keeper_database}"
    fields = root.of_type("google_firestore_field")
    ttl = fields["cookie_keeper_expire_at"]
    assert ttl["field"] == "expire_at" and "ttl_config" in ttl
    assert ttl["collection"] == "${local.cookie_keeper_collection}"
    assert root.locals["cookie_keeper_collection"] == cookie_keeper.KeeperConfig().collection
    assert fields["cookie_keeper_cookies"]["field"] == "cookies"


def test_collect_may_use_only_the_keeper_database(modules):
    grant = modules["ingest_function"].of_type("google_project_iam_member")["cookie_keeper_store"]
    assert grant["role"] == "roles/datastore.user"
    assert grant["member"] == "${google_service_account.this.member}"
    expression = grant["condition"][0]["expression"].replace('\\"', '"')  # python-hcl2 keeps the escapes
    assert 'resource.name == "projects/${var.project_id}/databases/${var.cookie_keeper_database}"' in expression


def test_settings_and_salt_reach_collect(modules):
    collect = modules["ingest_function"]
    settings = collect.locals["cookie_keeper_settings"]
    for name in ("COOKIE_KEEPER", "COOKIE_KEEPER_COOKIES", "COOKIE_KEEPER_TTL_DAYS", "COOKIE_KEEPER_TIMEOUT_MS"):
        assert name in settings
    assert "SECRET_COOKIE_KEEPER_SALT" in collect.locals["cookie_keeper_secret_refs"]
    assert collect_secrets.KEEPER_SALT == "COOKIE_KEEPER_SALT"
    function = collect.of_type("google_cloudfunctions2_function")["this"]
    env = function["service_config"][0]["environment_variables"]
    assert "local.cookie_keeper_settings" in env and "local.cookie_keeper_secret_refs" in env
    call = modules["root"].calls["collect"]
    assert "google_secret_manager_secret_version.cookie_keeper_salt[0].secret" in call["cookie_keeper_salt_secret_id"]
    assert modules["root"].of_type("google_secret_manager_secret")["cookie_keeper_salt"]["secret_id"] == (
        "COOKIE_KEEPER_SALT"
    )
