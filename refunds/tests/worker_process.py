"""A real Celery worker in a subprocess (``celery -A backoffice worker``), so a test can SIGKILL it.

Used by the worker tests and by ``benchmarks/refunds.py``. The worker reads its
settings from the environment this module builds: the database the caller uses
(the test database, by name), the broker, the Stripe fake's URL.
"""

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from urllib.parse import quote

BASE_DIR = Path(__file__).resolve().parents[2]


def database_url(settings_dict: dict) -> str:
    """A DATABASE_URL for the database Django is connected to (pytest's test database)."""
    user = quote(settings_dict.get("USER") or "")
    password = settings_dict.get("PASSWORD") or ""
    auth = f"{user}:{quote(password)}@" if password else (f"{user}@" if user else "")
    host = settings_dict.get("HOST") or "127.0.0.1"
    port = settings_dict.get("PORT") or 5432
    return f"postgres://{auth}{host}:{port}/{settings_dict['NAME']}"


class WorkerProcess:
    def __init__(self, env: dict[str, str], log_path: Path, *, pool: str = "solo", concurrency: int = 1):
        self.env = {**os.environ, "CELERY_TASK_ALWAYS_EAGER": "false", **env}
        self.log_path = Path(log_path)
        self.pool, self.concurrency = pool, concurrency
        self.process: subprocess.Popen | None = None
        self.starts = 0

    def start(self, timeout: float = 60) -> "WorkerProcess":
        self.starts += 1
        log = self.log_path.open("ab")
        marker = len(self.log_path.read_bytes()) if self.log_path.exists() else 0
        self.process = subprocess.Popen(
            [
                sys.executable, "-m", "celery", "-A", "backoffice", "worker",
                f"--pool={self.pool}", f"--concurrency={self.concurrency}",
                "--without-gossip", "--without-mingle", "--without-heartbeat",
                "--loglevel=INFO", "-n", f"refunds-{uuid.uuid4().hex[:8]}@%h",
            ],
            cwd=BASE_DIR, env=self.env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the worker exited with {self.process.returncode}:\n{self.log_tail()}")
            if b" ready." in self.log_path.read_bytes()[marker:]:
                return self
            time.sleep(0.1)
        raise RuntimeError(f"the worker was not ready within {timeout} s:\n{self.log_tail()}")

    @property
    def pid(self) -> int:
        return self.process.pid

    def kill(self) -> None:
        """SIGKILL: no shutdown, no ack, the message it was running stays unacknowledged in Redis."""
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(10)

    def stop(self, timeout: float = 20) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()

    def log_tail(self, lines: int = 40) -> str:
        if not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
