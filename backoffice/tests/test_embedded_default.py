"""README's run command on its embedded default: SQLite and local files, the demo loaded.

The suite runs on PostgreSQL, so code only PostgreSQL understands passes it and breaks the run command
(the refund execution's SQL path once did: the demo executes refunds). Here ``migrate`` and ``load_demo``
run as ``scripts/run.sh`` runs them, in a subprocess on a fresh SQLite file.
"""

import os
import sqlite3
import subprocess
import sys

from django.conf import settings


def test_the_demo_loads_on_sqlite_with_its_refunds_executed(tmp_path):
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "MEDIA_ROOT": str(tmp_path / "media"),
        "DJANGO_DEBUG": "true",
        # Tasks are published and left, as run.sh's worker would take them later; emails go nowhere.
        "CELERY_BROKER_URL": "memory://",
        "CELERY_TASK_ALWAYS_EAGER": "false",
        "EMAIL_URL": "dummymail://",
    }
    for command in (["migrate", "--noinput"], ["load_demo", "--url", "http://127.0.0.1:8000/admin/"]):
        done = subprocess.run(
            [sys.executable, "manage.py", *command],
            cwd=settings.BASE_DIR,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert done.returncode == 0, done.stderr[-3000:]

    with sqlite3.connect(tmp_path / "db.sqlite3") as db:
        refunds = dict(db.execute("SELECT status, count(*) FROM refunds_refund GROUP BY status").fetchall())
        refunded_claims = db.execute("SELECT count(*) FROM returns_claim WHERE status = 'refunded'").fetchone()[0]
    assert refunds.get("succeeded", 0) >= 10 and refunded_claims >= 10
    assert "cs         password demo-cs" in done.stdout
