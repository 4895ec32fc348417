package syncproto

import (
	"context"
	"errors"
	"fmt"

	"github.com/p2psync/libp2psync/engine/blip"
	"github.com/p2psync/libp2psync/engine/syncproto/wire"
)

// The requests only an active peer sends: collections, checkpoints, subscription.

// GetCollections sends getCollections (it must be the first request of the connection)
// and returns one entry per collection. A peer without the handler answers BLIP/404; the
// caller may then fall back to legacy mode (see IsNoHandler).
func (s *Session) GetCollections(ctx context.Context, req wire.GetCollectionsRequest, uuid string) ([]wire.RemoteCheckpoint, error) {
	msg := blip.NewRequest(wire.ProfileGetCollections)
	if uuid != "" {
		msg.Properties.Set("uuid", uuid)
	}
	msg.Compressed = true
	msg.Body = req.Encode()
	reply, err := s.conn.Send(ctx, msg)
	if err != nil {
		return nil, fmt.Errorf("getCollections: %w", err)
	}
	body, err := reply.ReadBody()
	if err != nil {
		return nil, fmt.Errorf("getCollections: read answer: %w", err)
	}
	return wire.DecodeGetCollectionsResponse(body, len(req.Collections))
}

// IsNoHandler reports a BLIP/404 "no handler" answer (a peer too old for a request).
func IsNoHandler(err error) bool {
	var be *blip.Error
	return errors.As(err, &be) && be.Code == 404 && (be.Domain == "BLIP" || be.Domain == "")
}

// GetCheckpoint reads the checkpoint the peer stores for clientID. ErrNoCheckpoint when
// there is none (HTTP/404).
func (s *Session) GetCheckpoint(ctx context.Context, idx int, clientID string) (wire.Checkpoint, string, error) {
	msg := s.newRequest(wire.ProfileGetCheckpoint, idx, []wire.Prop{{Key: "client", Value: clientID}})
	reply, err := s.conn.Send(ctx, msg)
	if err != nil {
		var be *blip.Error
		if errors.As(err, &be) && be.Code == 404 {
			return wire.Checkpoint{}, "", ErrNoCheckpoint
		}
		return wire.Checkpoint{}, "", fmt.Errorf("getCheckpoint: %w", err)
	}
	body, err := reply.ReadBody()
	if err != nil {
		return wire.Checkpoint{}, "", fmt.Errorf("getCheckpoint: read answer: %w", err)
	}
	cp, err := wire.DecodeCheckpoint(body)
	if err != nil {
		return wire.Checkpoint{}, "", fmt.Errorf("getCheckpoint: %w", err)
	}
	return cp, reply.Properties.Get("rev"), nil
}

// SetCheckpoint saves a checkpoint on the peer. rev is the last known checkpoint revision
// ("" when creating). ErrCheckpointConflict on HTTP/409.
func (s *Session) SetCheckpoint(ctx context.Context, idx int, clientID, rev string, cp wire.Checkpoint) (string, error) {
	props := []wire.Prop{{Key: "client", Value: clientID}}
	if rev != "" {
		props = append(props, wire.Prop{Key: "rev", Value: rev})
	}
	msg := s.newRequest(wire.ProfileSetCheckpoint, idx, props)
	msg.Body = cp.Encode()
	reply, err := s.conn.Send(ctx, msg)
	if err != nil {
		var be *blip.Error
		if errors.As(err, &be) && be.Code == 409 {
			return "", ErrCheckpointConflict
		}
		return "", fmt.Errorf("setCheckpoint: %w", err)
	}
	return reply.Properties.Get("rev"), nil
}

// SubChanges asks the peer to start sending collection idx's changes.
func (s *Session) SubChanges(ctx context.Context, idx int, sub wire.SubChanges) error {
	msg := s.newRequest(wire.ProfileSubChanges, idx, sub.Props())
	msg.Body = sub.Body()
	if _, err := s.conn.Send(ctx, msg); err != nil {
		var be *blip.Error
		if errors.As(err, &be) {
			switch {
			case be.Code == 403:
				return fmt.Errorf("%w: subChanges refused: %s", ErrForbidden, be.Message)
			case be.Domain == "LiteCore" && (be.Code == 18 || be.Code == 501):
				return fmt.Errorf("%w: subChanges: %s", ErrPeerIncompatible, be.Message)
			}
		}
		return fmt.Errorf("subChanges: %w", err)
	}
	return nil
}
