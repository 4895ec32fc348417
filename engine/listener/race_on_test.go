//go:build race

package listener

// raceEnabled: the race detector's shadow memory is not given back to the system, so
// resident-size checks only hold without it (make test-go runs them both ways).
const raceEnabled = true
