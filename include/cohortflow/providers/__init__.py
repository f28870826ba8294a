"""Provider adapters: one per provider contract in ``shared/providers/``, plus generic JSON."""
