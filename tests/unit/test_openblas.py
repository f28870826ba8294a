"""The console command asks OpenBLAS for no worker threads, unless the user chose a number."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from cohortflow import openblas
from tests.unit.helpers import python_process


def test_single_threaded_sets_one_thread_when_unset(monkeypatch):
    monkeypatch.delenv(openblas.OPENBLAS_THREADS_ENV, raising=False)

    openblas.single_threaded()

    assert os.environ[openblas.OPENBLAS_THREADS_ENV] == "1"


def test_single_threaded_keeps_the_users_setting(monkeypatch):
    monkeypatch.setenv(openblas.OPENBLAS_THREADS_ENV, "4")

    openblas.single_threaded()

    assert os.environ[openblas.OPENBLAS_THREADS_ENV] == "4"


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="counts threads in /proc")
def test_numpy_starts_no_thread_under_the_console_entry():
    code = (
        "import os, sys\n"
        "import cohortflow.cli as cli\n"
        "def main(**kwargs):\n"
        "    before = len(os.listdir('/proc/self/task'))\n"
        "    import numpy\n"
        "    numpy.ones((64, 64)) @ numpy.ones((64, 64))  # BLAS work, as a worker would get\n"
        "    print(os.environ.get('OPENBLAS_NUM_THREADS'), "
        "len(os.listdir('/proc/self/task')) - before)\n"
        "    sys.exit(0)\n"
        "cli.main = main\n"
        "cli.run()\n"
    )
    env = {k: v for k, v in os.environ.items() if k != openblas.OPENBLAS_THREADS_ENV}
    result = python_process(code, env=env)

    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["1", "0"]
