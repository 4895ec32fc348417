"""Exceptions raised by p2psync: one class per C status code (see include/p2psync.h).

A status is a primary code (-1..-255) or an extended code that refines one,
-(primary | n << 8), like SQLite's extended result codes. The classes follow that
grouping: each extended code's class derives from its primary code's class
(TLSExpiredError is a TLSError; WrongPasswordError is an AuthError), and an extended code
this binding does not know yet (added by a later library) raises its primary's class with
the actual code, so ``except TLSError`` keeps catching every TLS failure.
"""

from __future__ import annotations

import re
from typing import Dict, Optional, Type

_LINE_BREAKS = re.compile(r"[ \t]*[\r\n]+[ \t]*")

# Error domains (P2P_DOMAIN_*): which numbering `P2PSyncError.domain_code` follows.
DOMAIN_LIBRARY = 1  # a P2P_ERR_* code
DOMAIN_POSIX = 2  # an errno value
DOMAIN_SQLITE = 3  # an SQLite (extended) result code
DOMAIN_WEBSOCKET = 4  # a WebSocket close code or HTTP status


class P2PSyncError(Exception):
    """A call into libp2psync failed.

    ``code`` is the status the C function returned (a negative P2P_ERR_* value);
    ``domain`` and ``domain_code`` keep the underlying cause, e.g. an SQLite result code.
    """

    code: int = 0

    def __init__(self, code: int, domain: int = DOMAIN_LIBRARY, domain_code: Optional[int] = None,
                 message: str = "") -> None:
        # One line: a reason a peer sent (an HTTP body, a close reason) may carry line
        # breaks; they become single spaces, and none is left at either end.
        message = _LINE_BREAKS.sub(" ", message).strip()
        super().__init__(message or f"libp2psync status {code}")
        self.code = code
        self.domain = domain
        self.domain_code = code if domain_code is None else domain_code
        self.message = message


class InvalidArgumentError(P2PSyncError, ValueError):
    """NULL where not allowed, bad UTF-8, bad JSON, bad ID or name (P2P_ERR_INVALID_ARGUMENT)."""


class InvalidHandleError(P2PSyncError):
    """The object was closed, or the handle is of the wrong kind (P2P_ERR_INVALID_HANDLE)."""


class NotFoundError(P2PSyncError, KeyError):
    """Document, revision, collection or database missing (P2P_ERR_NOT_FOUND)."""

    def __str__(self) -> str:  # KeyError would quote the message
        return self.message


class ConflictError(P2PSyncError):
    """Revision conflict on save (P2P_ERR_CONFLICT)."""


class BusyError(P2PSyncError):
    """Dependent objects still open, or the database is in use elsewhere (P2P_ERR_BUSY)."""


class IoError(P2PSyncError, OSError):
    """File system or disk error (P2P_ERR_IO)."""


class CorruptError(P2PSyncError):
    """Database file unreadable (P2P_ERR_CORRUPT)."""


class NetworkError(P2PSyncError):
    """Connection failed or dropped (P2P_ERR_NETWORK)."""


class TLSError(P2PSyncError):
    """TLS handshake or certificate failure (P2P_ERR_TLS); the finer TLS errors below are
    subclasses, so ``except TLSError`` catches them all."""


class AuthError(P2PSyncError):
    """Credentials refused (P2P_ERR_AUTH): by the peer, or, as WrongPasswordError, a
    password that opens no local secret; ``except AuthError`` catches both."""


class ProtocolError(P2PSyncError):
    """The peer broke the sync protocol (P2P_ERR_PROTOCOL)."""


class CancelledError(P2PSyncError):
    """The operation was stopped by a close or stop (P2P_ERR_CANCELLED)."""


class TimedOutError(P2PSyncError, TimeoutError):
    """A deadline passed (P2P_ERR_TIMEOUT)."""


class UnsupportedError(P2PSyncError):
    """Option or feature not available in this build (P2P_ERR_UNSUPPORTED)."""


class TLSUntrustedError(TLSError):
    """The peer's certificate is not trusted in this trust mode (P2P_ERR_TLS_UNTRUSTED)."""


class TLSHostnameError(TLSError):
    """A trusted certificate not issued for the host dialled (P2P_ERR_TLS_HOSTNAME)."""


class TLSExpiredError(TLSError):
    """A certificate expired or not yet valid (P2P_ERR_TLS_EXPIRED)."""


class TLSPinMismatchError(TLSError):
    """The server certificate is not the pinned one (P2P_ERR_TLS_PIN_MISMATCH)."""


class TLSClientCertError(TLSError):
    """The listener requires a client certificate, or refused ours (P2P_ERR_TLS_CLIENT_CERT)."""


class TLSVersionError(TLSError):
    """The peer speaks only TLS versions below 1.2 (P2P_ERR_TLS_VERSION)."""


class WrongPasswordError(AuthError):
    """A password does not open a keystore, PKCS#12 file or key (P2P_ERR_WRONG_PASSWORD)."""


class ForkedError(P2PSyncError):
    """libp2psync was used in a child process created by ``fork()`` after it was loaded
    (P2P_ERR_FORKED). The library cannot work there: its Go runtime does not survive a
    fork. Use ``multiprocessing.get_context("spawn")`` (or ``"forkserver"``, without
    preloading p2psync), or import p2psync only in the child after the fork."""


class InternalError(P2PSyncError):
    """A bug in the library, including a recovered panic (P2P_ERR_INTERNAL)."""


def primary(status: int) -> int:
    """P2P_ERR_PRIMARY: the primary code of a status (itself for a primary code; 0 stays 0)."""
    return -((-status) & 0xFF) if status < 0 else status


# Status code -> exception class. tests/python/test_ffi.py checks it against the header.
ERRORS: Dict[int, Type[P2PSyncError]] = {
    -1: InvalidArgumentError,
    -2: InvalidHandleError,
    -3: NotFoundError,
    -4: ConflictError,
    -5: BusyError,
    -6: IoError,
    -7: CorruptError,
    -8: NetworkError,
    -9: TLSError,
    -10: AuthError,
    -11: ProtocolError,
    -12: CancelledError,
    -13: TimedOutError,
    -14: UnsupportedError,
    -22: ForkedError,
    -99: InternalError,
    # extended codes: -(primary | n << 8)
    -265: TLSUntrustedError,  # TLS | 1 << 8
    -521: TLSHostnameError,  # TLS | 2 << 8
    -777: TLSExpiredError,  # TLS | 3 << 8
    -1033: TLSPinMismatchError,  # TLS | 4 << 8
    -1289: TLSClientCertError,  # TLS | 5 << 8
    -1545: TLSVersionError,  # TLS | 6 << 8
    -266: WrongPasswordError,  # AUTH | 1 << 8
}
for _status, _cls in ERRORS.items():
    _cls.code = _status


def error_for(status: int, domain: int, domain_code: int, message: str) -> P2PSyncError:
    """Builds the exception for a failed call: the class of the status, else the class of
    its primary code (an extended code of a later library), else the base class."""
    cls = ERRORS.get(status) or ERRORS.get(primary(status), P2PSyncError)
    return cls(status, domain, domain_code, message)
