"""Errors for users: each carries a stable code and a message that says what to do.

Tracebacks are for bugs; anything a user can cause is one of these.
"""

from __future__ import annotations


class CohortflowError(Exception):
    """Base class of every error cohortflow reports to a user."""

    code: str = "error"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code

    def __str__(self) -> str:
        return self.message


class ConfigError(CohortflowError):
    """A configuration file (mapping, campaign, settings) is invalid; names file and field."""

    code = "config_error"


class CohortError(CohortflowError):
    """A blocking problem with a cohort file: the cohort fails, nothing is published."""

    code = "cohort_error"


class ProviderError(CohortflowError):
    """A provider refused a request or could not be reached after retries."""

    code = "provider_error"


class ResourceError(CohortflowError):
    """Processing needed more memory than its limit allows: not the file's fault. Nothing is
    published and the input is left where it is, so the same file can be processed again once
    the limit is raised."""

    code = "out_of_memory"


class SettingsError(CohortflowError):
    """A deployment setting (a ``COHORTFLOW_*`` environment variable) has a value cohortflow
    cannot use: the task fails and names the variable; the input is left where it is."""

    code = "settings_error"
