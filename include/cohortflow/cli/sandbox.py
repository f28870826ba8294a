"""``cohortflow sandbox``: run the local provider sandbox in the foreground."""

from __future__ import annotations

import signal
from types import FrameType

import click

from cohortflow.settings import get_settings

_FRACTION = click.FloatRange(0.0, 1.0)


@click.command("sandbox")
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option("--port", default=8900, show_default=True, type=int, help="Port (0: a free one).")
@click.option(
    "--db",
    type=click.Path(dir_okay=False),
    default=None,
    help="DuckDB file recording accepted recipients (default: in memory).",
)
@click.option(
    "--key",
    default=lambda: get_settings().sandbox_key,
    show_default="sandbox-key",
    help="Secret every provider endpoint expects (env COHORTFLOW_SANDBOX_KEY).",
)
@click.option(
    "--app-id",
    default=lambda: get_settings().sandbox_app_id,
    show_default="sandbox-app",
    help="CometChat App ID expected in the appId header (env COHORTFLOW_SANDBOX_APP_ID).",
)
@click.option("--fail-429", type=_FRACTION, default=0.0, help="Fraction answered 429.")
@click.option("--fail-500", type=_FRACTION, default=0.0, help="Fraction answered 500.")
@click.option("--slow", type=_FRACTION, default=0.0, help="Fraction answered late.")
@click.option("--drop", type=_FRACTION, default=0.0,
              help="Fraction dropped unanswered, before being processed.")
@click.option("--drop-after-accept", type=_FRACTION, default=0.0,
              help="Fraction processed and recorded, then dropped unanswered.")
@click.option("--timeout-after-accept", type=_FRACTION, default=0.0,
              help="Fraction processed and recorded, then answered after --slow-seconds.")
@click.option("--cometchat-campaign", "cometchat_campaigns", multiple=True,
              help="A CometChat campaign id that exists (repeat it); without any, every id "
              "does. Uploads to another answer 404 ERR_NOT_FOUND, as CometChat does.")
@click.option("--deduplicate", is_flag=True,
              help="Honour Idempotency-Key (a key seen before gets its first answer again). "
              "Off by default: no provider page documents it.")
@click.option(
    "--slow-seconds",
    type=float,
    default=35.0,
    show_default=True,
    help="Delay of a slow answer (more than the client timeout).",
)
@click.option(
    "--retry-after",
    type=int,
    default=1,
    show_default=True,
    help="Retry-After seconds sent with each 429.",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the fault draws.")
def sandbox(
    host: str,
    port: int,
    db: str | None,
    key: str,
    app_id: str,
    fail_429: float,
    fail_500: float,
    slow: float,
    drop: float,
    drop_after_accept: float,
    timeout_after_accept: float,
    cometchat_campaigns: tuple[str, ...],
    deduplicate: bool,
    slow_seconds: float,
    retry_after: int,
    seed: int,
) -> None:
    """Run a local stand-in for every provider (Sarvam, CometChat, messaging CSV, Nexus, JSON).

    It checks auth and payloads as the provider pages describe, records accepted recipients
    in --db and serves test endpoints (/_sandbox/outcomes?since=ID, /_sandbox/recipients,
    /_sandbox/stats). Like the providers, it processes a repeated request again, whatever its
    Idempotency-Key, unless started with --deduplicate.

    \b
    Example (20% 429s, 5% 500s, 5% dropped and 5% timed out after being processed):
      cohortflow sandbox --port 8900 --db sandbox.duckdb --fail-429 0.2 --fail-500 0.05 \\
          --drop-after-accept 0.05 --timeout-after-accept 0.05 --slow-seconds 35 --seed 7
    Then point a provider's base_url at http://127.0.0.1:8900 and set
    COHORTFLOW_PROVIDER_<CONN_ID>_KEY=sandbox-key.
    """
    from cohortflow.sandbox import Faults, SandboxKeys, make_server

    try:
        faults = Faults(fail_429, fail_500, slow, drop, seed, slow_seconds, retry_after,
                        drop_after_accept=drop_after_accept,
                        timeout_after_accept=timeout_after_accept)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
    keys = SandboxKeys(key, app_id, frozenset(cometchat_campaigns) or None)
    server = make_server(host, port, db=db, faults=faults, keys=keys, deduplicate=deduplicate)
    bound_host, bound_port = server.server_address[:2]
    click.echo(f"cohortflow sandbox listening on http://{bound_host!s}:{bound_port} (Ctrl-C stops)")
    signal.signal(signal.SIGTERM, _interrupt)  # stop cleanly (close the DB) on SIGTERM too
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        click.echo("stopping")
    finally:
        server.sandbox.stopping.set()
        server.server_close()
        server.sandbox.recorder.close()


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt
