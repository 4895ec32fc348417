// Package syncproto implements the Couchbase Mobile replication messages (CBMobile 2 and
// 3 over BLIP 3) shared by both ends of a connection: the codec of every message
// (getCollections, getCheckpoint, setCheckpoint, subChanges, changes, proposeChanges,
// rev, norev) and a Session that runs the pusher and puller of each collection. A
// listener connection and a replicator run the same code with roles swapped, as
// Couchbase Lite does: the passive side answers subChanges with a Pusher in "changes"
// mode, the active side pushes with proposeChanges; both receive with a Puller.
//
// # Codec
//
// The Decode* functions accept everything PROTOCOL.md says peers send: properties in any
// order, booleans as true/YES/1, sequences as JSON numbers or strings ("40:42"), changes
// rows of 3–5 elements with boolean or integer deletion flags, a caught-up changes body of
// "[]" or "null", proposeChanges answers as integers or {"status":409,"rev":…}. The
// Encode* functions write what Couchbase Lite writes ("true" booleans, deleted="1",
// trailing zero answers omitted). Malformed input yields an error wrapping ErrBadMessage.
//
// # Sessions
//
// A caller (engine/replicator or engine/listener) does, in order:
//
//  1. conn := blip.Dial(…) or blip.Upgrade(…) (not started yet);
//  2. s := NewSession(conn, SessionConfig{Role: …, Database: db, …});
//  3. passive: s.ServePassive(PassiveConfig{…}); active: s.SetCollections(colls, aware)
//     and s.AddPuller(i, PullOptions{Active: true, …}) for each pulled collection;
//  4. conn.Start();
//  5. active: s.GetCollections / GetCheckpoint, s.SubChanges, s.StartPusher(i, …);
//  6. watch OnProgress / Failed(); read Pusher.Checkpoint and Puller.Checkpoint to save
//     checkpoints; at the end s.Quiesce(ctx) (optional, for the freshest checkpoint),
//     close the connection, then s.Close().
//
// Example (active push of the default collection):
//
//	s := syncproto.NewSession(conn, syncproto.SessionConfig{Role: syncproto.RoleActive, Database: db, RemoteID: url})
//	s.SetCollections([]*store.Collection{db.DefaultCollection()}, true)
//	conn.Start()
//	cps, err := s.GetCollections(ctx, syncproto.GetCollectionsRequest{CheckpointIDs: []string{id}, Collections: []string{"_default"}}, db.UUID())
//	p, err := s.StartPusher(0, syncproto.PushOptions{Propose: true, Since: 0})
//	<-p.Done()
//
// Received revisions are saved in batched transactions and acknowledged only once
// durable. Checkpoint positions only advance over rows that are completely handled
// (PROTOCOL §7.2), whatever order revisions complete in.
//
// # Reserved keys in bodies
//
// A received body loses the top-level "_" keys the protocol defines (_id, _rev,
// _deleted, _revisions, _exp, _attachments, _removed; "_removed": true is a revocation)
// and keeps everything else as sent, order included. A revision with any other
// top-level "_" key is refused with HTTP/400 and a document event naming the key:
// the store cannot hold it (store.IsReservedProperty) and dropping it would leave two
// bodies under one revision ID. The pusher sends no body with a reserved key (a
// database written before the store refused them may hold one): it reports a document
// error wrapping store.ErrReservedProperty, and answers a peer's request for it with a
// norev (HTTP/400).
//
// # Thread safety
//
// A Session is safe for concurrent use. Its callbacks (OnDocument, OnConflict,
// OnProgress, filters) are called from session goroutines, never with a session lock
// held; they must return quickly. Close waits for every goroutine the session started.
package syncproto
