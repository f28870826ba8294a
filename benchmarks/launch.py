"""Run one measured command and report its own figures: ``python -m benchmarks.launch REPORT
COMMAND...``.

``wait4``'s peak RSS of a child is at least the RSS of the process that started it: Linux
records the starting process's high-water mark when the child replaces its image (``exec``
after ``vfork``, or after ``fork`` with its copied pages). The benchmark's own process holds
DuckDB tables (the host probe, the output comparison), so every command it started directly
looked at least that large (488 MiB for a 100k-row run that needs less). This small process
starts the command instead: the floor is its own few MiB. It writes the command's wall time,
peak RSS (KiB), user and system CPU (with the children the command waited for) and exit
code to REPORT as JSON, and exits with the command's code.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path


def main() -> None:
    report, command = Path(sys.argv[1]), sys.argv[2:]
    started = time.perf_counter()
    child = subprocess.Popen(command)
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - started
    code = os.waitstatus_to_exitcode(status)
    report.write_text(json.dumps({"wall": wall, "maxrss_kib": usage.ru_maxrss,
                                  "cpu": usage.ru_utime + usage.ru_stime, "code": code}))
    sys.exit(code if code >= 0 else 128 - code)


if __name__ == "__main__":
    main()
