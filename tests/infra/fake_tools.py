"""Fake `gcloud` and `terraform` executables for running infra/deploy.sh offline.

`FakeCloud(tmp_path)` writes two small Python programs into a bin folder that goes first on
PATH. Each records its arguments (one JSON line per call) and answers from a little state of
the fake project kept in files: buckets that exist, secrets and whether they hold a version,
regions that offer Cloud Run functions, the plan `terraform show -json` prints. Any call whose
command line contains one of `fail_on` fails like the real tool would (message on stderr,
exit status 1), so a test can break any single step.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from tests.infra.hcl import INFRA

# -S: no site-packages scan at start-up; the fakes need the standard library only.
FAKE = r'''#!{python} -S
import json, os, sys
from pathlib import Path

TOOL = os.path.basename(sys.argv[0])
ARGS = sys.argv[1:]
STATE = Path(os.environ["FAKE_STATE"])
config = json.loads((STATE / "config.json").read_text())
with open(STATE / "calls.jsonl", "a") as log:
    log.write(json.dumps([TOOL, *ARGS]) + "\n")
line = " ".join([TOOL, *ARGS])
for pattern in config["fail_on"]:
    if pattern in line:
        sys.stderr.write(f"ERROR: ({{TOOL}}) fake failure of: {{pattern}}\n")
        sys.exit(1)


def flag(name):
    for i, a in enumerate(ARGS):
        if a == name and i + 1 < len(ARGS):
            return ARGS[i + 1]
        if a.startswith(name + "="):
            return a.split("=", 1)[1]
    return None


def has(*words):
    positional = [a for a in ARGS if not a.startswith("-")]
    return positional[: len(words)] == list(words)


buckets_file = STATE / "buckets.json"
buckets = json.loads(buckets_file.read_text()) if buckets_file.exists() else []

if TOOL == "gcloud":
    if has("auth", "application-default", "print-access-token"):
        print("fake-access-token")
    elif has("services", "enable"):
        pass
    elif has("beta", "services", "identity", "create"):
        print("Service identity created: service-123456789@gcp-sa-pubsub.iam.gserviceaccount.com")
    elif has("functions", "regions", "list"):
        print("\n".join(config["regions"]))
    elif has("storage", "buckets", "list"):
        wanted = (flag("--filter") or "").removeprefix("name=")
        print("\n".join(b for b in buckets if b == wanted))
    elif has("storage", "buckets", "create"):
        name = [a for a in ARGS if a.startswith("gs://")][0][5:]
        if name in buckets:
            sys.stderr.write("ERROR: HTTPError 409: bucket already exists\n")
            sys.exit(1)
        buckets_file.write_text(json.dumps(buckets + [name]))
    elif has("storage", "buckets", "update"):
        pass
    elif has("secrets", "versions", "list"):
        secret = [a for a in ARGS if not a.startswith("-")][3]
        if config["secrets"].get(secret):
            print(f"projects/123456789/secrets/{{secret}}/versions/1")
    elif has("secrets", "list"):
        for secret in config["secrets"]:
            print(f"projects/123456789/secrets/{{secret}}")
    elif has("pubsub", "subscriptions", "seek"):
        pass
    else:
        sys.stderr.write(f"fake gcloud: unexpected call {{ARGS}}\n")
        sys.exit(2)
elif TOOL == "terraform":
    args = [a for a in ARGS if not a.startswith("-chdir=")]
    command = args[0]
    if command == "plan":
        var_file = flag("-var-file")
        (STATE / "tfvars.json").write_text(Path(var_file).read_text())
        out = flag("-out")
        if out:
            Path(out).write_text("fake plan")
        print("Plan: fake")
    elif command == "show":
        print(json.dumps(config["plan"]))
    elif command == "output":
        print("https://track.example.com" if "-raw" in args else "{{}}")
    elif command in ("init", "apply", "destroy"):
        print(f"fake terraform {{command}}")
    else:
        sys.stderr.write(f"fake terraform: unexpected call {{args}}\n")
        sys.exit(2)
'''


@dataclass
class FakeCloud:
    """A fake project: the bin folder with both tools, and what they answer."""

    root: Path
    regions: list[str] = field(default_factory=lambda: ["europe-west1", "us-central1"])
    secrets: dict[str, bool] = field(default_factory=dict)  # secret id -> holds an enabled version
    fail_on: list[str] = field(default_factory=list)
    plan: dict = field(default_factory=lambda: {"resource_changes": []})

    def __post_init__(self):
        self.bin = self.root / "fakebin"
        self.state = self.root / "fakestate"
        self.bin.mkdir(parents=True, exist_ok=True)
        self.state.mkdir(parents=True, exist_ok=True)
        for tool in ("gcloud", "terraform"):
            path = self.bin / tool
            path.write_text(FAKE.format(python=sys.executable))
            path.chmod(0o755)
        # A copy of infra/deploy.sh in its own folder: INFRA_DIR is the script's folder, so a
        # test's terraform.tfvars or local state never touches the repository.
        self.infra = self.root / "infra"
        self.infra.mkdir(exist_ok=True)
        shutil.copy(INFRA / "deploy.sh", self.infra / "deploy.sh")

    def run(self, action: str = "deploy", **variables: str) -> subprocess.CompletedProcess:
        (self.state / "config.json").write_text(json.dumps(
            {"regions": self.regions, "secrets": self.secrets, "fail_on": self.fail_on, "plan": self.plan}
        ))
        (self.state / "calls.jsonl").write_text("")
        env = {
            "PATH": f"{self.bin}{os.pathsep}{os.environ['PATH']}",
            "HOME": str(self.root),
            "FAKE_STATE": str(self.state),
            **variables,
        }
        return subprocess.run([str(self.infra / "deploy.sh"), action], env=env, capture_output=True, text=True,
                              timeout=60)

    def calls(self) -> list[list[str]]:
        return [json.loads(line) for line in (self.state / "calls.jsonl").read_text().splitlines()]

    def commands(self) -> list[str]:
        """Each call as "tool word word ..." without flags (terraform's -chdir dropped)."""
        found = []
        for call in self.calls():
            words = [a for a in call if not a.startswith("-") and not a.startswith("gs://")]
            # deploy.sh's scratch folder (mktemp -d) differs between runs
            found.append(re.sub(r"\S*/tmp\.[A-Za-z0-9]+", "$WORK", " ".join(words)))
        return found

    def tfvars(self) -> dict:
        return json.loads((self.state / "tfvars.json").read_text())

    def buckets(self) -> list[str]:
        path = self.state / "buckets.json"
        return json.loads(path.read_text()) if path.exists() else []
