"""Child processes of the local stack: started in their own process group, stopped by PID.

Every process the stack starts (the emulator, functions, mock vendors) is a ``ManagedProcess``.
Each runs in a new session so that ``stop()`` can signal its whole group by the PID we hold:
the gcloud emulator wrapper, for instance, leaves a Java child behind if only the wrapper is
killed. Nothing is ever killed by name.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, timeout: float, process: ManagedProcess | None = None) -> None:
    """Block until something accepts TCP connections on 127.0.0.1:port."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(
                f"{process.name} exited with {process.poll()} before listening on {port}; see {process.log_path}"
            )
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout}s")


class ManagedProcess:
    """One child process with its output in a log file, stoppable by its process group."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        log_path: Path,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
    ) -> None:
        self.name = name
        self.argv = list(argv)
        self.log_path = Path(log_path)
        self.env = dict(env) if env is not None else dict(os.environ)
        self.cwd = cwd
        self._popen: subprocess.Popen | None = None

    @property
    def pid(self) -> int | None:
        return self._popen.pid if self._popen else None

    def start(self) -> ManagedProcess:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        # The child keeps its own descriptor; ours is closed once it is started.
        with open(self.log_path, "ab", buffering=0) as log:
            self._popen = subprocess.Popen(
                self.argv,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=self.env,
                cwd=self.cwd,
                start_new_session=True,
            )
        return self

    def poll(self) -> int | None:
        return self._popen.poll() if self._popen else None

    def signal_group(self, sig: int) -> None:
        """Send ``sig`` to the process group we created (pgid == our child's PID)."""
        if self._popen is None or self._popen.poll() is not None:
            # The leader is gone, but its children may live on in the group.
            pass
        if self._popen is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self._popen.pid, sig)

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM the group, then SIGKILL whatever is left after ``timeout`` seconds."""
        if self._popen is None:
            return
        self.signal_group(signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self._popen.wait(timeout=timeout)
        self.signal_group(signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):  # after SIGKILL only a refusing kernel times out
            self._popen.wait(timeout=5)
        # Give the group's other members (e.g. the emulator's JVM) a moment to be reaped.
        for _ in range(50):
            if not _group_alive(self._popen.pid):
                break
            time.sleep(0.05)

    def kill(self) -> None:
        """SIGKILL the group at once (fault injection: a crash, not a shutdown)."""
        self.signal_group(signal.SIGKILL)
        if self._popen is not None:
            self._popen.wait(timeout=10)

    def tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return ""


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:  # pragma: no cover
        return True
