"""Command groups of the ``cohortflow`` CLI, one module per area (imported lazily)."""
