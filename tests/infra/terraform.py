"""Running the terraform CLI offline: no provider downloads, no version check."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest


def terraform_env() -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        CHECKPOINT_DISABLE="1",  # no call to HashiCorp's version-check service
        TF_IN_AUTOMATION="1",
        TF_INPUT="0",
        TF_CLI_CONFIG_FILE=os.devnull,
    )
    return env


def terraform_binary() -> str:
    binary = shutil.which("terraform")
    if binary is None:
        pytest.fail("terraform is not installed (Terraform >= 1.9 on the PATH is needed for the infra tests)")
    return binary


def run(args: list[str], cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [terraform_binary(), *args],
        cwd=cwd,
        env=terraform_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
