"""The console command ends without the interpreter's teardown only where that loses nothing:
the exit code, everything printed and every file written survive, a thread still running is
waited for, and a command that did not allow it or a text exit code keeps the normal exit."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

from tests.unit.helpers import python_process, write_text

CONSOLE = "import sys; from cohortflow.cli import run; sys.argv[0] = 'cohortflow'; run()"


def console(*args: str | Path) -> subprocess.CompletedProcess[str]:
    """``cohortflow ARGS`` as installed (the console entry), in its own process."""
    return subprocess.run([sys.executable, "-c", CONSOLE, *map(str, args)],
                          capture_output=True, text=True, timeout=120, check=False)


def cohort(folder: Path, rows: int = 2_000) -> Path:
    lines = ["phone,name"] + [f"98765{i:05d},N{i}" for i in range(rows)] + ["12345,bad"]
    return write_text(folder, "june.csv", "\n".join(lines) + "\n")


def script(body: str) -> subprocess.CompletedProcess[str]:
    """Run ``body`` with :mod:`cohortflow.fast_exit` installed, as the console entry does."""
    code = "from cohortflow import fast_exit\nfast_exit.install()\n" + textwrap.dedent(body)
    return python_process(code)


def test_process_keeps_its_exit_code_its_output_and_its_files(tmp_path):
    out = tmp_path / "out"

    result = console("process", cohort(tmp_path), "--region", "IN", "--out", out, "--json")

    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)  # the whole JSON, flushed before the process ended
    assert (summary["total_records"], summary["rejected_records"]) == (2_001, 1)
    assert json.loads((out / "summary.json").read_text())["status"] == "completed"
    assert {"recipients.parquet", "rejected.csv", "rejections.parquet"} <= {
        p.name for p in out.iterdir()}


def test_a_failed_cohort_still_exits_2_with_its_error_on_stderr(tmp_path):
    header_only = write_text(tmp_path, "empty.csv", "phone,name\n")

    result = console("process", header_only, "--out", tmp_path / "out")

    assert result.returncode == 2
    assert "no data rows" in result.stderr


def test_validate_prints_everything_before_it_exits(tmp_path):
    result = console("validate", cohort(tmp_path), "--region", "IN", "--rows", "1", "--json")

    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["rejected"][0]["rejected_reason"].startswith(
        "invalid_phone")


def test_the_fast_exit_skips_the_teardown_but_runs_every_atexit_handler():
    result = script("""
        import atexit, sys
        atexit.register(print, "handler ran")
        class Finalised:
            def __del__(self):
                print("teardown ran", flush=True)
        kept = Finalised()
        fast_exit.allow()
        fast_exit.record(3)
        print("buffered", end="")
        sys.exit(3)
    """)

    assert result.returncode == 3
    assert result.stdout == "bufferedhandler ran\n"  # every handler, no module teardown


def test_without_allow_the_process_exits_normally():
    result = script("""
        import sys
        class Finalised:
            def __del__(self):
                print("teardown ran", flush=True)
        kept = Finalised()
        fast_exit.record(0)
        sys.exit(0)
    """)

    assert result.returncode == 0
    assert "teardown ran" in result.stdout


def test_a_text_exit_code_keeps_the_normal_exit_and_its_message():
    result = script("""
        import sys
        fast_exit.allow()
        fast_exit.record("stopped: bad input")
        sys.exit("stopped: bad input")
    """)

    assert result.returncode == 1
    assert "stopped: bad input" in result.stderr


def test_a_thread_still_running_is_waited_for():
    result = script("""
        import threading, time
        def late():
            time.sleep(0.2)
            print("thread finished", flush=True)
        threading.Thread(target=late).start()
        fast_exit.allow()
        fast_exit.record(0)
    """)

    assert result.returncode == 0
    assert "thread finished" in result.stdout
