package main

import (
	"testing"
	"time"
)

func TestCallbackGateWaitsAndRefuses(t *testing.T) {
	var g callbackGate
	release := make(chan struct{})
	started := make(chan struct{})
	go callGated(&g, false, func() bool { close(started); <-release; return true })
	<-started
	closed := make(chan struct{})
	go func() { g.Close(); close(closed) }()
	select {
	case <-closed:
		t.Fatal("Close returned while a call was in flight")
	case <-time.After(50 * time.Millisecond):
	}
	close(release)
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not return after the call ended")
	}
	if callGated(&g, false, func() bool { t.Error("called after Close"); return true }) {
		t.Fatal("closed gate let a call through")
	}
}
