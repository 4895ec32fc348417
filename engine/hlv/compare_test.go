package hlv

import (
	"errors"
	"testing"
	"time"
)

func mustVector(t *testing.T, s string) Vector {
	t.Helper()
	v, err := ParseVector(s)
	if err != nil {
		t.Fatalf("ParseVector(%q): %v", s, err)
	}
	return v
}

func TestCompare(t *testing.T) {
	for _, c := range []struct {
		a, b string
		want Order
	}{
		{"10@a", "10@a", Same},
		{"10@a;5@b", "10@a", Same}, // same current version: same revision
		{"11@a", "10@a", Newer},
		{"10@a", "11@a", Older},
		{"20@b;10@a", "10@a", Newer},
		{"10@a", "20@b;10@a", Older},
		{"20@b;9@a", "10@a", Conflicting}, // b's history holds an older a
		{"20@b", "10@a", Conflicting},
		{"30@c,20@b,10@a;", "20@b", Newer}, // merge versions count as history
		{"30@c,20@b,10@a;", "31@d,20@b,10@a;", Conflicting},
		{"18ed7b68deea0000@" + srcSG + ";18ed7b68ac6e0000@" + srcB + ",18ed7b68ac6f0000@" + srcA,
			"18ed7b68ac6f0000@" + srcA + ";18ed7b68ac6e0000@" + srcB, Newer}, // W.3 [32] over what we pushed
		{"18ed7b68e8c20000@" + srcSG + ";1ababababab@" + LegacySource, "1ababababab@" + LegacySource, Newer},
	} {
		a, b := mustVector(t, c.a), mustVector(t, c.b)
		if got := a.Compare(b); got != c.want {
			t.Errorf("%s vs %s = %v, want %v", c.a, c.b, got, c.want)
		}
		want := c.want
		switch want {
		case Newer:
			want = Older
		case Older:
			want = Newer
		}
		if got := b.Compare(a); got != want {
			t.Errorf("%s vs %s = %v, want %v", c.b, c.a, got, want)
		}
	}
	a, b := mustVector(t, "30@c,20@b,10@a;"), mustVector(t, "31@d,10@a,20@b;")
	if !a.MergesSameVersions(b) || a.MergesSameVersions(mustVector(t, "31@d;10@a,20@b")) {
		t.Error("MergesSameVersions")
	}
	if !a.Contains(Version{0x20, "b"}) || a.Contains(Version{0x21, "b"}) || a.Contains(Version{1, "z"}) {
		t.Error("Contains")
	}
}

func TestAddVersion(t *testing.T) {
	v := mustVector(t, "30@c,20@b,10@a;5@d,3@e")
	got, err := v.AddVersion(Version{0x40, "b"})
	if err != nil {
		t.Fatal(err)
	}
	if got.String() != "40@b;30@c,10@a,5@d,3@e" {
		t.Fatalf("got %s", got)
	}
	if _, err := v.AddVersion(Version{0x20, "b"}); !errors.Is(err, ErrSyntax) {
		t.Fatalf("stale own version accepted: %v", err)
	}
	first, _ := Vector{}.AddVersion(Version{7, "me"})
	if first.String() != "7@me" {
		t.Fatalf("first version %s", first)
	}
	// A document from a revision tree gains its first version on top of its legacy one.
	lv, _ := LegacyVersion("2-e95bdc5242aa")
	up, _ := Vector{Current: lv}.AddVersion(Version{0x18ed7b68ac6e0000, srcA})
	if up.String() != "18ed7b68ac6e0000@"+srcA+";2e95bdc5242@"+LegacySource {
		t.Fatalf("upgraded %s", up)
	}
}

func TestMerge(t *testing.T) {
	local := mustVector(t, "20@me;10@a,5@b")
	remote := mustVector(t, "25@x;12@a,7@c")
	m, err := Merge(local, remote, Version{0x30, "me"})
	if err != nil {
		t.Fatal(err)
	}
	if m.String() != "30@me,25@x,20@me;12@a,7@c,5@b" {
		t.Fatalf("merge %s", m)
	}
	// Both sides' current versions are now contained: neither conflicts with the merge.
	if m.Compare(local) != Newer || m.Compare(remote) != Newer {
		t.Fatalf("merge does not dominate: %v %v", m.Compare(local), m.Compare(remote))
	}
	// Commutative apart from who writes the new version.
	m2, _ := Merge(remote, local, Version{0x30, "me"})
	if !m2.Equal(m) {
		t.Fatalf("not commutative: %s vs %s", m2, m)
	}
	// Another peer resolving the same conflict records the same merge versions.
	other, _ := Merge(remote, local, Version{0x31, "x"})
	if !other.MergesSameVersions(m) {
		t.Fatalf("%s and %s should merge the same versions", other, m)
	}
	if _, err := Merge(local, mustVector(t, "21@me"), Version{0x30, "me"}); err == nil {
		t.Fatal("merging two versions of one source accepted")
	}
	if _, err := Merge(local, remote, Version{0x25, "me"}); err == nil {
		t.Fatal("merge version not newer than both accepted")
	}
}

func TestPrune(t *testing.T) {
	v := mustVector(t, "100@a,90@b,80@c;10@d,70@e,50@f,60@g")
	if got := v.Prune(10, 0); !got.Equal(v) {
		t.Fatalf("short vector changed: %s", got)
	}
	got := v.Prune(5, 0)
	if got.String() != "100@a,90@b,80@c;70@e,60@g" {
		t.Fatalf("prune 5: %s", got)
	}
	// Current and merge versions are never removed.
	if got := v.Prune(1, 0); got.String() != "100@a,90@b,80@c;" {
		t.Fatalf("prune 1: %s", got)
	}
	// With a cutoff only older previous versions go.
	if got := v.Prune(3, 0x55); got.String() != "100@a,90@b,80@c;70@e,60@g" {
		t.Fatalf("prune before: %s", got)
	}
	if v.String() != "100@a,90@b,80@c;10@d,70@e,50@f,60@g" {
		t.Fatal("Prune modified its receiver")
	}
}

func TestLocalWins(t *testing.T) {
	older, newer := Version{100, "a"}, Version{200, "b"}
	if LocalWins(older, false, newer, false) || !LocalWins(newer, false, older, false) {
		t.Error("last writer must win")
	}
	if !LocalWins(older, true, newer, false) || LocalWins(newer, false, older, true) {
		t.Error("a deletion must win over a later live revision")
	}
	if LocalWins(older, true, newer, true) {
		t.Error("two deletions: last writer wins")
	}
	tieA, tieB := Version{100, "a"}, Version{100, "b"}
	if LocalWins(tieA, false, tieB, false) == LocalWins(tieB, false, tieA, false) {
		t.Error("a tie must be decided the same way on both sides")
	}
}

type fakeWall struct{ t time.Time }

func (f *fakeWall) now() time.Time { return f.t }

func TestClock(t *testing.T) {
	w := &fakeWall{t: time.Date(2026, 12, 7, 1, 0, 0, 123456789, time.UTC)}
	c := NewClock(0, w.now)
	t1 := c.Now()
	if t1&0xffff != 0 || t1 != uint64(w.t.UnixNano())&^0xffff {
		t.Fatalf("first time %x", t1)
	}
	t2 := c.Now() // same wall time: the counter advances
	if t2 != t1+1 {
		t.Fatalf("same instant: %x after %x", t2, t1)
	}
	w.t = w.t.Add(-time.Hour) // the wall clock steps back
	t3 := c.Now()
	if t3 <= t2 {
		t.Fatalf("clock went back: %x after %x", t3, t2)
	}
	w.t = w.t.Add(2 * time.Hour)
	t4 := c.Now()
	if t4 != uint64(w.t.UnixNano())&^0xffff {
		t.Fatalf("wall clock ahead again: %x", t4)
	}
	// A remote time ahead of us (within the skew bound) pushes the clock past it.
	remote := uint64(w.t.Add(time.Minute).UnixNano())
	if err := c.Observe(remote); err != nil {
		t.Fatal(err)
	}
	if t5 := c.Now(); t5 <= remote {
		t.Fatalf("after observing %x: %x", remote, t5)
	}
	// An older remote time changes nothing.
	last := c.Last()
	if err := c.Observe(t1); err != nil || c.Last() != last {
		t.Fatalf("observing the past: %v %x", err, c.Last())
	}
	for _, bad := range []uint64{5, 0x1ababababab, MaxValidTime + 1, uint64(w.t.Add(time.Hour).UnixNano())} {
		if err := c.Observe(bad); !errors.Is(err, ErrInvalidTime) || c.Last() != last {
			t.Errorf("Observe(%x) = %v (state %x)", bad, err, c.Last())
		}
	}
	// State survives a restart.
	c2 := NewClock(c.Last(), w.now)
	w.t = w.t.Add(-time.Hour)
	if n := c2.Now(); n <= last {
		t.Fatalf("restarted clock went back: %x <= %x", n, last)
	}
	c2.AdvancePast(MaxValidTime)
	if n := c2.Now(); n <= MaxValidTime {
		t.Fatalf("AdvancePast: %x", n)
	}
}

func TestClockConcurrent(t *testing.T) {
	c := NewClock(0, nil)
	const workers, each = 4, 500
	out := make(chan uint64, workers*each)
	done := make(chan struct{})
	for i := 0; i < workers; i++ {
		go func() {
			for j := 0; j < each; j++ {
				out <- c.Now()
			}
			done <- struct{}{}
		}()
	}
	for i := 0; i < workers; i++ {
		<-done
	}
	close(out)
	seen := map[uint64]bool{}
	for v := range out {
		if seen[v] {
			t.Fatalf("time %x issued twice", v)
		}
		seen[v] = true
	}
}
