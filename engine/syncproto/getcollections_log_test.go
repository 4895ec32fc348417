package syncproto

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/p2psync/libp2psync/engine/store"
	"github.com/p2psync/libp2psync/engine/syncproto/wire"
)

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// A peer naming hundreds of collections this side does not have (up to
// wire.MaxCollections in all) gets them answered null, and the log line about its request names only the first few (with the count):
// the peer chooses how many it names, not how long a line this side logs. Before, the
// line named every one.
func TestGetCollectionsLogLineBounded(t *testing.T) {
	db := openDB(t)
	var logs lockedBuffer
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, err := Accept(w, r, SessionConfig{Database: db, Logger: logger})
		if err != nil {
			return
		}
		s.ServePassive(PassiveConfig{Collections: []*store.Collection{db.DefaultCollection()}, AllowPull: true})
		s.Start()
		<-s.Done()
		s.Close()
	}))
	t.Cleanup(srv.Close)
	c := dialBare(t, wsURL(srv), nil)
	const n = wire.MaxCollections - 1 // and _default
	req := wire.GetCollectionsRequest{Collections: []string{"_default"}, CheckpointIDs: []string{"cp"}}
	for i := 0; i < n; i++ {
		req.Collections = append(req.Collections, fmt.Sprintf("s.missing%05d", i))
		req.CheckpointIDs = append(req.CheckpointIDs, "cp")
	}
	body, _ := json.Marshal(req)
	reply, err := request(t, c, wire.ProfileGetCollections, nil, string(body))
	if err != nil {
		t.Fatal(err)
	}
	answer, _ := reply.ReadBody()
	if got := strings.Count(string(answer), "null"); got != n {
		t.Fatalf("%d collections answered null, want %d", got, n)
	}
	var line string
	for _, l := range strings.Split(logs.String(), "\n") {
		if strings.Contains(l, "peer asked for collections") {
			line = l
		}
	}
	if !strings.Contains(line, fmt.Sprintf("missingCount=%d", n)) || !strings.Contains(line, "s.missing00000") {
		t.Fatalf("log line %.300q", line)
	}
	if len(line) > 1000 {
		t.Errorf("log line of %d bytes for a request naming %d missing collections", len(line), n)
	}
}
