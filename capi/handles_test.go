package main

import (
	"errors"
	"sync"
	"testing"
)

type testObj struct {
	node
	name string
}

func TestRegistryHandleRules(t *testing.T) {
	parents := newRegistry[*testObj](0x70)
	children := newRegistry[*testObj](0x71)

	p := &testObj{name: "parent"}
	ph, err := parents.add(p)
	if err != nil {
		t.Fatal(err)
	}
	if ph>>56 != 0x70 || int64(ph) <= 0 {
		t.Fatalf("handle %#x: wrong kind or not positive as int64", ph)
	}
	ch, err := children.add(&testObj{node: node{parent: &p.node}, name: "child"})
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name string
		h    uint64
	}{
		{"zero", 0},
		{"wrong kind", ch},
		{"never issued", 0x70<<56 | 12345},
		{"all bits", ^uint64(0)},
	}
	for _, tt := range tests {
		t.Run("lookup "+tt.name, func(t *testing.T) {
			if _, err := parents.lookup(tt.h); !errors.Is(err, errInvalidHandle) {
				t.Fatalf("lookup(%#x) err = %v, want errInvalidHandle", tt.h, err)
			}
		})
	}

	if _, _, err := parents.remove(ph); !errors.Is(err, errBusy) {
		t.Fatalf("closing a parent with a live child: err = %v, want errBusy", err)
	}
	if _, err := parents.lookup(ph); err != nil {
		t.Fatalf("a refused close must leave the parent open: %v", err)
	}
	if _, found, err := children.remove(ch); err != nil || !found {
		t.Fatalf("close child: found=%v err=%v", found, err)
	}
	if _, found, err := children.remove(ch); err != nil || found {
		t.Fatalf("second close must be a harmless no-op: found=%v err=%v", found, err)
	}
	if _, found, err := parents.remove(ph); err != nil || !found {
		t.Fatalf("close parent: found=%v err=%v", found, err)
	}
	if _, err := children.add(&testObj{node: node{parent: &p.node}}); !errors.Is(err, errInvalidHandle) {
		t.Fatalf("adding a child to a closed parent: err = %v, want errInvalidHandle", err)
	}
	if _, _, err := parents.remove(0x70<<56 | 999); !errors.Is(err, errInvalidHandle) {
		t.Fatalf("closing a never-issued handle: err = %v", err)
	}
	if _, found, err := parents.remove(0); err != nil || found {
		t.Fatalf("close(0): found=%v err=%v", found, err)
	}
	ph2, _ := parents.add(&testObj{})
	if ph2 == ph {
		t.Fatal("serials must never be reused")
	}
	parents.remove(ph2)
}

func TestRegistryConcurrent(t *testing.T) {
	r := newRegistry[*testObj](0x72)
	before := liveHandles()
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 200; i++ {
				h, err := r.add(&testObj{})
				if err != nil {
					t.Error(err)
					return
				}
				if _, err := r.lookup(h); err != nil {
					t.Error(err)
				}
				if _, found, err := r.remove(h); !found || err != nil {
					t.Errorf("remove: found=%v err=%v", found, err)
				}
			}
		}()
	}
	wg.Wait()
	if got := liveHandles(); got != before {
		t.Fatalf("live handles %d, want %d", got, before)
	}
}

// TestGuardRecoversPanics checks the firewall: a panic becomes P2P_ERR_INTERNAL.
func TestGuardRecoversPanics(t *testing.T) {
	panicking := func() (rc status) {
		defer guard(&rc, nil)
		var m map[string]int
		m["boom"]++ // assignment to a nil map panics
		return 0
	}
	if rc := panicking(); rc != -99 {
		t.Fatalf("rc = %d, want -99", rc)
	}
}
