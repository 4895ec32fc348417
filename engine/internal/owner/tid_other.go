//go:build !linux

package owner

// threadID has no portable implementation outside Linux (the platform the library is built
// for): every thread reads as unowned there, so a call from inside a callback waits as a
// call from elsewhere does.
func threadID() int { return -1 }
