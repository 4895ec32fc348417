package hlv

import (
	"errors"
	"fmt"
	"sync"
	"time"
)

// Bounds on timestamps a Clock accepts from elsewhere (Couchbase Lite uses the same).
const (
	// MinValidTime is 27 June 2023: a smaller value is not a hybrid-logical-clock time
	// (legacy stand-in versions, for instance, are far below it).
	MinValidTime uint64 = 0x176c9a6fd6900000
	// MaxValidTime is the largest positive int64 (year 2262).
	MaxValidTime uint64 = 0x7fffffffffffffff
	// MaxClockSkew is how far ahead of the local wall clock an observed time may be.
	MaxClockSkew = 2 * time.Minute
)

// ErrInvalidTime is returned by Observe for a time it will not move the clock to.
var ErrInvalidTime = errors.New("hlv: invalid timestamp")

// counterBits is the width of the logical counter in the low bits of a time.
const counterBits = 16

// Clock is a hybrid logical clock: its times are wall-clock nanoseconds since the Unix
// epoch with the low 16 bits used as a logical counter. Now never returns a time at or
// below one it returned before or one passed to Observe, even when the wall clock steps
// back. A Clock is safe for concurrent use.
type Clock struct {
	mu   sync.Mutex
	last uint64
	wall func() time.Time
}

// NewClock returns a clock whose times will all be greater than state (a value saved
// from Last, or 0). wall is the wall clock; nil means time.Now.
func NewClock(state uint64, wall func() time.Time) *Clock {
	if wall == nil {
		wall = time.Now
	}
	return &Clock{last: state, wall: wall}
}

func (c *Clock) wallNanos() uint64 {
	ns := c.wall().UnixNano()
	if ns < 0 {
		return 0
	}
	return uint64(ns)
}

// Now returns a new time: the wall clock with the counter bits cleared, or, if that is
// not above the last time, the last time plus one (the counter advances; on overflow it
// carries into the wall-clock bits, staying monotonic).
func (c *Clock) Now() uint64 {
	w := c.wallNanos() &^ (1<<counterBits - 1)
	c.mu.Lock()
	defer c.mu.Unlock()
	if w > c.last {
		c.last = w
	} else {
		c.last++
	}
	return c.last
}

// Observe records a time seen elsewhere (a received version) so that later Now values
// exceed it. A time below MinValidTime, above MaxValidTime, or more than MaxClockSkew
// ahead of the wall clock is refused with ErrInvalidTime and leaves the clock as it was.
func (c *Clock) Observe(t uint64) error {
	if err := c.Check(t); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if t > c.last {
		c.last = t
	}
	return nil
}

// Check reports whether Observe would accept t.
func (c *Clock) Check(t uint64) error {
	switch {
	case t < MinValidTime:
		return fmt.Errorf("%w: %x is before mid-2023, not a hybrid-logical-clock time", ErrInvalidTime, t)
	case t > MaxValidTime:
		return fmt.Errorf("%w: %x is beyond the year 2262", ErrInvalidTime, t)
	case t > c.wallNanos()+uint64(MaxClockSkew):
		return fmt.Errorf("%w: %x is more than %v ahead of the local clock", ErrInvalidTime, t, MaxClockSkew)
	}
	return nil
}

// Last returns the clock's state: the largest time it has returned or observed. Saving
// it and passing it to NewClock keeps the clock monotonic across restarts.
func (c *Clock) Last() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.last
}

// AdvancePast makes later Now values exceed t without any validity check. It is for
// times this database itself wrote (found in its own stored vectors), which must never
// be reissued whatever the wall clock says.
func (c *Clock) AdvancePast(t uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if t > c.last {
		c.last = t
	}
}
