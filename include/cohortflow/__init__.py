"""cohortflow: validated, de-duplicated, personalised recipient batches from dropped cohorts."""

__version__ = "0.1.0"
