"""The vendor discovery Terraform runs, evaluated by terraform itself.

modules/vendor_config is pure expressions over config/vendors.yaml and the vendor folders (no
provider), so `terraform apply` evaluates it offline and its outputs are exactly what the root
module deploys: one vendor module per entry here.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import yaml

from devstack import config as devstack_config
from tests.infra.hcl import MODULES, REPO_ROOT
from tests.infra.terraform import run


def evaluate(tmp_path: Path, config_file: Path, vendors_dir: Path) -> dict:
    """Apply modules/vendor_config in a scratch folder and return its outputs."""
    work = tmp_path / "vendor_config"
    shutil.copytree(MODULES / "vendor_config", work)
    init = run(["init", "-input=false", "-no-color"], work)
    assert init.returncode == 0, init.stderr
    apply = run(
        [
            "apply", "-auto-approve", "-input=false", "-no-color",
            f"-var=config_file={config_file}", f"-var=vendors_dir={vendors_dir}",
        ],
        work,
    )
    assert apply.returncode == 0, apply.stderr
    output = run(["output", "-json", "-no-color"], work)
    assert output.returncode == 0, output.stderr
    return {name: value["value"] for name, value in json.loads(output.stdout).items()}


def test_repository_config_deploys_every_enabled_vendor_with_its_folder(tmp_path):
    config_file = REPO_ROOT / "config" / "vendors.yaml"
    outputs = evaluate(tmp_path, config_file, REPO_ROOT / "functions" / "vendors")
    raw = yaml.safe_load(config_file.read_text())
    enabled = {name for name, entry in (raw.get("vendors") or {}).items() if (entry or {}).get("enabled", True)}

    assert outputs["missing_folders"] == []
    assert set(outputs["vendors"]) == enabled
    for name in outputs["vendors"]:
        assert (REPO_ROOT / "functions" / "vendors" / name / "main.py").is_file()

    # Terraform and `make run` read the same file the same way.
    stack = devstack_config.load(config_file)
    cloud = stack.cloud_retry
    assert outputs["delivery"] == {
        "max_delivery_attempts": cloud.max_delivery_attempts,
        "minimum_backoff_seconds": cloud.minimum_backoff_seconds,
        "maximum_backoff_seconds": cloud.maximum_backoff_seconds,
    }
    for vendor in stack.enabled_vendors():
        deployed = outputs["vendors"][vendor.name]
        local_env = {k: v for k, v in vendor.environment().items() if k != f"{vendor.name.upper()}_EVENTS"}
        assert deployed["settings"] == local_env
        prefix = f"{vendor.name.upper()}_"
        assert deployed["secrets"] == [s if s.startswith(prefix) else prefix + s for s in vendor.secrets]
        assert deployed["events"] == list(vendor.events)
        assert len(deployed["filter"].encode()) <= 256, f"{vendor.name}: filter over Pub/Sub's 256 bytes"


def test_discovery_filters_settings_and_missing_folders(tmp_path):
    vendors_dir = tmp_path / "vendors"
    for name in ("shop", "dormant", "bare"):
        (vendors_dir / name).mkdir(parents=True)
        (vendors_dir / name / "main.py").write_text("# a vendor\n")
    (vendors_dir / "no_main").mkdir()  # a folder without main.py is not a vendor
    config_file = tmp_path / "vendors.yaml"
    config_file.write_text(
        yaml.safe_dump(
            {
                "delivery": {"cloud": {"max_delivery_attempts": 7}},
                "vendors": {
                    "shop": {
                        "enabled": True,
                        "events": ["purchase", "add_to_cart"],
                        "settings": {"PIXEL_ID": "123", "EMPTY": "", "TEST_CODE": None},
                        "secrets": ["SHOP_ACCESS_TOKEN", "API_KEY"],
                    },
                    "dormant": {"enabled": False},
                    "bare": None,
                    "ghost": {"enabled": True},
                    "no_main": {},
                },
            }
        )
    )
    outputs = evaluate(tmp_path, config_file, vendors_dir)

    assert outputs["folders"] == ["bare", "dormant", "shop"]
    assert outputs["missing_folders"] == ["ghost", "no_main"]
    assert set(outputs["vendors"]) == {"shop", "bare"}
    assert outputs["vendors"]["shop"].pop("delivery") == "push"  # the default (test_batch_infra.py)
    assert outputs["vendors"]["shop"] == {
        "events": ["purchase", "add_to_cart"],
        "filter": 'attributes.event_name = "purchase" OR attributes.event_name = "add_to_cart"',
        "secrets": ["SHOP_ACCESS_TOKEN", "SHOP_API_KEY"],
        "settings": {"SHOP_PIXEL_ID": "123"},
    }
    assert outputs["vendors"]["bare"] == {"events": [], "delivery": "push", "filter": "", "secrets": [], "settings": {}}
    assert outputs["delivery"] == {"max_delivery_attempts": 7, "minimum_backoff_seconds": 10, "maximum_backoff_seconds": 600}
    assert outputs["duplicate_secrets"] is False


def test_duplicate_secret_names_are_reported(tmp_path):
    vendors_dir = tmp_path / "vendors"
    for name in ("shop", "shop_eu"):
        (vendors_dir / name).mkdir(parents=True)
        (vendors_dir / name / "main.py").write_text("# a vendor\n")
    config_file = tmp_path / "vendors.yaml"
    config_file.write_text(
        # both mean SHOP_EU_TOKEN
        yaml.safe_dump({"vendors": {"shop": {"secrets": ["EU_TOKEN"]}, "shop_eu": {"secrets": ["TOKEN"]}}})
    )
    assert evaluate(tmp_path, config_file, vendors_dir)["duplicate_secrets"] is True


def test_privacy_rules_and_ip_truncation_reach_the_functions_as_make_run_passes_them(tmp_path):
    """config/vendors.yaml `transformations:` → <VENDOR>_TRANSFORMATIONS (the same JSON document
    make run sets) and `privacy.ip_truncation` → collect's IP_TRUNCATION (docs/privacy.md)."""
    fixture = REPO_ROOT / "tests" / "fixtures" / "privacy" / "owner-example.yaml"
    raw = yaml.safe_load(fixture.read_text())
    raw["privacy"] = {"ip_truncation": "strict"}
    raw["transformations"].append({"name": "tagged", "type": "augment", "key": "origin", "value": "<server & co>",
                                   "priority": 3, "conditions": {"consent": {"ad_user_data": ["denied", "not_set"]}}})
    config_file = tmp_path / "vendors.yaml"
    config_file.write_text(yaml.safe_dump(raw))
    outputs = evaluate(tmp_path, config_file, REPO_ROOT / "functions" / "vendors")

    stack = devstack_config.load(config_file)
    assert outputs["collect_settings"] == stack.collect_environment() == {"IP_TRUNCATION": "strict"}
    for vendor in stack.enabled_vendors():
        key = f"{vendor.name.upper()}_TRANSFORMATIONS"
        deployed = outputs["vendors"][vendor.name]["settings"]
        local = vendor.environment()
        # One JSON document, equal once parsed (Terraform escapes <, > and & as \u003c...).
        assert json.loads(deployed.pop(key)) == json.loads(local.pop(key)) == raw["transformations"]
        assert deployed == {k: v for k, v in local.items() if k != f"{vendor.name.upper()}_EVENTS"}

    # Without rules or truncation, nothing is added.
    outputs = evaluate(tmp_path / "plain", REPO_ROOT / "config" / "vendors.yaml", REPO_ROOT / "functions" / "vendors")
    assert outputs["collect_settings"] == {}
    assert not any(k.endswith("_TRANSFORMATIONS") for v in outputs["vendors"].values() for k in v["settings"])


def test_a_vendor_on_google_tokens_gets_no_secret_and_the_ad_vendors_theirs(tmp_path):
    """googleads authenticates as its function's service account: enabled, it has no secret
    (nothing to provision), while the token vendors get theirs as <VENDOR>_<NAME>."""
    raw = yaml.safe_load((REPO_ROOT / "config" / "vendors.yaml").read_text())
    for name in ("snapchat", "pinterest", "reddit", "linkedin", "microsoft", "googleads"):
        raw["vendors"][name]["enabled"] = True
    config_file = tmp_path / "vendors.yaml"
    config_file.write_text(yaml.safe_dump(raw))
    outputs = evaluate(tmp_path, config_file, REPO_ROOT / "functions" / "vendors")
    vendors = outputs["vendors"]
    assert vendors["googleads"]["secrets"] == []
    assert vendors["googleads"]["settings"] == {}  # empty settings are left out
    assert vendors["linkedin"]["secrets"] == ["LINKEDIN_ACCESS_TOKEN", "LINKEDIN_CLIENT_ID",
                                              "LINKEDIN_CLIENT_SECRET", "LINKEDIN_REFRESH_TOKEN"]
    for name in ("snapchat", "pinterest", "reddit", "microsoft"):
        assert vendors[name]["secrets"] == [f"{name.upper()}_ACCESS_TOKEN"]
    assert outputs["duplicate_secrets"] is False


def test_the_data_manager_api_is_enabled_only_with_googleads():
    main = (REPO_ROOT / "infra" / "main.tf").read_text()
    assert 'contains(keys(module.vendor_config.vendors), "googleads") ? ["datamanager.googleapis.com"] : []' in main
