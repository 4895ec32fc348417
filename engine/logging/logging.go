package logging

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode"
)

// Level is the severity of a record; the values are the C API's P2P_LOG_* constants.
type Level int32

// Levels, from the most to the least verbose. None turns a sink off.
const (
	Debug Level = iota
	Verbose
	Info
	Warning
	Error
	None
)

var levelNames = [...]string{"Debug", "Verbose", "Info", "Warning", "Error", "None"}

func (l Level) String() string {
	if l >= 0 && int(l) < len(levelNames) {
		return levelNames[l]
	}
	return "Level(" + strconv.Itoa(int(l)) + ")"
}

// LevelVerbose is the slog level of Verbose records (between slog.LevelDebug and
// slog.LevelInfo).
const LevelVerbose slog.Level = -2

// FromSlog maps a slog level to ours: below LevelVerbose is Debug, below Info Verbose,
// below Warn Info, below Error Warning, the rest Error.
func FromSlog(l slog.Level) Level {
	switch {
	case l < LevelVerbose:
		return Debug
	case l < slog.LevelInfo:
		return Verbose
	case l < slog.LevelWarn:
		return Info
	case l < slog.LevelError:
		return Warning
	default:
		return Error
	}
}

// Domain is the part of the library a record comes from; the values are the C API's
// P2P_LOG_DOMAIN_* bits, and a sink's mask is their union.
type Domain uint32

// Domains.
const (
	Database   Domain = 1 << iota // the store
	Replicator                    // the active side
	Listener                      // the passive side
	Network                       // BLIP, WebSocket
	TLS                           // identities, handshakes

	All = Database | Replicator | Listener | Network | TLS
)

var domainNames = []struct {
	d    Domain
	name string
}{{Database, "database"}, {Replicator, "replicator"}, {Listener, "listener"}, {Network, "network"}, {TLS, "tls"}}

// String is the lower-case name of one domain ("replicator"), or the names of a mask
// joined with "|".
func (d Domain) String() string {
	var parts []string
	for _, n := range domainNames {
		if d&n.d != 0 {
			parts = append(parts, n.name)
		}
	}
	if rest := d &^ All; rest != 0 || len(parts) == 0 {
		parts = append(parts, "0x"+strconv.FormatUint(uint64(rest), 16))
	}
	return strings.Join(parts, "|")
}

// Record is what a sink receives: one line of text (the message followed by its
// attributes as key=value), its level and its domain.
type Record struct {
	Time    time.Time
	Level   Level
	Domain  Domain
	Message string
}

// Sink receives records; see the package documentation for its threading.
type Sink func(Record)

type sinkConf struct {
	level   Level
	domains Domain
}

func (c sinkConf) wants(l Level, d Domain) bool { return l >= c.level && l < None && d&c.domains != 0 }

// config is one immutable configuration; enabled[l] is the union of the domains some
// sink takes at level l.
type config struct {
	console sinkConf
	app     sinkConf
	sink    Sink
	enabled [None]Domain
}

var (
	current atomic.Pointer[config]
	setMu   sync.Mutex // serialises the setters

	consoleMu  sync.Mutex // serialises console lines
	consoleOut io.Writer  = os.Stderr
)

func init() {
	current.Store(&config{console: sinkConf{level: None}, app: sinkConf{level: None}})
}

// update installs a new configuration derived from the current one.
func update(change func(c *config)) {
	setMu.Lock()
	defer setMu.Unlock()
	c := *current.Load()
	change(&c)
	if c.sink == nil {
		c.app = sinkConf{level: None}
	}
	for l := Debug; l < None; l++ {
		c.enabled[l] = 0
		if c.console.wants(l, All) {
			c.enabled[l] |= c.console.domains
		}
		if c.app.wants(l, All) {
			c.enabled[l] |= c.app.domains
		}
	}
	current.Store(&c)
}

// SetSink makes fn the application's sink for records of level and above in domains;
// fn nil (or level None, or domains 0) removes it.
func SetSink(level Level, domains Domain, fn Sink) {
	update(func(c *config) { c.app, c.sink = sinkConf{level, domains & All}, fn })
}

// SetConsole sets the level and domains written to standard error; level None turns
// the console off.
func SetConsole(level Level, domains Domain) {
	update(func(c *config) { c.console = sinkConf{level, domains & All} })
}

// SinkSettings returns the application sink's level and domains (None, 0 without one).
func SinkSettings() (Level, Domain) {
	c := current.Load()
	return c.app.level, c.app.domains
}

// ConsoleSettings returns the console's level and domains.
func ConsoleSettings() (Level, Domain) {
	c := current.Load()
	return c.console.level, c.console.domains
}

// Enabled reports whether some sink wants a record of level l in domain d. It is the
// whole cost of a record nobody wants: one atomic load and a comparison.
func Enabled(l Level, d Domain) bool {
	return l >= Debug && l < None && current.Load().enabled[l]&d != 0
}

// Log delivers one record to the sinks that want it.
func Log(l Level, d Domain, msg string) {
	if Enabled(l, d) {
		dispatch(Record{Time: time.Now(), Level: l, Domain: d, Message: msg})
	}
}

func dispatch(r Record) {
	c := current.Load()
	if c.console.wants(r.Level, r.Domain) {
		writeConsole(r)
	}
	if c.sink != nil && c.app.wants(r.Level, r.Domain) {
		c.sink(r)
	}
}

func writeConsole(r Record) {
	line := fmt.Sprintf("%s p2psync %s %s: %s\n", r.Time.UTC().Format("2006-01-02T15:04:05.000Z"), r.Level, r.Domain, r.Message)
	consoleMu.Lock()
	defer consoleMu.Unlock()
	_, _ = io.WriteString(consoleOut, line)
}

// ParseLevel reads a level name (debug, verbose, info, warning, error, none; any case;
// "warn" and "off" are accepted too).
func ParseLevel(s string) (Level, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "debug":
		return Debug, nil
	case "verbose":
		return Verbose, nil
	case "info":
		return Info, nil
	case "warning", "warn":
		return Warning, nil
	case "error":
		return Error, nil
	case "none", "off":
		return None, nil
	}
	return None, fmt.Errorf("unknown log level %q (expected debug, verbose, info, warning, error or none)", s)
}

// ParseDomain reads one domain name (database, replicator, listener, network, tls, all).
func ParseDomain(s string) (Domain, error) {
	name := strings.ToLower(strings.TrimSpace(s))
	if name == "all" {
		return All, nil
	}
	for _, n := range domainNames {
		if n.name == name {
			return n.d, nil
		}
	}
	return 0, fmt.Errorf("unknown log domain %q (expected database, replicator, listener, network, tls or all)", s)
}

// ParseSpec reads "level[,domain...]" (the form of P2PSYNC_LOG); no domain means All.
func ParseSpec(spec string) (Level, Domain, error) {
	parts := strings.Split(spec, ",")
	level, err := ParseLevel(parts[0])
	if err != nil {
		return None, 0, err
	}
	var domains Domain
	for _, p := range parts[1:] {
		d, err := ParseDomain(p)
		if err != nil {
			return None, 0, err
		}
		domains |= d
	}
	if len(parts) == 1 {
		domains = All
	}
	return level, domains, nil
}

// EnvVar is the environment variable ConfigureFromEnv reads.
const EnvVar = "P2PSYNC_LOG"

// ConfigureFromEnv sets the console from P2PSYNC_LOG when it is set and not empty. A
// value that does not parse leaves the console off and is reported with one line on
// standard error (the library cannot return an error while it loads).
func ConfigureFromEnv() {
	spec, ok := os.LookupEnv(EnvVar)
	if !ok || strings.TrimSpace(spec) == "" {
		return
	}
	level, domains, err := ParseSpec(spec)
	if err != nil {
		consoleMu.Lock()
		fmt.Fprintf(consoleOut, "p2psync: ignoring %s=%q: %v\n", EnvVar, spec, err)
		consoleMu.Unlock()
		return
	}
	SetConsole(level, domains)
}

// Logger returns a *slog.Logger whose records go to the library log in domain d.
func Logger(d Domain) *slog.Logger { return slog.New(&Handler{domain: d}) }

// domainKey is the attribute key that moves a logger's records to another domain.
const domainKey = "p2psync.domain"

// DomainAttr is an attribute for slog.Logger.With that moves the logger's records to
// domain d when its handler is this package's (another handler shows it as
// p2psync.domain=<name>).
func DomainAttr(d Domain) slog.Attr { return slog.Any(domainKey, d) }

// Handler is the slog.Handler of the library log.
type Handler struct {
	domain Domain
	prefix string // group prefix of later attributes ("g1.g2.")
	attrs  string // preformatted " key=value" of With
}

// Enabled implements slog.Handler.
func (h *Handler) Enabled(_ context.Context, l slog.Level) bool {
	return Enabled(FromSlog(l), h.domain)
}

// Handle implements slog.Handler: it formats the record as one line and delivers it.
func (h *Handler) Handle(_ context.Context, r slog.Record) error {
	l := FromSlog(r.Level)
	if !Enabled(l, h.domain) {
		return nil
	}
	var b strings.Builder
	b.WriteString(r.Message)
	b.WriteString(h.attrs)
	r.Attrs(func(a slog.Attr) bool {
		appendAttr(&b, h.prefix, a)
		return true
	})
	t := r.Time
	if t.IsZero() {
		t = time.Now()
	}
	dispatch(Record{Time: t, Level: l, Domain: h.domain, Message: b.String()})
	return nil
}

// WithAttrs implements slog.Handler.
func (h *Handler) WithAttrs(as []slog.Attr) slog.Handler {
	n := *h
	var b strings.Builder
	b.WriteString(h.attrs)
	for _, a := range as {
		if d, ok := a.Value.Any().(Domain); ok && a.Key == domainKey {
			n.domain = d
			continue
		}
		appendAttr(&b, h.prefix, a)
	}
	n.attrs = b.String()
	return &n
}

// WithGroup implements slog.Handler.
func (h *Handler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	n := *h
	n.prefix = h.prefix + name + "."
	return &n
}

func appendAttr(b *strings.Builder, prefix string, a slog.Attr) {
	v := a.Value.Resolve()
	if a.Equal(slog.Attr{}) {
		return
	}
	if v.Kind() == slog.KindGroup {
		p := prefix
		if a.Key != "" {
			p += a.Key + "."
		}
		for _, g := range v.Group() {
			appendAttr(b, p, g)
		}
		return
	}
	b.WriteByte(' ')
	b.WriteString(prefix)
	b.WriteString(a.Key)
	b.WriteByte('=')
	var s string
	switch v.Kind() {
	case slog.KindTime:
		s = v.Time().UTC().Format(time.RFC3339Nano)
	case slog.KindAny:
		if x := v.Any(); x == nil {
			s = "<nil>"
		} else {
			s = fmt.Sprint(x)
		}
	default:
		s = v.String()
	}
	b.WriteString(quoteIfNeeded(s))
}

func quoteIfNeeded(s string) string {
	if s == "" {
		return `""`
	}
	for _, r := range s {
		if unicode.IsSpace(r) || r == '"' || r == '=' || !unicode.IsPrint(r) {
			return strconv.Quote(s)
		}
	}
	return s
}
