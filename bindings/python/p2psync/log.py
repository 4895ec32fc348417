"""The library log, routed into Python's standard `logging` module.

Records of libp2psync go to the logger "p2psync.<domain>" (children of "p2psync"):
p2psync.database, p2psync.replicator, p2psync.listener, p2psync.network, p2psync.tls.
Levels map as debug -> logging.DEBUG, verbose -> VERBOSE (15), info -> logging.INFO,
warning -> logging.WARNING, error -> logging.ERROR.

When p2psync is imported, records of level warning and above of every domain are routed
(peer-caused errors, retries, failures); ask for more with set_level:

    import logging, p2psync
    logging.basicConfig(level=logging.INFO)
    p2psync.log.set_level(logging.INFO, domains=p2psync.log.LISTENER | p2psync.log.REPLICATOR)

The library filters before formatting, so a level it does not send costs nothing; the
Python loggers' own levels and handlers then apply as usual. The "p2psync" logger has a
NullHandler, as libraries should, so nothing is printed unless the application configures
logging. Records arrive on library threads, possibly several at once (the logging module
is thread-safe).

Independently, the library's console sink writes to standard error; it is configured by
the environment variable P2PSYNC_LOG=level[,domain...] when the library loads, or by
set_console.
"""

from __future__ import annotations

import atexit
import json
import logging
from typing import Any, Dict, Optional, Union

from . import _ffi

# Levels of the C API (P2P_LOG_*).
DEBUG, VERBOSE_LEVEL, INFO, WARNING, ERROR, NONE = 0, 1, 2, 3, 4, 5
# Domains of the C API (P2P_LOG_DOMAIN_*), combinable with |.
DATABASE, REPLICATOR, LISTENER, NETWORK, TLS = 1, 2, 4, 8, 16
ALL = 31

VERBOSE = 15  # Python level of the library's verbose records
logging.addLevelName(VERBOSE, "VERBOSE")

DOMAIN_NAMES = {DATABASE: "database", REPLICATOR: "replicator", LISTENER: "listener", NETWORK: "network", TLS: "tls"}
_TO_PYTHON = {DEBUG: logging.DEBUG, VERBOSE_LEVEL: VERBOSE, INFO: logging.INFO, WARNING: logging.WARNING,
              ERROR: logging.ERROR}

logger = logging.getLogger("p2psync")
logger.addHandler(logging.NullHandler())
_loggers = {d: logging.getLogger(f"p2psync.{name}") for d, name in DOMAIN_NAMES.items()}


def _library_level(level: Union[int, str]) -> int:
    """A Python logging level (int) or a library level name to a P2P_LOG_* level."""
    if isinstance(level, str):
        names = {"debug": DEBUG, "verbose": VERBOSE_LEVEL, "info": INFO, "warning": WARNING, "warn": WARNING,
                 "error": ERROR, "none": NONE, "off": NONE}
        if level.lower() not in names:
            raise ValueError(f"unknown log level {level!r}")
        return names[level.lower()]
    if level <= logging.DEBUG:
        return DEBUG
    if level <= VERBOSE:
        return VERBOSE_LEVEL
    if level <= logging.INFO:
        return INFO
    if level <= logging.WARNING:
        return WARNING
    if level <= logging.ERROR:
        return ERROR
    return NONE


def _on_log(level: int, domain: int, message: Optional[bytes], _user_data: Any) -> None:
    try:
        target = _loggers.get(domain, logger)
        pylevel = _TO_PYTHON.get(level, logging.ERROR)
        if target.isEnabledFor(pylevel):
            target.log(pylevel, (message or b"").decode("utf-8", "replace"))
    except Exception:  # never raise into the library
        pass


_callback = _ffi.LogFn(_on_log)  # kept alive for as long as the library may call it


def set_level(level: Union[int, str] = logging.WARNING, domains: int = ALL) -> None:
    """Routes library records of `level` and above in `domains` to Python logging.

    level is a Python logging level (logging.INFO, VERBOSE, ...) or a library level name
    ("debug", "verbose", "info", "warning", "error", "none"); "none" (or a level above
    logging.ERROR) stops routing. Raises InvalidArgumentError for unknown domain bits."""
    lib_level = _library_level(level)
    if lib_level == NONE or domains == 0:
        _ffi.call("p2p_log_set_callback", NONE, 0, _ffi.LogFn(), None)
    else:
        _ffi.call("p2p_log_set_callback", lib_level, domains, _callback, None)


def set_console(level: Union[int, str], domains: int = ALL) -> None:
    """Sets the library's own console sink (standard error); "none" turns it off."""
    _ffi.call("p2p_log_set_console", _library_level(level), domains)


def settings() -> Dict[str, Dict[str, int]]:
    """The library's sink settings: {"callback": {"level", "domains"}, "console": {...}}
    with P2P_LOG_* levels (5 = off)."""
    return json.loads(_ffi.out_text("p2p_log_settings") or "{}")


def _uninstall() -> None:
    # The library's threads must not call into an interpreter that is shutting down.
    try:
        _ffi.call("p2p_log_set_callback", NONE, 0, _ffi.LogFn(), None)
    except Exception:
        pass


set_level(logging.WARNING)
atexit.register(_uninstall)
