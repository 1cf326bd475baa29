"""`make deploy` / `make plan` / `make destroy` refuse clearly when something is missing.

Every case here stops before Terraform or any Google API is contacted: variables are checked
first, and the credentials check runs the real gcloud against an empty configuration folder
with the GCE metadata probe off, so it answers from local files only.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.infra.hcl import REPO_ROOT

SCRIPT = REPO_ROOT / "infra" / "deploy.sh"
GOOD = {"PROJECT": "my-project-123", "REGION": "europe-west1", "DOMAIN": "track.example.com"}


def deploy(tmp_path: Path, action: str = "deploy", via_make: bool = False, **variables: str) -> subprocess.CompletedProcess:
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(home),
        "CLOUDSDK_CONFIG": str(home / "gcloud"),  # no credentials, no configured account
        "CLOUDSDK_CORE_CHECK_GCE_METADATA": "false",  # never probe the metadata server
        "CLOUDSDK_CORE_DISABLE_USAGE_REPORTING": "true",
        "CHECKPOINT_DISABLE": "1",
        **variables,
    }
    if via_make:
        command = ["make", "--no-print-directory", "-s", action] + [f"{k}={v}" for k, v in variables.items()]
    else:
        command = [str(SCRIPT), action]
    return subprocess.run(command, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=120)


def assert_refused(result: subprocess.CompletedProcess, *phrases: str) -> None:
    assert result.returncode != 0
    assert "Traceback" not in result.stderr + result.stdout
    for phrase in phrases:
        assert phrase in result.stderr, result.stderr
    # It stopped before Terraform ran.
    assert "terraform init" not in result.stderr


@pytest.mark.parametrize("action", ["deploy", "plan", "destroy"])
def test_missing_project(tmp_path, action):
    result = deploy(tmp_path, action, REGION="europe-west1", DOMAIN="track.example.com")
    assert_refused(result, "PROJECT is not set", f"make {action} PROJECT=")


def test_project_name_instead_of_id(tmp_path):
    assert_refused(deploy(tmp_path, **{**GOOD, "PROJECT": "My Project"}), "is not a project ID")


def test_missing_region(tmp_path):
    result = deploy(tmp_path, PROJECT="my-project-123", DOMAIN="track.example.com")
    assert_refused(result, "REGION is not set")


def test_missing_domain_names_the_no_domain_option(tmp_path):
    result = deploy(tmp_path, PROJECT="my-project-123", REGION="europe-west1")
    assert_refused(result, "DOMAIN is not set", "DOMAIN_MODE=none")


@pytest.mark.parametrize("domain", ["https://track.example.com", "track.example.com/g/collect", 'x"y.com'])
def test_domain_must_be_a_host_name(tmp_path, domain):
    assert_refused(deploy(tmp_path, **{**GOOD, "DOMAIN": domain}), "is not a host name")


def test_region_must_be_a_region(tmp_path):
    assert_refused(deploy(tmp_path, **{**GOOD, "REGION": "Europe West"}), "is not a region name")


def test_unknown_domain_mode(tmp_path):
    assert_refused(deploy(tmp_path, **GOOD, DOMAIN_MODE="cdn"), "DOMAIN_MODE=cdn is not one of")


def test_unknown_action(tmp_path):
    result = deploy(tmp_path, "apply", **GOOD)
    assert_refused(result, "usage: deploy.sh deploy|plan|destroy")


@pytest.mark.skipif(shutil.which("gcloud") is None, reason="gcloud is a prerequisite of make setup")
def test_missing_credentials(tmp_path):
    result = deploy(tmp_path, **GOOD)
    assert_refused(result, "no Google Cloud credentials", "gcloud auth application-default login")


@pytest.mark.skipif(shutil.which("gcloud") is None, reason="gcloud is a prerequisite of make setup")
def test_no_domain_mode_needs_no_domain_but_still_credentials(tmp_path):
    result = deploy(tmp_path, PROJECT="my-project-123", REGION="europe-west1", DOMAIN_MODE="none")
    assert_refused(result, "no Google Cloud credentials")


def test_make_deploy_reports_the_same_message(tmp_path):
    result = deploy(tmp_path, "deploy", via_make=True, REGION="europe-west1")
    assert_refused(result, "PROJECT is not set")
