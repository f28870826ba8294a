"""The base of every configuration model: unknown keys are errors, and models are frozen."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class StrictModel(BaseModel):
    """A frozen pydantic model that refuses keys it does not define."""

    model_config = ConfigDict(extra="forbid", frozen=True)
