"""cohortflow: validated, de-duplicated, personalised recipient batches from dropped cohort files."""

__version__ = "0.1.0"
