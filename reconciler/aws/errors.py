"""The one place AWS and network errors become this package's exceptions (SPEC: Resilience).

Three kinds, and only three: throttling (retried, and the endpoint's pace slows), transient
(retried) and permanent (the item fails at once). ``classify`` is the table; ``translate`` builds
the exception; ``map_exceptions`` is how callers use it, in the style of httpx's transport layer:

    with map_exceptions("AssumeRole", subject=role_arn):
        ...  # any botocore/aiohttp/OS error leaves as a BackendError subclass

Messages carry the operation, the AWS error code, AWS's own message (which names resources,
never values) and an optional subject (a role ARN, a profile): never a secret value.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterator
from contextlib import contextmanager

from botocore.exceptions import (
    ClientError,
    ConfigParseError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    ProfileNotFound,
    ReadTimeoutError,
)

from .._exceptions import (
    AccessDeniedError,
    AlreadyExistsError,
    BackendError,
    NotFoundError,
    PermanentError,
    ProfileNotFoundError,
    ThrottlingError,
    TransientError,
)

__all__ = [
    "ACCESS_CODES", "ENDPOINT_WIDE_CODES", "THROTTLING_CODES", "TRANSIENT_CODES", "ErrorKind", "classify",
    "map_exceptions", "translate",
]

MESSAGE_LIMIT = 300  # characters of AWS's message kept: enough to name the resource and the reason

THROTTLING_CODES = frozenset({
    "ThrottlingException", "Throttling", "ThrottledException", "TooManyRequestsException",
    "RequestLimitExceeded", "RequestThrottled", "RequestThrottledException", "SlowDown",
    "ProvisionedThroughputExceededException", "TransactionInProgressException",
    "BandwidthLimitExceeded", "PriorRequestNotComplete", "EC2ThrottledException",
    "TooManyUpdates",  # SSM: concurrent PutParameter calls on one parameter
})
TRANSIENT_CODES = frozenset({
    "InternalServiceError", "InternalFailure", "InternalError", "ServiceUnavailable",
    "ServiceUnavailableException", "RequestTimeout", "RequestTimeoutException",
    "IDPCommunicationError", "InternalServerError",
})
ACCESS_CODES = frozenset({
    "AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "UnrecognizedClientException",
    "InvalidClientTokenId", "InvalidSignatureException", "ExpiredToken", "ExpiredTokenException",
    "SignatureDoesNotMatch", "AuthFailure",
})
NOT_FOUND_CODES = frozenset({"ResourceNotFoundException", "ParameterNotFound"})
ALREADY_EXISTS_CODES = frozenset({"ResourceExistsException", "ParameterAlreadyExists"})
# Codes that speak of the identity or endpoint as a whole, not of one secret: a run of them
# trips the endpoint's circuit breaker.
ENDPOINT_WIDE_CODES = ACCESS_CODES
# Connection-level failures: the request may not have reached AWS; retrying is safe because
# every write carries a deterministic ClientRequestToken.
_NETWORK_ERRORS = (ConnectTimeoutError, ReadTimeoutError, EndpointConnectionError, ConnectionClosedError,
                   OSError, TimeoutError)
_HTTP_TOO_MANY = 429
_HTTP_SERVER_ERROR = 500


class ErrorKind(enum.Enum):
    THROTTLING = "throttling"
    TRANSIENT = "transient"
    PERMANENT = "permanent"


def classify(code: str, status: int = 0) -> ErrorKind:
    """SPEC's table: throttling and 5xx are retried, everything else fails the item at once."""
    if code in THROTTLING_CODES or status == _HTTP_TOO_MANY:
        return ErrorKind.THROTTLING
    if code in TRANSIENT_CODES or status >= _HTTP_SERVER_ERROR:
        return ErrorKind.TRANSIENT
    return ErrorKind.PERMANENT


_INVALID_ENDPOINT = "Invalid endpoint: "  # botocore/endpoint.py raises it for an endpoint URL with no scheme
_MAX_ENDPOINT_MESSAGE = 300
_USERINFO = re.compile(r"[^\s/@]+@")  # the user:password before a host


def translate(exc: BaseException, operation: str, *, subject: str = "") -> BackendError:
    """Map a botocore/aiohttp/OS exception to our tree; a BackendError passes through unchanged."""
    if isinstance(exc, BackendError):
        return exc
    where = f"{operation} {subject}" if subject else operation
    if isinstance(exc, ClientError):
        return _client_error(exc, operation, where)
    if isinstance(exc, ProfileNotFound):
        return ProfileNotFoundError(f"{where}: ProfileNotFound: {exc}", code="ProfileNotFound", operation=operation)
    # Configuration the operator can fix: the message names a file or a URL of theirs, no data.
    if isinstance(exc, ConfigParseError):  # "Unable to parse config file: PATH"
        return PermanentError(f"{where}: ConfigParseError: {exc}", code="ConfigParseError", operation=operation)
    if isinstance(exc, ValueError) and str(exc).startswith(_INVALID_ENDPOINT):  # botocore's plain ValueError
        url = _USERINFO.sub("***@", str(exc)[:_MAX_ENDPOINT_MESSAGE])  # a user:password in a URL stays out
        return PermanentError(f"{where}: InvalidEndpoint: {url}", code="InvalidEndpoint", operation=operation)
    name = exc.__class__.__name__
    if isinstance(exc, _NETWORK_ERRORS) or exc.__class__.__module__.startswith("aiohttp"):
        return TransientError(f"{where}: {name}", code=name, operation=operation)
    return BackendError(f"{where}: {name}", code=name, operation=operation)


def _client_error(exc: ClientError, operation: str, where: str) -> BackendError:
    err = exc.response.get("Error", {})
    code = str(err.get("Code", "Unknown"))
    status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
    # A credential refresh inside another call fails with the STS operation's name: say so.
    inner = getattr(exc, "operation_name", operation)
    if inner and inner != operation:
        where = f"{where}: {inner}"
    message = f"{where}: {code}: {str(err.get('Message', ''))[:MESSAGE_LIMIT]}"
    kind = classify(code, status)
    if kind is ErrorKind.THROTTLING:
        return ThrottlingError(message, code=code, operation=operation)
    if kind is ErrorKind.TRANSIENT:
        return TransientError(message, code=code, operation=operation)
    if code in NOT_FOUND_CODES:
        return NotFoundError(message, code=code, operation=operation)
    if code in ALREADY_EXISTS_CODES:
        return AlreadyExistsError(message, code=code, operation=operation)
    if code in ACCESS_CODES:
        return AccessDeniedError(message, code=code, operation=operation)
    return PermanentError(message, code=code, operation=operation)


@contextmanager
def map_exceptions(operation: str, *, subject: str = "") -> Iterator[None]:
    """Re-raise anything but a BackendError (or a cancellation) as its translation.

    BaseExceptions that are not Exceptions (cancellation, KeyboardInterrupt) pass untouched: they
    are not AWS's answer and must keep unwinding.
    """
    try:
        yield
    except BackendError:
        raise
    except Exception as exc:
        raise translate(exc, operation, subject=subject) from None
