"""collect's deployment passes every documented setting and reads its secrets at runtime.

Structural tests with python-hcl2 (terraform apply cannot run here): each setting in the
tables of docs/ga4-client.md and docs/first-party.md reaches collect's environment through a
typed, described root variable whose default is the code's default; the validation patterns
agree with the code's own checks; and collect's secrets are SECRET_<NAME> references read by
shared/collect_secrets.py, with secretAccessor on exactly those secrets.
"""

from __future__ import annotations

import re

import pytest

from shared import collect_secrets
from shared.first_party import cookies, scripts
from shared.ga4 import limits
from tests.infra.fake_tools import FakeCloud
from tests.infra.hcl import REPO_ROOT, all_modules

# Documented settings that are not Terraform variables, and why.
NOT_VARIABLES = {
    "LOG_HITS": "local only: raw hits hold IPs and identifiers",
    "EVENTS_TOPIC": "the event bus module's topic",
    "TRUSTED_PROXY_HOPS": "derived from domain_mode in infra/edge.tf (trusted_proxy_hops overrides)",
}
# root variable => (environment variable, the code's default as Terraform states it)
ROOT_VARIABLES = {
    "allowed_measurement_ids": ("ALLOWED_MEASUREMENT_IDS", []),
    "allowed_origins": ("ALLOWED_ORIGINS", []),
    "cookie_domain": ("COOKIE_DOMAIN", ""),
    "cookie_max_age_days": ("COOKIE_MAX_AGE_DAYS", 395),
    "server_cookies": ("SERVER_COOKIES", []),
    "allowed_tag_ids": ("ALLOWED_TAG_IDS", []),
    "tag_aliases": ("TAG_ALIASES", {}),
    "tag_upstream_origin": ("TAG_UPSTREAM_ORIGIN", scripts.DEFAULT_UPSTREAM),
    "tag_server_container_url": ("TAG_SERVER_CONTAINER_URL", ""),
    "tag_cache_seconds": ("TAG_CACHE_SECONDS", scripts.MAX_TTL_SECONDS),
    "tag_stale_seconds": ("TAG_STALE_SECONDS", scripts.DEFAULT_STALE_SECONDS),
    "script_gateway_path": ("SCRIPT_GATEWAY_PATH", ""),
    "script_gateway_tag_id": ("SCRIPT_GATEWAY_TAG_ID", ""),
    "script_gateway_placeholder": ("SCRIPT_GATEWAY_PLACEHOLDER", scripts.DEFAULT_PLACEHOLDER),
    "collect_max_events": ("COLLECT_MAX_EVENTS", limits.DEFAULT_MAX_EVENTS),
    "collect_body_read_seconds": ("BODY_READ_SECONDS", 5),
}


@pytest.fixture(scope="module")
def modules():
    return all_modules()


@pytest.fixture(scope="module")
def collect_locals(modules) -> dict:
    return modules["ingest_function"].locals


def documented_settings() -> set[str]:
    """First-column names of the settings tables of the two collect docs."""
    names: set[str] = set()
    for doc in ("docs/ga4-client.md", "docs/first-party.md"):
        text = (REPO_ROOT / doc).read_text()
        section = text[text.index("## Settings") :] if "## Settings" in text else text
        for match in re.finditer(r"^\| ((?:`[A-Z][A-Z0-9_*]+`(?:\s*\([^)]*\))?,?\s*)+)\|", section, re.MULTILINE):
            names.update(re.findall(r"`([A-Z][A-Z0-9_*]+)`", match.group(1)))
    return {name for name in names if "*" not in name}  # TAG_* is a pointer to first-party.md


def test_every_documented_setting_reaches_collect(modules, collect_locals):
    documented = documented_settings()
    assert {"ALLOWED_TAG_IDS", "TAG_SERVER_CONTAINER_URL", "SERVER_COOKIES", "PUBLISH_MAX_IN_FLIGHT"} <= documented, (
        documented
    )
    env = collect_locals["settings"]
    # The cookie keeper's settings are passed only when it is on (test_cookie_keeper_infra.py).
    keeper_env = collect_locals["cookie_keeper_settings"]
    secret_names = modules["ingest_function"].variables["secret_names"]["default"]
    for name in documented - set(NOT_VARIABLES):
        if name == collect_secrets.KEEPER_SALT:
            assert f"SECRET_{name}" in collect_locals["cookie_keeper_secret_refs"], name
        elif name.startswith("COOKIE_KEEPER"):
            assert name in keeper_env, f"{name} is documented but Terraform does not pass it"
        elif name in collect_secrets.NAMES:
            # A secret, referenced as SECRET_<NAME> (test_collect_reads_its_secrets_at_runtime).
            assert name in secret_names or f"SECRET_{name}" in collect_locals["secret_refs"], name
        else:
            assert name in env, f"{name} is documented but Terraform does not pass it"
    assert "LOG_HITS" not in env
    for name in ("EVENTS_TOPIC", "TRUSTED_PROXY_HOPS"):
        assert name in env


def test_each_setting_has_a_typed_described_root_variable_with_the_codes_default(modules, collect_locals):
    root = modules["root"]
    call = root.calls["collect"]
    env = collect_locals["settings"]
    module_vars = modules["ingest_function"].variables
    for variable, (setting, default) in ROOT_VARIABLES.items():
        spec = root.variables[variable]
        assert spec.get("type") and spec.get("description"), variable
        assert spec["default"] == default, variable
        assert setting in spec["description"], f"{variable}'s description names {setting}"
        # Passed to the module, and the module's variable feeds the environment variable.
        passed = [name for name, value in call.items() if value == f"${{var.{variable}}}"]
        assert len(passed) == 1, f"{variable} is not passed to module.collect"
        assert passed[0] in module_vars, passed[0]
        assert f"var.{passed[0]}" in str(env[setting]), f"{setting} does not come from var.{passed[0]}"
    publishing = root.variables["collect_publishing"]
    assert (
        "PUBLISH_TIMEOUT_SECONDS" in publishing["description"] and "PUBLISH_MAX_IN_FLIGHT" in publishing["description"]
    )
    assert "optional(number, 5)" in str(publishing["type"]) and "optional(number, 2)" in str(publishing["type"])
    assert call["publishing"] == "${var.collect_publishing}"
    assert env["PUBLISH_TIMEOUT_SECONDS"] == "${tostring(var.publishing.timeout_seconds)}"
    assert env["PUBLISH_MAX_IN_FLIGHT"] == "${tostring(var.publishing.max_in_flight)}"
    # Lists and maps are joined the way settings.env_list and ScriptConfig.from_env split them.
    assert env["ALLOWED_TAG_IDS"] == '${join(",", var.allowed_tag_ids)}'
    assert env["TAG_ALIASES"] == '${join(",", [for path, id in var.tag_aliases : "${path}=${id}"])}'
    assert env["SERVER_COOKIES"] == '${join(",", var.server_cookies)}'


def validation_regex(modules, variable: str) -> str:
    conditions = [v["condition"] for v in modules["root"].variables[variable]["validation"]]
    found = re.findall(r'regex\("((?:[^"\\]|\\.)*)"', " ".join(conditions))
    assert found, variable
    return found[0].replace("\\\\", "\\")


@pytest.mark.parametrize(
    "tag_id",
    [
        "G-ABCD1234",
        "GT-ABCD123",
        "GTM-ABCD12",
        "AW-123456789",
        "DC-ABCD1",
        "G-abcd1234",
        "UA-1234-1",
        "G-ABC",
        "GTM-AB CD",
        "x",
    ],
)
def test_the_tag_id_pattern_agrees_with_collect(modules, tag_id):
    pattern = validation_regex(modules, "allowed_tag_ids")
    assert bool(re.fullmatch(pattern, tag_id)) == bool(scripts.TAG_ID.fullmatch(tag_id)), tag_id


@pytest.mark.parametrize(
    "path, ok",
    [
        ("/k7x2q9", True),
        ("/abcdefghij", True),
        ("/abc", False),
        ("/k7x2q9/x", False),
        ("/mygtmxx", False),
        ("/Collect1", False),
    ],
)
def test_the_alias_pattern_agrees_with_collect(path, ok):
    tf = (REPO_ROOT / "infra" / "variables.tf").read_text()
    assert (
        'can(regex("^/[A-Za-z0-9]{6,10}$", path)) && !can(regex("(?i)gtm|gtag|google|analytics|collect", path))' in tf
    )
    terraform_ok = bool(re.fullmatch(r"/[A-Za-z0-9]{6,10}", path)) and not re.search(
        r"(?i)gtm|gtag|google|analytics|collect", path
    )
    code_ok = bool(scripts.ALIAS_PATH.fullmatch(path)) and not scripts._ALIAS_FORBIDDEN.search(path)
    assert terraform_ok == code_ok == ok


def test_server_cookie_families_are_the_codes(modules):
    condition = modules["root"].variables["server_cookies"]["validation"][0]["condition"]
    listed = set(re.findall(r'"([a-z_]+)"', condition))
    assert listed == {"all", *cookies.FAMILIES}


@pytest.mark.parametrize(
    "value, ok",
    [
        ("", True),
        ("auto", True),
        ("host", True),
        ("example.com", True),
        ("shop.example.co.uk", True),
        ("https://example.com", False),
        ("example.com/x", False),
        (".example.com", False),
        ("Example.com", False),
    ],
)
def test_cookie_domain_validation(modules, value, ok):
    pattern = validation_regex(modules, "cookie_domain")
    assert (value in ("", "auto", "host") or bool(re.fullmatch(pattern, value))) == ok


@pytest.mark.parametrize(
    "variable, low, high",
    [("tag_cache_seconds", 1, 900), ("tag_stale_seconds", 0, 86400), ("cookie_max_age_days", 1, 400)],
)
def test_numeric_bounds_match_the_code(modules, variable, low, high):
    condition = modules["root"].variables[variable]["validation"][0]["condition"]
    assert f">= {low}" in condition and f"<= {high}" in condition


def test_upstream_and_loader_urls_are_validated_like_the_code(modules):
    origin = validation_regex(modules, "tag_upstream_origin")
    assert re.fullmatch(origin, scripts.DEFAULT_UPSTREAM)
    assert not re.fullmatch(origin, "https://www.googletagmanager.com/gtag/js")
    loader = validation_regex(modules, "tag_server_container_url")
    for url in ("https://track.example.com", "https://www.example.com/metrics", "https://x.example.com/a?b=c"):
        assert bool(re.fullmatch(loader, url)) == bool(scripts._SERVER_URL.fullmatch(url)), url


def test_body_read_deadline_stays_below_the_function_timeout(modules):
    function = modules["ingest_function"].of_type("google_cloudfunctions2_function")["this"]
    condition = function["lifecycle"][0]["precondition"][0]["condition"]
    assert condition == "${var.body_read_seconds < var.scaling.timeout_seconds}"


# --- secrets at runtime ------------------------------------------------------------------------


def test_collect_reads_its_secrets_at_runtime(modules, collect_locals):
    collect = modules["ingest_function"]
    assert "secret_environment_variables" not in collect.text  # nothing resolved at deploy time
    assert "provisioned_secrets" not in collect.text and "provisioned_secrets" not in modules["root"].calls["collect"]
    assert collect_locals["settings"]["SECRETS_BACKEND"] == "secretmanager"
    refs = collect_locals["secret_refs"]
    assert (
        '"SECRET_${s}" => "projects/${var.project_id}/secrets/${google_secret_manager_secret.this[s].secret_id}/versions/latest"'
        in refs
    )
    assert (
        'SECRET_EDGE_AUTH_SECRETS = "projects/${var.project_id}/secrets/${reverse(split("/", var.edge_auth_secret_id))[0]}/versions/latest"'
        in refs
    )
    # The names the code reads are the names Terraform creates and references.
    assert set(collect.variables["secret_names"]["default"]) | {"EDGE_AUTH_SECRETS"} == set(collect_secrets.NAMES)


def test_collect_may_read_exactly_its_own_secrets(modules):
    collect = modules["ingest_function"]
    grants = collect.of_type("google_secret_manager_secret_iam_member")
    assert set(grants) == {"reads_own_secrets", "reads_edge_auth", "reads_cookie_keeper_salt"}
    own = grants["reads_own_secrets"]
    assert own["for_each"] == "${google_secret_manager_secret.this}"
    assert own["secret_id"] == "${each.value.secret_id}" and own["role"] == "roles/secretmanager.secretAccessor"
    assert collect.of_type("google_secret_manager_secret")["this"]["for_each"] == "${toset(var.secret_names)}"
    edge = grants["reads_edge_auth"]
    assert (
        edge["secret_id"] == "${var.edge_auth_secret_id}"
        and edge["count"] == "${var.edge_auth_secret_id == null ? 0 : 1}"
    )
    salt = grants["reads_cookie_keeper_salt"]
    assert (
        salt["secret_id"] == "${var.cookie_keeper_salt_secret_id}"
        and salt["count"] == "${var.cookie_keeper_salt_secret_id == null ? 0 : 1}"
    )
    # No project-wide secret access for anyone.
    for name, module in modules.items():
        for (rtype, rname), body in module.resources.items():
            if rtype == "google_project_iam_member":
                assert "secretmanager" not in str(body.get("role")), f"{name}: {rname}"
    # The grants exist before an instance starts and reads them.
    function = collect.of_type("google_cloudfunctions2_function")["this"]
    assert "${google_secret_manager_secret_iam_member.reads_own_secrets}" in function["depends_on"]
    assert "${google_secret_manager_secret_iam_member.reads_edge_auth}" in function["depends_on"]


def test_the_secrets_output_no_longer_asks_for_a_redeploy(modules):
    output = modules["root"].outputs["secrets"]["description"]
    assert "without a redeploy" in output and "make deploy` again" not in output


# --- make deploy (infra/deploy.sh against fake gcloud and terraform) -------------------------


def test_deploy_leaves_collects_settings_to_terraform_tfvars(tmp_path, modules):
    # Terraform gives a -var-file precedence over terraform.tfvars: if deploy.sh wrote any of
    # collect's settings, it would silently override the operator's value.
    cloud = FakeCloud(tmp_path, secrets={"MP_API_SECRETS": False, "DEBUG_TOKEN": False})
    (cloud.infra / "terraform.tfvars").write_text(
        'allowed_tag_ids = ["G-ABCD1234"]\nserver_cookies = ["meta"]\nallowed_origins = ["https://www.example.com"]\n'
    )
    result = cloud.run("deploy", PROJECT="my-project-123", REGION="europe-west1", DOMAIN="track.example.com")
    assert result.returncode == 0, result.stderr
    written = cloud.tfvars()
    assert set(written) <= set(modules["root"].variables), "deploy.sh writes a variable the root module lacks"
    assert not set(written) & (set(ROOT_VARIABLES) | {"collect_publishing"}) - {"allowed_origins"}
    # A first deploy whose secrets hold no value yet deploys collect all the same: it reads them at runtime.
    assert written["provisioned_secrets"] == []
