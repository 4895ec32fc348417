package logging

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
)

type capture struct {
	mu   sync.Mutex
	recs []Record
}

func (c *capture) sink(r Record) {
	c.mu.Lock()
	c.recs = append(c.recs, r)
	c.mu.Unlock()
}

func (c *capture) all() []Record {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Record(nil), c.recs...)
}

func reset(t *testing.T) {
	t.Cleanup(func() {
		SetSink(None, 0, nil)
		SetConsole(None, 0)
	})
}

func TestSinkLevelsAndDomains(t *testing.T) {
	reset(t)
	var c capture
	SetSink(Info, Listener|Replicator, c.sink)
	lg := Logger(Listener)
	lg.Debug("hidden debug")
	lg.Log(nil, LevelVerbose, "hidden verbose")
	lg.Info("connection opened", "peer", "127.0.0.1:1", "user", "alice bob", "err", errors.New("x"), "d", 1500*time.Millisecond)
	lg.Warn("refused")
	Logger(Database).Error("other domain")
	lg.With(DomainAttr(Network)).Error("moved to network")
	Logger(Replicator).WithGroup("g").With("a", 1).Info("grouped", "b", 2)
	got := c.all()
	if len(got) != 3 {
		t.Fatalf("got %d records, want 3: %+v", len(got), got)
	}
	want := `connection opened peer=127.0.0.1:1 user="alice bob" err=x d=1.5s`
	if got[0].Message != want || got[0].Level != Info || got[0].Domain != Listener {
		t.Fatalf("record 0 = %+v, want %q Info listener", got[0], want)
	}
	if got[1].Level != Warning || got[1].Message != "refused" {
		t.Fatalf("record 1 = %+v", got[1])
	}
	if got[2].Message != "grouped g.a=1 g.b=2" || got[2].Domain != Replicator {
		t.Fatalf("record 2 = %+v", got[2])
	}
}

func TestDomainAttrMovesRecords(t *testing.T) {
	reset(t)
	var c capture
	SetSink(Debug, Network, c.sink)
	Logger(Listener).With(DomainAttr(Network), "blip", "1.2.3.4:5").Debug("ended")
	Logger(Listener).Error("not network")
	got := c.all()
	if len(got) != 1 || got[0].Domain != Network || got[0].Message != "ended blip=1.2.3.4:5" {
		t.Fatalf("got %+v", got)
	}
}

func TestOffCostsNoFormatting(t *testing.T) {
	reset(t)
	lg := Logger(Replicator)
	formatted := 0
	v := slog.AnyValue(valuer(func() slog.Value { formatted++; return slog.StringValue("x") }))
	lg.Info("nobody listens", "v", v)
	if formatted != 0 {
		t.Fatal("a record nobody wants was formatted")
	}
	if lg.Enabled(nil, slog.LevelError) {
		t.Fatal("enabled with no sink")
	}
	allocs := testing.AllocsPerRun(100, func() { lg.Info("nobody listens", "n", 1) })
	if allocs > 1 {
		t.Fatalf("a disabled record allocates %v times", allocs)
	}
}

type valuer func() slog.Value

func (v valuer) LogValue() slog.Value { return v() }

func TestConsoleAndEnv(t *testing.T) {
	reset(t)
	var buf bytes.Buffer
	consoleMu.Lock()
	old := consoleOut
	consoleOut = &buf
	consoleMu.Unlock()
	defer func() { consoleMu.Lock(); consoleOut = old; consoleMu.Unlock() }()

	t.Setenv(EnvVar, "verbose,replicator,tls")
	ConfigureFromEnv()
	if l, d := ConsoleSettings(); l != Verbose || d != Replicator|TLS {
		t.Fatalf("console = %v %v", l, d)
	}
	Logger(Replicator).Log(nil, LevelVerbose, "state", "to", "busy")
	Logger(Listener).Error("not replicator")
	Logger(TLS).Debug("too verbose")
	out := buf.String()
	if !strings.Contains(out, " p2psync Verbose replicator: state to=busy\n") || strings.Count(out, "\n") != 1 {
		t.Fatalf("console wrote %q", out)
	}

	buf.Reset()
	SetConsole(None, 0)
	t.Setenv(EnvVar, "loud")
	ConfigureFromEnv()
	if l, _ := ConsoleSettings(); l != None {
		t.Fatal("a bad P2PSYNC_LOG turned the console on")
	}
	if !strings.Contains(buf.String(), `ignoring P2PSYNC_LOG="loud": unknown log level`) {
		t.Fatalf("bad value reported as %q", buf.String())
	}
}

func TestParseSpec(t *testing.T) {
	for _, tc := range []struct {
		in    string
		level Level
		dom   Domain
		bad   bool
	}{
		{"info", Info, All, false},
		{"DEBUG,listener", Debug, Listener, false},
		{"warning, network , tls", Warning, Network | TLS, false},
		{"error,all", Error, All, false},
		{"none", None, All, false},
		{"info,disk", 0, 0, true},
		{"", 0, 0, true},
	} {
		l, d, err := ParseSpec(tc.in)
		if (err != nil) != tc.bad || (!tc.bad && (l != tc.level || d != tc.dom)) {
			t.Errorf("ParseSpec(%q) = %v, %v, %v", tc.in, l, d, err)
		}
	}
}

func TestSinkRemoved(t *testing.T) {
	reset(t)
	var c capture
	SetSink(Debug, All, c.sink)
	Log(Error, Database, "one")
	SetSink(Debug, All, nil)
	Log(Error, Database, "two")
	if got := c.all(); len(got) != 1 || got[0].Message != "one" {
		t.Fatalf("got %+v", got)
	}
	if l, d := SinkSettings(); l != None || d != 0 {
		t.Fatalf("settings after removal %v %v", l, d)
	}
}

func TestConcurrentLogging(t *testing.T) {
	reset(t)
	var c capture
	SetSink(Info, All, c.sink)
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < 50; j++ {
				Logger(Listener).Info("x", "j", j)
			}
		}()
	}
	for j := 0; j < 20; j++ {
		SetConsole(Error, All)
		SetConsole(None, 0)
	}
	wg.Wait()
	if n := len(c.all()); n != 400 {
		t.Fatalf("got %d records, want 400", n)
	}
}
