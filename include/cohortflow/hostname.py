"""The host name Airflow records for a task instance (``[core] hostname_callable``).

``make stack`` runs two Celery workers on one machine; each sets ``COHORTFLOW_WORKER_NAME``
(``worker1``, ``worker2``) so the task instances they run show which worker it was. Elsewhere
this is the machine's fully qualified name, as Airflow's default.
"""

from __future__ import annotations

import os
import socket


def hostname() -> str:
    """``COHORTFLOW_WORKER_NAME`` when set (one machine, several workers), else the FQDN."""
    return os.environ.get("COHORTFLOW_WORKER_NAME") or socket.getfqdn()
