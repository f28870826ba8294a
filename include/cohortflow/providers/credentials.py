"""Where a provider's secret comes from: an Airflow connection, or environment variables.

With ``conn_id`` set, the secret is the connection's password and the app id (CometChat) its
extra ``app_id`` or else its login. Without a usable connection the environment is read:
``COHORTFLOW_PROVIDER_<CONN_ID>_KEY`` and ``..._APP_ID`` (``<CONN_ID>`` upper-cased, every
other character than a letter or digit turned into ``_``), or, when no ``conn_id`` is
configured, ``COHORTFLOW_PROVIDER_<KIND>_KEY`` and ``..._APP_ID``.

Order: inside Airflow (``airflow`` already imported, as in a task) the connection is tried
first. Elsewhere (the CLI) the environment is read first and Airflow, which takes seconds to
import, only when the environment has no key. Whenever only one source holds the secret, both
orders give the same answer.
"""

from __future__ import annotations

import importlib.util
import logging
import sys
from collections.abc import Callable, Mapping

from cohortflow.config import ProviderConfig
from cohortflow.errors import ProviderError
from cohortflow.providers.base import Credentials
from cohortflow.settings import provider_env_name, provider_secret

log = logging.getLogger(__name__)

#: Looks a connection up by id: ``(password, app_id)`` or ``None`` when there is none.
ConnectionLookup = Callable[[str], "tuple[str | None, str | None] | None"]


def env_prefix(provider: ProviderConfig) -> str:
    """``COHORTFLOW_PROVIDER_<CONN_ID or KIND>`` for a provider config (no ``_KEY`` suffix)."""
    return provider_env_name(provider.conn_id or provider.kind)


def airflow_connection(conn_id: str) -> tuple[str | None, str | None] | None:
    """``(password, app_id)`` of an Airflow connection, or ``None`` if Airflow or it is missing."""
    if importlib.util.find_spec("airflow") is None:
        return None
    try:
        from airflow.sdk import BaseHook

        connection = BaseHook.get_connection(conn_id)
    except Exception as exc:  # any lookup failure means "not available here"
        log.debug("Airflow connection %r not available: %s", conn_id, type(exc).__name__)
        return None
    extra = connection.extra_dejson if connection.extra else {}
    app_id = extra.get("app_id") if isinstance(extra, dict) else None
    return connection.password, (str(app_id) if app_id else None) or connection.login


def resolve_credentials(
    provider: ProviderConfig,
    *,
    environ: Mapping[str, str] | None = None,
    lookup: ConnectionLookup | None = None,
) -> Credentials:
    """The credentials for ``provider`` (any provider config); see the module docstring.

    ``environ`` and ``lookup`` replace ``os.environ`` and the Airflow lookup in tests.
    Raises :class:`ProviderError` naming the connection and variables to set when none is found.
    """
    lookup = lookup or airflow_connection
    prefix = env_prefix(provider)
    conn_id = provider.conn_id

    def from_env() -> Credentials | None:
        secret = provider_secret(f"{prefix}_KEY", environ)
        if not secret:
            return None
        app_id = provider_secret(f"{prefix}_APP_ID", environ)
        return Credentials(secret, app_id, f"env {prefix}_KEY")

    def from_airflow() -> Credentials | None:
        if not conn_id:
            return None
        found = lookup(conn_id)
        if found is None or not found[0]:
            return None
        return Credentials(found[0], found[1], f"connection {conn_id!r}")

    in_airflow = "airflow" in sys.modules
    order = (from_airflow, from_env) if in_airflow else (from_env, from_airflow)
    for source in order:
        credentials = source()
        if credentials is not None:
            return credentials
    where = f"the password of Airflow connection {conn_id!r} or " if conn_id else ""
    raise ProviderError(
        f"no credentials for the {provider.kind} provider: set {where}"
        f"the environment variable {prefix}_KEY",
        code="provider_credentials",
    )
