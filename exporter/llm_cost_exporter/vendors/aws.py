"""boto3 clients for the AWS sources and the mapping of their errors to error classes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import boto3
import botocore.config
import botocore.exceptions

from .errors import VendorError

T = TypeVar("T")

THROTTLING = frozenset({"Throttling", "ThrottlingException", "ThrottledException", "TooManyRequestsException",
                        "RequestLimitExceeded", "LimitExceededException"})
AUTH = frozenset({"AccessDenied", "AccessDeniedException", "UnrecognizedClientException", "InvalidClientTokenId",
                  "ExpiredToken", "ExpiredTokenException", "InvalidSignatureException", "SignatureDoesNotMatch"})


def make_client(service: str, config) -> Any:
    """Create a boto3 client with the source's timeouts and botocore's standard retry mode."""
    settings = botocore.config.Config(connect_timeout=config.timeout, read_timeout=config.timeout,
                                      retries={"mode": "standard", "max_attempts": config.max_attempts})
    return boto3.client(service, region_name=config.region, endpoint_url=config.base_url, config=settings)


def call(operation: str, function: Callable[..., T], on_error: Callable[[str], None], **kwargs: Any) -> T:
    """Call one AWS operation; count and re-raise its failure as a VendorError with an error class."""
    try:
        return function(**kwargs)
    except botocore.exceptions.ClientError as err:
        code = err.response.get("Error", {}).get("Code", "")
        status = err.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        if code in THROTTLING or status == 429:
            error_class = "rate_limit"
        elif code in AUTH or status in (401, 403):
            error_class = "auth"
        elif status >= 500:
            error_class = "server_error"
        else:
            error_class = "client_error"
        error = VendorError(error_class, f"{operation} failed: {code or status}")
    except (botocore.exceptions.ConnectTimeoutError, botocore.exceptions.ReadTimeoutError):
        error = VendorError("timeout", f"{operation} timed out")
    except botocore.exceptions.EndpointConnectionError:
        error = VendorError("connection", f"{operation} failed to connect")
    except botocore.exceptions.NoCredentialsError:
        error = VendorError("missing_key", f"{operation}: no AWS credentials found in the usual chain")
    except botocore.exceptions.BotoCoreError as err:
        error = VendorError("connection", f"{operation} failed: {type(err).__name__}")
    on_error(error.error_class)
    error.counted = True
    raise error
