"""boto3 clients for the AWS log sources."""

from __future__ import annotations

from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from ..config.sources import AWSLogSourceConfig


def make_client(service: str, config: AWSLogSourceConfig) -> Any:
    """Build a boto3 client with the source's region and endpoint, raising ValueError with the fix."""
    try:
        return boto3.client(service, region_name=config.region, endpoint_url=config.base_url)
    except BotoCoreError as err:
        raise ValueError(f"source {config.name}: cannot create the AWS {service} client: {str(err).rstrip('.')}; "
                         f"set region in the source or AWS_REGION in the environment") from None


def aws_error_class(err: Exception) -> str:
    """Return the AWS error code of a ClientError (AccessDenied, NoSuchBucket, ...), else the exception's name."""
    if isinstance(err, ClientError):
        code = err.response.get("Error", {}).get("Code")
        if isinstance(code, str) and code:
            return code
    return type(err).__name__
