package blip

import (
	"context"
	"log/slog"
	"testing"
)

// testLogger routes connection logs to the test log (shown with -v or on failure).
func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	defer func() { _ = recover() }() // logging after the test ended must not crash
	w.t.Log(string(p))
	return len(p), nil
}

var _ = context.Background
