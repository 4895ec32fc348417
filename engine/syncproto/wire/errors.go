package wire

import (
	"errors"
	"fmt"
)

// Sentinel errors of the codec. engine/syncproto re-exports both under the same names
// (the same values, so errors.Is matches either spelling).
var (
	// ErrBadMessage: a peer message is malformed (bad JSON, missing property, wrong shape).
	ErrBadMessage = errors.New("syncproto: malformed message")
	// ErrUnknownCollection: a collection index that cannot name a collection (negative
	// or not a number); the session also uses it for one it does not serve.
	ErrUnknownCollection = errors.New("syncproto: unknown collection")
)

func badf(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrBadMessage}, args...)...)
}
