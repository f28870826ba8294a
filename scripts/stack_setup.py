"""Helpers for scripts/stack.sh: services reachable, database, bucket, stack campaigns.

Run with the project's Python: ``.venv/bin/python scripts/stack_setup.py COMMAND ...``.
"""

from __future__ import annotations

import argparse
import socket
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import yaml

#: Every day, all day: the stack's copies of the campaigns may send whenever a test runs.
ALWAYS_OPEN = {
    "allowed_start_time": "00:00",
    "allowed_end_time": "00:00",
    "allowed_days": [
        "Monday",
        "Tuesday",
        "Wednesday",
        "Thursday",
        "Friday",
        "Saturday",
        "Sunday",
    ],
}


def reachable(host: str, port: int, timeout: float = 2.0) -> bool:
    """Whether something accepts TCP connections at host:port."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def cmd_check(args: argparse.Namespace) -> int:
    """Exit 1 naming every service in ``host:port=name`` that does not answer."""
    missing = []
    for item in args.services:
        address, _, name = item.partition("=")
        host, _, port = address.rpartition(":")
        if not reachable(host, int(port)):
            missing.append(f"{name or 'service'} at {address}")
    if missing:
        print("not reachable: " + ", ".join(missing), file=sys.stderr)
        return 1
    return 0


def cmd_wait(args: argparse.Namespace) -> int:
    """Wait until host:port accepts connections (exit 1 after the timeout)."""
    host, _, port = args.address.rpartition(":")
    deadline = time.monotonic() + args.timeout
    while time.monotonic() < deadline:
        if reachable(host, int(port), timeout=1.0):
            return 0
        time.sleep(0.3)
    print(f"{args.address} did not open within {args.timeout:.0f}s", file=sys.stderr)
    return 1


def cmd_database(args: argparse.Namespace) -> int:
    """Create the PostgreSQL database of ``url`` if it is missing."""
    import psycopg2

    parts = urlsplit(args.url.replace("+psycopg2", ""))
    name = parts.path.lstrip("/")
    admin = psycopg2.connect(
        host=parts.hostname,
        port=parts.port or 5432,
        user=parts.username or "postgres",
        password=parts.password,
        dbname="postgres",
    )
    admin.autocommit = True
    with admin.cursor() as cursor:
        cursor.execute("select 1 from pg_database where datname = %s", (name,))
        if cursor.fetchone() is None:
            cursor.execute(f'create database "{name}"')
            print(f"created database {name}")
    admin.close()
    return 0


def cmd_bucket(args: argparse.Namespace) -> int:
    """Create the bucket on the S3 endpoint (idempotent)."""
    import boto3

    client = boto3.client(
        "s3",
        endpoint_url=args.endpoint,
        aws_access_key_id=args.key,
        aws_secret_access_key=args.secret,
        region_name="us-east-1",
    )
    existing = {b["Name"] for b in client.list_buckets().get("Buckets", [])}
    if args.bucket not in existing:
        client.create_bucket(Bucket=args.bucket)
    return 0


def cmd_campaigns(args: argparse.Namespace) -> int:
    """Copy the campaign configs, always open and sending to the sandbox provider."""
    source, target = Path(args.source), Path(args.target)
    target.mkdir(parents=True, exist_ok=True)
    for path in sorted(source.glob("*.yaml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        if data.get("dnc"):
            data["dnc"] = str((path.parent / data["dnc"]).resolve())
        schedule = dict(data.get("allowed_schedule") or {})
        schedule.update(ALWAYS_OPEN)
        data["allowed_schedule"] = schedule
        data["provider"] = {
            "kind": "http_json",
            "base_url": args.sandbox_url,
            "conn_id": args.conn_id,
        }
        data["attempts_per_second"] = 1000
        if args.batch_size:
            data["batch_size"] = args.batch_size
        (target / path.name).write_text(
            "# Written by scripts/stack.sh from " + str(path) + "\n" + yaml.safe_dump(data),
            encoding="utf-8",
        )
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    check = commands.add_parser("check")
    check.add_argument("services", nargs="+", help="host:port=name")
    check.set_defaults(run=cmd_check)
    wait = commands.add_parser("wait")
    wait.add_argument("address")
    wait.add_argument("--timeout", type=float, default=60.0)
    wait.set_defaults(run=cmd_wait)
    database = commands.add_parser("database")
    database.add_argument("url")
    database.set_defaults(run=cmd_database)
    bucket = commands.add_parser("bucket")
    bucket.add_argument("endpoint")
    bucket.add_argument("bucket")
    bucket.add_argument("--key", default="testing")
    bucket.add_argument("--secret", default="testing")
    bucket.set_defaults(run=cmd_bucket)
    campaigns = commands.add_parser("campaigns")
    campaigns.add_argument("source")
    campaigns.add_argument("target")
    campaigns.add_argument("--sandbox-url", required=True)
    campaigns.add_argument("--conn-id", default="sandbox_provider")
    campaigns.add_argument("--batch-size", type=int, help="override every campaign's batch_size")
    campaigns.set_defaults(run=cmd_campaigns)
    args = parser.parse_args(argv)
    result: int = args.run(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
