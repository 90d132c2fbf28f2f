"""Admin keys for vendor APIs, read from an environment variable or a file and kept out of every output."""

from __future__ import annotations

import os
from pathlib import Path

from .errors import VendorError


def load_api_key(env_name: str | None, file_path: str | None) -> str:
    """Return the key from `file_path` if set, else from the environment variable `env_name`."""
    if file_path:
        try:
            key = Path(file_path).read_text().strip()
        except OSError as err:
            raise VendorError("missing_key", f"cannot read api_key_file {file_path}: {err.strerror}") from None
        if not key:
            raise VendorError("missing_key", f"api_key_file {file_path} is empty")
        return key
    if not env_name:
        raise VendorError("missing_key", "no admin key configured: set api_key_env or api_key_file")
    key = os.environ.get(env_name, "").strip()
    if not key:
        raise VendorError("missing_key",
                          f"environment variable {env_name} is not set or empty: put the admin key there")
    return key
