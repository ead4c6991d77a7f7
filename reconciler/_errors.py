"""The one place AWS and network errors become this package's exceptions (SPEC: Resilience)."""

from __future__ import annotations

from botocore.exceptions import (
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    ReadTimeoutError,
)

from ._exceptions import (
    AccessDeniedError,
    AlreadyExistsError,
    BackendError,
    NotFoundError,
    PermanentError,
    ThrottlingError,
    TransientError,
)

THROTTLING_CODES = frozenset({
    "ThrottlingException", "Throttling", "ThrottledException", "TooManyRequestsException",
    "RequestLimitExceeded", "RequestThrottled", "RequestThrottledException", "SlowDown",
    "ProvisionedThroughputExceededException", "TransactionInProgressException",
    "BandwidthLimitExceeded", "PriorRequestNotComplete", "EC2ThrottledException",
})
TRANSIENT_CODES = frozenset({
    "InternalServiceError", "InternalFailure", "InternalError", "ServiceUnavailable",
    "ServiceUnavailableException", "RequestTimeout", "RequestTimeoutException",
    "IDPCommunicationError",
})
ACCESS_CODES = frozenset({
    "AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "UnrecognizedClientException",
    "InvalidClientTokenId", "InvalidSignatureException", "ExpiredToken", "ExpiredTokenException",
    "SignatureDoesNotMatch", "AuthFailure",
})
# Codes that speak of the identity or endpoint as a whole, not of one secret: a run of them
# trips the endpoint's circuit breaker.
ENDPOINT_WIDE_CODES = ACCESS_CODES


def translate(exc: BaseException, operation: str) -> BackendError:
    """Map a botocore/aiohttp exception to our tree. Messages carry codes and ids, never values."""
    if isinstance(exc, BackendError):
        return exc
    if isinstance(exc, ClientError):
        err = exc.response.get("Error", {})
        code = str(err.get("Code", "Unknown"))
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
        # AWS messages name secrets and ARNs, never values; keep them short all the same.
        message = f"{operation}: {code}: {str(err.get('Message', ''))[:300]}"
        if code in THROTTLING_CODES or status == 429:
            return ThrottlingError(message, code=code, operation=operation)
        if code in TRANSIENT_CODES or status >= 500:
            return TransientError(message, code=code, operation=operation)
        if code == "ResourceNotFoundException":
            return NotFoundError(message, code=code, operation=operation)
        if code == "ResourceExistsException":
            return AlreadyExistsError(message, code=code, operation=operation)
        if code in ACCESS_CODES:
            return AccessDeniedError(message, code=code, operation=operation)
        return PermanentError(message, code=code, operation=operation)
    if isinstance(exc, (ConnectTimeoutError, ReadTimeoutError, EndpointConnectionError, ConnectionClosedError)):
        return TransientError(f"{operation}: {exc.__class__.__name__}", code=exc.__class__.__name__,
                              operation=operation)
    if isinstance(exc, (OSError, TimeoutError)) or exc.__class__.__module__.startswith("aiohttp"):
        return TransientError(f"{operation}: {exc.__class__.__name__}", code=exc.__class__.__name__,
                              operation=operation)
    return BackendError(f"{operation}: {exc.__class__.__name__}", code=exc.__class__.__name__,
                        operation=operation)
