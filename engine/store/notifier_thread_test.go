package store

import (
	"context"
	"testing"
)

// The notifier goroutine owns (is locked to) its OS thread only while it calls
// listeners: a callback is recognised as one (InChangeListener), and between commits the
// goroutine waits unlocked, so that a commit wakes it on whatever thread is free instead
// of on its own, which a loaded machine can delay by milliseconds.
func TestNotifierOwnsItsThreadOnlyWhileDelivering(t *testing.T) {
	db := openTest(t, Config{})
	ctx := context.Background()
	c := db.DefaultCollection()
	inside := make(chan bool, 4)
	owned := make(chan bool, 4)
	tok := c.AddChangeListener(func(CollectionChange) {
		inside <- db.InChangeListener()
		owned <- db.notify.thread.Owned()
	})
	defer tok.Remove()
	for i := 0; i < 2; i++ {
		if _, err := c.Save(ctx, "doc", []byte(`{"i":1}`), SaveOptions{}); err != nil {
			t.Fatal(err)
		}
		if err := db.WaitChangesDelivered(ctx); err != nil {
			t.Fatal(err)
		}
		if !<-inside || !<-owned {
			t.Fatal("a listener call is not recognised as one")
		}
		if db.InChangeListener() {
			t.Fatal("the test goroutine reads as a listener")
		}
		// WaitChangesDelivered returns once the delivery is marked done, just after the
		// callbacks returned; the thread is released before that mark.
		if db.notify.thread.Owned() {
			t.Fatal("the notifier goroutine holds its thread while waiting for commits")
		}
	}
}
