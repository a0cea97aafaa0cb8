"""deploy/systemd: the units are valid for systemd, and the layout has exactly one beat.

``systemd-analyze verify`` reads each unit as systemd would (unknown keys, bad values, missing commands); the
units' /srv/rma/app/.venv is pointed at this checkout's virtualenv so that their commands exist.
"""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

UNITS = Path(__file__).resolve().parents[2] / "deploy" / "systemd"


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed")
def test_systemd_accepts_every_unit(tmp_path):
    venv_bin = str(Path(sys.executable).parent) + "/"
    for unit in UNITS.iterdir():
        text = unit.read_text().replace("/srv/rma/app/.venv/bin/", venv_bin)
        (tmp_path / unit.name).write_text(text)
    # Template units are verified through an instance, as systemctl would start them.
    shutil.copy(tmp_path / "rma-web@.service", tmp_path / "rma-web@8000.service")
    shutil.copy(tmp_path / "rma-worker@.service", tmp_path / "rma-worker@1.service")

    result = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", "rma-web@8000.service", "rma-worker@1.service", "rma-beat.service"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout + result.stderr == ""


def test_web_and_workers_scale_by_instance_but_beat_does_not():
    assert (UNITS / "rma-web@.service").exists()
    assert (UNITS / "rma-worker@.service").exists()
    assert not list(UNITS.glob("rma-beat@*")), "beat must not be a template: exactly one runs"
    wanted = next(line for line in (UNITS / "rma.target").read_text().splitlines() if line.startswith("Wants="))
    assert [unit for unit in wanted.split("=", 1)[1].split() if "beat" in unit] == ["rma-beat.service"]


def test_every_process_reads_the_production_environment():
    for unit in ("rma-web@.service", "rma-worker@.service", "rma-beat.service"):
        assert "EnvironmentFile=/etc/rma/production.env" in (UNITS / unit).read_text().splitlines()
