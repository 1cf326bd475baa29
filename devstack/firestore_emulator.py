"""The official Firestore emulator (``gcloud emulators firestore start``) as a managed process.

Used by the cookie keeper's integration test (shared/first_party/cookie_keeper.py); started
in its own process group and stopped by PID like the Pub/Sub emulator (devstack/emulator.py).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from devstack.processes import ManagedProcess, wait_for_port


class FirestoreEmulator:
    """Start and stop the Firestore emulator (Native mode) on 127.0.0.1:``port``."""

    def __init__(self, port: int, project: str, log_dir: Path) -> None:
        self.port = port
        self.project = project
        self.host = f"127.0.0.1:{port}"
        gcloud = shutil.which("gcloud")
        if gcloud is None:
            raise RuntimeError("gcloud is not on PATH: install the Google Cloud CLI with the cloud-firestore-emulator")
        self.process = ManagedProcess(
            "firestore-emulator",
            [gcloud, "emulators", "firestore", "start", f"--host-port={self.host}", f"--project={project}", "--quiet"],
            log_dir / "firestore-emulator.log",
            env={**os.environ, "CLOUDSDK_CORE_DISABLE_PROMPTS": "1"},
        )

    def start(self) -> FirestoreEmulator:
        """Start the process without waiting (see :meth:`wait`), so it boots beside others."""
        self.process.start()
        return self

    def wait(self, timeout: float = 60.0) -> FirestoreEmulator:
        wait_for_port(self.port, timeout, self.process)
        return self

    def stop(self) -> None:
        self.process.stop()

    def env(self) -> dict[str, str]:
        """Environment variables that point Google's Firestore clients at this emulator."""
        return {"FIRESTORE_EMULATOR_HOST": self.host, "GOOGLE_CLOUD_PROJECT": self.project}
