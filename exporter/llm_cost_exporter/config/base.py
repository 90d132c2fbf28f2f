"""Shared pieces of the configuration schema."""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict

LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")


class Strict(BaseModel):
    """A config section: unknown keys are errors and values are frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True)
