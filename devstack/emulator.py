"""The official Pub/Sub emulator (``gcloud beta emulators pubsub start``) as a managed process."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from devstack.processes import ManagedProcess, wait_for_port


class PubSubEmulator:
    """Start and stop the Pub/Sub emulator on 127.0.0.1:``port`` for ``project``."""

    def __init__(self, port: int, project: str, log_dir: Path) -> None:
        self.port = port
        self.project = project
        self.host = f"127.0.0.1:{port}"
        self._data_dir = Path(tempfile.mkdtemp(prefix="pubsub-emulator-"))
        gcloud = shutil.which("gcloud")
        if gcloud is None:
            raise RuntimeError(
                "gcloud is not on PATH: install the Google Cloud CLI with the "
                "pubsub-emulator component (and Java 17) to run the local stack"
            )
        self.process = ManagedProcess(
            "pubsub-emulator",
            [
                gcloud,
                "beta",
                "emulators",
                "pubsub",
                "start",
                f"--host-port={self.host}",
                f"--project={project}",
                f"--data-dir={self._data_dir}",
                "--quiet",
            ],
            log_dir / "pubsub-emulator.log",
            env={**os.environ, "CLOUDSDK_CORE_DISABLE_PROMPTS": "1"},
        )

    def start(self, timeout: float = 60.0) -> PubSubEmulator:
        self.process.start()
        wait_for_port(self.port, timeout, self.process)
        return self

    def stop(self) -> None:
        self.process.stop()
        shutil.rmtree(self._data_dir, ignore_errors=True)

    def env(self) -> dict[str, str]:
        """Environment variables that point Google's client libraries at this emulator."""
        return {"PUBSUB_EMULATOR_HOST": self.host, "PUBSUB_PROJECT_ID": self.project}
