"""Set up an Airflow metadata database for cohortflow: migrate it, then apply
``airflow_settings.yaml`` (pools, connections, variables). Idempotent: run it any number of
times; existing objects are updated to match the file.

Usage: ``.venv/bin/python scripts/airflow_init.py [--settings airflow_settings.yaml]``
(``AIRFLOW_HOME`` and the other ``AIRFLOW__*`` variables must already be exported; ``make
airflow`` does that). One process does everything, which is much faster than one ``airflow``
CLI call per object.
"""

from __future__ import annotations

import argparse
import json
import os
import re
from pathlib import Path
from typing import Any

import yaml

PROJECT = Path(__file__).resolve().parents[1]
_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def expand(value: Any) -> Any:
    """Replace ``${VAR}`` and ``${VAR:-default}`` in strings (recursively) from the environment."""
    if isinstance(value, str):
        return _VAR.sub(lambda m: os.environ.get(m.group(1)) or (m.group(2) or ""), value)
    if isinstance(value, dict):
        return {k: expand(v) for k, v in value.items()}
    if isinstance(value, list):
        return [expand(v) for v in value]
    return value


def load_settings(path: Path) -> dict[str, list[dict[str, Any]]]:
    """The ``airflow:`` section of the settings file, with the environment expanded."""
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    section = expand(data.get("airflow") or {})
    return {key: list(section.get(key) or []) for key in ("pools", "connections", "variables")}


def apply(settings: dict[str, list[dict[str, Any]]]) -> None:
    """Create or update every pool, connection and variable of ``settings``."""
    from airflow.models import Connection, Pool, Variable
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        for pool in settings["pools"]:
            Pool.create_or_update_pool(
                pool["pool_name"],
                int(pool["pool_slot"]),
                pool.get("pool_description") or "",
                bool(pool.get("include_deferred", False)),
                session=session,
            )
            print(f"pool {pool['pool_name']}: {pool['pool_slot']} slot(s)")
        for spec in settings["connections"]:
            conn_id = spec["conn_id"]
            found = session.scalars(select(Connection).where(Connection.conn_id == conn_id))
            connection = found.first() or Connection(conn_id=conn_id)
            connection.conn_type = str(spec.get("conn_type") or "generic")
            connection.description = spec.get("conn_description")
            connection.host = spec.get("conn_host")
            connection.schema = spec.get("conn_schema")
            connection.login = spec.get("conn_login")
            connection.password = spec.get("conn_password")
            port = spec.get("conn_port")
            connection.port = int(port) if port not in (None, "") else None
            extra = spec.get("conn_extra")
            connection.extra = json.dumps(extra) if isinstance(extra, dict) else extra
            session.add(connection)
            print(f"connection {conn_id}: {connection.conn_type} {connection.host}:{port}")
        session.flush()
    for variable in settings["variables"]:
        Variable.set(
            variable["variable_name"],
            str(variable["variable_value"]),
            description=variable.get("variable_description"),
        )
        print(f"variable {variable['variable_name']} = {variable['variable_value']}")


def main() -> None:
    """Migrate the metadata database (unless ``--no-migrate``) and apply the settings."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--settings", type=Path, default=PROJECT / "airflow_settings.yaml")
    parser.add_argument("--no-migrate", action="store_true", help="skip `airflow db migrate`")
    args = parser.parse_args()
    if not args.no_migrate:
        from airflow.utils import db

        db.upgradedb()
        print(f"metadata database migrated ({os.environ.get('AIRFLOW_HOME')})")
    apply(load_settings(args.settings))


if __name__ == "__main__":
    main()
