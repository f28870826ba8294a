"""The ``cohortflow`` command: the same functions the DAGs run, for analysts and scripts.

Each area keeps its commands in ``cohortflow.cli.<area>``; they are attached here and imported
only when used, so ``--help`` stays fast.
"""

from __future__ import annotations

import importlib

import click

__all__ = ["COMMANDS", "main", "run"]

#: (module, attribute) of every command attached to the top-level group.
COMMANDS = (
    ("cohortflow.cli.ingest", "process"),
    ("cohortflow.cli.ingest", "validate"),
    ("cohortflow.cli.ingest", "ingest"),
    ("cohortflow.cli.ingest", "cohorts"),
    ("cohortflow.cli.dispatch", "dispatch"),
    ("cohortflow.cli.dispatch", "plan"),
    ("cohortflow.cli.campaign", "campaign"),
    ("cohortflow.cli.dispatch", "outcomes"),
    ("cohortflow.cli.batches", "batch"),
    ("cohortflow.cli.campaigns", "campaigns"),
    ("cohortflow.cli.sandbox", "sandbox"),
)


class LazyGroup(click.Group):
    """A group whose commands are imported only when used, so ``--help`` stays fast."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(name for _, name in COMMANDS if self._load(name) is not None)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        return self._load(cmd_name)

    @staticmethod
    def _load(cmd_name: str) -> click.Command | None:
        for module_name, attribute in COMMANDS:
            if attribute == cmd_name:
                try:
                    module = importlib.import_module(module_name)
                except ModuleNotFoundError as exc:
                    if exc.name == module_name:
                        return None
                    raise
                command = getattr(module, attribute, None)
                return command if isinstance(command, click.Command) else None
        return None


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="cohortflow")
def main() -> None:
    """cohortflow: validate cohort files, then submit recipients to providers in allowed hours.

    \b
    Examples:
      cohortflow process landing/loans/june.csv --campaign include/campaigns/loans.yaml --out out/
      cohortflow dispatch --campaign include/campaigns/loans.yaml --warehouse warehouse --dry-run
      cohortflow sandbox --port 8900 --db sandbox.duckdb
    """


def run() -> None:
    """The ``cohortflow`` console command."""
    main(prog_name="cohortflow")
