package owner

import (
	"sync"
	"testing"
)

func TestCurrentOnlyOnTheOwner(t *testing.T) {
	var th Thread
	if th.Current() {
		t.Fatal("an unowned Thread reads as current")
	}
	var nilThread *Thread
	if nilThread.Current() {
		t.Fatal("a nil Thread reads as current")
	}
	owned := make(chan struct{})
	release := make(chan struct{})
	inside := make(chan bool, 2)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		th.Own()
		defer th.Release()
		close(owned)
		inside <- th.Current()
		func() { inside <- th.Current() }() // a callback made by the owner
		<-release
	}()
	<-owned
	if !<-inside || !<-inside {
		t.Fatal("the owner goroutine does not read as current")
	}
	// Many other goroutines, some of which the scheduler may run on other threads: none
	// reads as the owner while it is locked to its thread.
	var others sync.WaitGroup
	var wrong sync.Mutex
	bad := 0
	for i := 0; i < 64; i++ {
		others.Add(1)
		go func() {
			defer others.Done()
			if th.Current() {
				wrong.Lock()
				bad++
				wrong.Unlock()
			}
		}()
	}
	others.Wait()
	close(release)
	wg.Wait()
	if bad != 0 {
		t.Fatalf("%d other goroutines read as the owner", bad)
	}
	if th.Current() {
		t.Fatal("a released Thread reads as current")
	}
}
