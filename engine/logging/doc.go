/*
Package logging is the library log of libp2psync: one place where every engine package's
diagnostics meet, are filtered by level and domain, and go to the application's sink
and/or to the console (standard error). The C API, Python and Kotlin bindings are thin
layers over it (p2p_log_set_callback, p2p_log_set_console).

# Levels and domains

A record has one of five levels, from the most to the least verbose: Debug, Verbose,
Info, Warning, Error (the numbers 0..4 are those of the C API's P2P_LOG_* constants;
None = 5 turns a sink off). A sink set at level L receives records of level L and above.

A record belongs to one domain: Database (the store: open, close, expiry), Replicator (the
active side: state changes, retries, conflicts), Listener (the passive side: connections,
refused peers), Network (BLIP and WebSocket: protocol errors, heartbeats) and TLS
(identities, handshakes). A sink receives the domains of its mask (Domain bits, All =
every domain).

What is logged where, at which level:

  - Listener, Info: every connection opened (peer address, user, subprotocol), the
    collections a peer asks for, every connection closed (reason, duration, documents and
    bytes each way). Warning: every error a peer caused (refused credentials or
    certificate, too many connections, a failed upgrade, a connection that ended with a
    protocol error).
  - Replicator, Info: every change of activity (connecting, busy, idle, offline, stopped),
    every conflict resolved (document, winner); Warning: every retry with its reason and
    delay, every conflict that could not be resolved, every checkpoint the peer refused
    to store (the next run then starts from the last one saved); Error: the error that
    stopped a run.
  - TLS, Warning: a failed TLS handshake with a peer. Info: anonymous identity created.
  - Network, Warning: protocol errors of the BLIP connection; Debug: its end.
  - Verbose and Debug: per-message detail (changes, revisions, checkpoints).

# Engine side

Each engine package that has no Logger configured logs through Logger(domain), a
*slog.Logger whose handler is this package's. Its Enabled reads one atomic word, so a
record that no sink wants costs a level comparison and no formatting. slog levels map
to ours: slog.LevelDebug is Debug, LevelVerbose (-2) Verbose, slog.LevelInfo Info,
slog.LevelWarn Warning, slog.LevelError Error. A logger derived with
With(DomainAttr(d)) moves its records to domain d (blip tags its connection's records
Network this way). Other attributes are appended to the message as key=value (values
quoted when they contain spaces), so a sink receives one line of text.

# Sinks

	logging.SetSink(logging.Info, logging.All, func(r logging.Record) { ... })
	logging.SetConsole(logging.Warning, logging.Listener|logging.Replicator)

SetSink installs the application's sink (nil removes it); SetConsole the console sink,
which writes one line per record to standard error:

	2025-01-31T12:00:00.000Z p2psync Info listener: connection opened peer=127.0.0.1:5123 ...

Both are off until set. The console is configured from the environment by
ConfigureFromEnv (the C library calls it when it loads): P2PSYNC_LOG=level[,domain...],
for instance P2PSYNC_LOG=info or P2PSYNC_LOG=debug,replicator,network; level is one of
debug, verbose, info, warning, error, none, and domains are database, replicator,
listener, network, tls or all (the default).

# Threads

A sink is called on the goroutine (OS thread, seen from C) that logged, with no lock of
the library held: calls may come from any thread and several at once. A sink must be
safe for concurrent use, return quickly, and may call the library (but a record it
causes is delivered to it again: avoid logging from a sink at a level it receives).
SetSink returns once the previous sink is installed no more; calls already running may
still be finishing (the C API waits for them, see capi).
*/
package logging
