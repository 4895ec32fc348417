package replicator

import (
	"bufio"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/sha1"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"github.com/p2psync/libp2psync/engine/tlsid"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/p2psync/libp2psync/engine/blobstore"
	"github.com/p2psync/libp2psync/engine/listener"
	"github.com/p2psync/libp2psync/engine/store"
	"github.com/p2psync/libp2psync/engine/store/storetest"
)

// Blob peers in their own processes (see runBlobChild), over TLS: a 100 MB blob each
// way with a bound on each process's peak memory, and SIGKILL in the middle of blob
// transfers and blob writing.

const (
	blobCertEnv       = "P2P_TEST_CHILD_CERT"       // PEM file: the listener's certificate and key
	blobContinuousEnv = "P2P_TEST_CHILD_CONTINUOUS" // replicator: "1" = run continuously from the start
)

// genBlob is the content of test blob seed: size bytes of AES-CTR keystream, fast to
// produce even under the race detector and incompressible, so the same bytes can be
// generated in any process without ever holding them.
func genBlob(seed uint64, size int64) io.Reader {
	var key [16]byte
	binary.LittleEndian.PutUint64(key[:], seed)
	blk, _ := aes.NewCipher(key[:])
	var iv [16]byte
	return io.LimitReader(cipher.StreamReader{S: cipher.NewCTR(blk, iv[:]), R: zeroReader{}}, size)
}

type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// slowReader hands out at most 256 KiB per Read, 5 ms apart.
type slowReader struct{ r io.Reader }

func (s slowReader) Read(p []byte) (int, error) {
	time.Sleep(5 * time.Millisecond)
	return s.r.Read(p[:min(len(p), 256<<10)])
}

func genDigest(seed uint64, size int64) blobstore.Digest {
	h := sha1.New()
	_, _ = io.Copy(h, genBlob(seed, size))
	var d blobstore.Digest
	h.Sum(d[:0])
	return d
}

// vmHWM returns the process's peak resident set size in bytes (Linux).
func vmHWM() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb << 10
		}
	}
	return -1
}

// runBlobChild is a peer process for the blob tests: "blob-listener" (TLS, with the
// certificate and key in $CERT, printing "PORT n") or "blob-replicator" (push and pull to
// the listener on $PORT, trusting $CERT; continuous from the start if $CONTINUOUS=1). It
// prints "base N" (its peak RSS once set up) and then obeys stdin:
//
//	write NAME SEED SIZE TYPE [slow]  store blob SEED/SIZE streamed from genBlob (slowly:
//	                           5 ms per 256 KiB), then save document NAME referring
//	                           to it: "wrote NAME DIGEST"
//	report                     "hwm N": the peak RSS so far
//	finish                     (replicator) stop the continuous replicator if any, run a
//	                           one-shot push-and-pull: "done" or "error …"
//
// Document errors are printed as "docerror ID: ERR". EOF closes everything and exits 0.
func runBlobChild(mode, dir string) int {
	ctx := context.Background()
	var outMu sync.Mutex
	say := func(format string, args ...any) {
		outMu.Lock()
		fmt.Printf(format+"\n", args...)
		outMu.Unlock()
	}
	fail := func(what string, err error) int {
		say("error %s: %v", what, err)
		return 2
	}
	db, err := store.Open(ctx, dir, store.Config{})
	if err != nil {
		return fail("open", err)
	}
	defer db.Close()
	pemBytes, err := os.ReadFile(os.Getenv(blobCertEnv))
	if err != nil {
		return fail("cert", err)
	}
	port, _ := strconv.Atoi(os.Getenv(childPortEnv))
	var logger *slog.Logger
	if os.Getenv("P2P_TEST_LOG") != "" {
		logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})).With("pid", os.Getpid(), "mode", mode)
	}
	var rcfg Config
	var r *Replicator
	onDoc := func(dr DocumentReplication) {
		for _, d := range dr.Documents {
			if d.Error != nil {
				say("docerror %s: %v", d.ID, d.Error)
			}
		}
	}
	switch mode {
	case "blob-listener":
		id, err := tlsid.ImportPEM(pemBytes, nil, "") // the file holds the certificate and the key
		if err != nil {
			return fail("cert", err)
		}
		l, err := listener.New(listener.Config{Database: db, Port: port, NetworkInterface: "127.0.0.1", Logger: logger,
			Identity: id})
		if err == nil {
			err = l.Start()
		}
		if err != nil {
			return fail("listen", err)
		}
		defer l.Stop()
		say("PORT %d", l.Port())
	case "blob-replicator":
		certs, err := tlsid.ParseCertificates(pemBytes)
		if err != nil {
			return fail("cert", err)
		}
		rcfg = Config{Database: db, URL: fmt.Sprintf("wss://127.0.0.1:%d/listener", port),
			TrustMode: tlsid.TrustPinned, PinnedCertificate: certs[0].Raw, MaxAttempts: -1, RetryBase: 20 * time.Millisecond,
			MaxAttemptWait: 200 * time.Millisecond, CheckpointInterval: 50 * time.Millisecond, Logger: logger}
		if os.Getenv(blobContinuousEnv) == "1" {
			cfg := rcfg
			cfg.Continuous = true
			if r, err = New(cfg); err != nil {
				return fail("replicator", err)
			}
			r.AddDocumentListener(onDoc)
			if err := r.Start(false); err != nil {
				return fail("start", err)
			}
			defer func() { r.Stop() }()
		}
	default:
		return fail("mode", fmt.Errorf("unknown mode %q", mode))
	}
	say("base %d", vmHWM())

	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		f := strings.Fields(in.Text())
		switch {
		case (len(f) == 5 || len(f) == 6) && f[0] == "write":
			seed, _ := strconv.ParseUint(f[2], 10, 64)
			size, _ := strconv.ParseInt(f[3], 10, 64)
			w, err := db.Blobs().Create()
			if err != nil {
				return fail("write", err)
			}
			src := genBlob(seed, size)
			if len(f) == 6 && f[5] == "slow" {
				src = slowReader{src}
			}
			if _, err := io.Copy(w, src); err != nil {
				return fail("write", err)
			}
			b, err := w.Commit()
			if err != nil {
				return fail("write", err)
			}
			body := fmt.Sprintf(`{"name":%q,"blob":%s}`, f[1], blobstore.Properties(b, f[4]))
			if _, err := db.DefaultCollection().Save(ctx, f[1], []byte(body), store.SaveOptions{}); err != nil {
				return fail("write", err)
			}
			say("wrote %s %s", f[1], b.Digest)
		case len(f) == 1 && f[0] == "report":
			say("hwm %d", vmHWM())
		case len(f) == 1 && f[0] == "finish" && mode == "blob-replicator":
			if r != nil {
				r.Stop()
			}
			if err := finalOneShot(ctx, rcfg, 120*time.Second, onDoc); err != nil {
				say("error one-shot: %v", err)
				continue
			}
			say("done")
		default:
			say("error command %q", in.Text())
		}
	}
	return 0
}

// writeTestCert writes the self-signed certificate for 127.0.0.1 of the fixtures
// (fx.selfSigned) and its key to a PEM file, for the child processes.
func writeTestCert(t *testing.T, dir string) string {
	certPEM, keyPEM, err := fx.selfSigned.ExportPEM("")
	if err != nil {
		t.Fatal(err)
	}
	out := append(certPEM, keyPEM...)
	path := filepath.Join(dir, "cert.pem")
	if err := os.WriteFile(path, out, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// blobPeer is a running blob child.
type blobPeer struct {
	*peerProcess
	base     int64
	docErrMu sync.Mutex
	docErrs  []string
}

// startBlobPeer starts a blob child on dir and waits for its "base" line (and "PORT").
// A listener restarted on its previous port may have to wait for the killed one's socket
// and database lock.
func startBlobPeer(t *testing.T, mode, dir string, port int, certFile string, continuous bool) *blobPeer {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), childModeEnv+"="+mode, childDirEnv+"="+dir,
			childPortEnv+"="+strconv.Itoa(port), blobCertEnv+"="+certFile)
		if continuous {
			cmd.Env = append(cmd.Env, blobContinuousEnv+"=1")
		}
		cmd.Stderr = os.Stderr
		stdin, err := cmd.StdinPipe()
		if err != nil {
			t.Fatal(err)
		}
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		p := &blobPeer{peerProcess: &peerProcess{mode: mode, cmd: cmd, stdin: stdin, lines: make(chan string, 64)}}
		go func() {
			sc := bufio.NewScanner(out)
			for sc.Scan() {
				if rest, ok := strings.CutPrefix(sc.Text(), "docerror "); ok {
					p.docErrMu.Lock()
					p.docErrs = append(p.docErrs, rest)
					p.docErrMu.Unlock()
					continue
				}
				p.lines <- sc.Text()
			}
			close(p.lines)
		}()
		line, ok := <-p.lines
		if rest, found := strings.CutPrefix(line, "PORT "); ok && found {
			p.port, _ = strconv.Atoi(rest)
			line, ok = <-p.lines
		}
		if rest, found := strings.CutPrefix(line, "base "); ok && found && (p.port != 0 || mode != "blob-listener") {
			p.base, _ = strconv.ParseInt(rest, 10, 64)
			return p
		}
		p.kill()
		if time.Now().After(deadline) {
			t.Fatalf("%s process did not start (last output %q)", mode, line)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (p *blobPeer) tell(t *testing.T, format string, args ...any) {
	t.Helper()
	if _, err := fmt.Fprintf(p.stdin, format+"\n", args...); err != nil {
		t.Fatalf("%s process: %v", p.mode, err)
	}
}

func (p *blobPeer) docErrors() []string {
	p.docErrMu.Lock()
	defer p.docErrMu.Unlock()
	return append([]string(nil), p.docErrs...)
}

// checkBlobInvariants opens the database in dir (no process may hold it) and checks that
// nothing partial is visible: every blob file's content has the digest of its name,
// every document's blobs are stored and intact. It returns the documents' IDs.
func checkBlobInvariants(t *testing.T, dir string) map[string]bool {
	t.Helper()
	ctx := context.Background()
	// Look before Open, which removes leftover temporary files.
	entries, err := os.ReadDir(filepath.Join(dir, "blobs"))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	db, err := store.Open(ctx, dir, store.Config{NoCreate: true})
	if err != nil {
		t.Fatalf("open %s: %v", dir, err)
	}
	defer db.Close()
	for _, e := range entries {
		name, ok := strings.CutSuffix(e.Name(), ".blob")
		if !ok {
			continue
		}
		var d blobstore.Digest
		if raw, err := hex.DecodeString(name); err != nil || len(raw) != len(d) {
			t.Errorf("%s: unexpected file %s", dir, e.Name())
			continue
		} else {
			copy(d[:], raw)
		}
		r, err := db.Blobs().NewReader(d, -1)
		if err == nil {
			_, err = io.Copy(io.Discard, r)
			r.Close()
		}
		if err != nil {
			t.Errorf("%s: blob file %s is not intact: %v", dir, e.Name(), err)
		}
	}
	c := db.DefaultCollection()
	changes, err := c.ChangesSince(ctx, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]bool{}
	for _, ch := range changes {
		doc, err := c.GetWithDeleted(ctx, ch.DocID)
		if err != nil {
			t.Fatal(err)
		}
		ids[ch.DocID] = true
		refs, err := blobstore.References(doc.Body)
		if err != nil {
			t.Errorf("%s: %s: %v", dir, ch.DocID, err)
		}
		for _, ref := range refs {
			r, err := db.Blobs().NewReader(ref.Digest, ref.Length)
			if err == nil {
				_, err = io.Copy(io.Discard, r)
				r.Close()
			}
			if err != nil {
				t.Errorf("%s: document %s is stored without its blob %s: %v", dir, ch.DocID, ref.Digest, err)
			}
		}
	}
	if leftovers, _ := filepath.Glob(filepath.Join(dir, "blobs", "*.tmp")); len(leftovers) > 0 {
		t.Errorf("%s: temporary files left after open: %v", dir, leftovers)
	}
	return ids
}

// A 100 MB blob written in each of two processes crosses over TLS in both directions (a
// one-shot push-and-pull: the listener's process fetches the replicator's blob and the
// replicator's process fetches the listener's, at the same time), arrives verified, and
// neither process's peak memory grows by anything near a blob's size: the content is
// streamed from file to socket to file.
func TestBlob100MBBetweenProcessesTLS(t *testing.T) {
	const size = 100 << 20
	// A process that held one whole blob in memory would grow by at least 100 MiB (more
	// under the race detector, whose shadow memory multiplies it).
	const maxGrowth = 64 << 20
	base := t.TempDir()
	dirL, dirR := filepath.Join(base, "listener"), filepath.Join(base, "replicator")
	certFile := writeTestCert(t, base)
	lp := startBlobPeer(t, "blob-listener", dirL, 0, certFile, false)
	rp := startBlobPeer(t, "blob-replicator", dirR, lp.port, certFile, false)
	defer func() {
		if t.Failed() {
			lp.kill()
			rp.kill()
		}
	}()
	start := time.Now()
	lp.tell(t, "write big-L 1 %d video/mp4", size)
	rp.tell(t, "write big-R 2 %d video/mp4", size)
	wroteL := lp.await(t, "wrote big-L ", 60*time.Second)
	wroteR := rp.await(t, "wrote big-R ", 60*time.Second)
	written := time.Since(start)
	start = time.Now()
	rp.tell(t, "finish")
	rp.await(t, "done", 120*time.Second)
	transferred := time.Since(start)
	hwm := map[string]int64{}
	for _, p := range []*blobPeer{lp, rp} {
		p.tell(t, "report")
		hwm[p.mode], _ = strconv.ParseInt(p.await(t, "hwm ", 10*time.Second), 10, 64)
		if errs := p.docErrors(); len(errs) > 0 {
			t.Errorf("%s process: document errors %v", p.mode, errs)
		}
	}
	rp.close(t)
	lp.close(t)

	want := map[string]blobstore.Digest{"big-L": genDigest(1, size), "big-R": genDigest(2, size)}
	if wroteL != want["big-L"].String() || wroteR != want["big-R"].String() {
		t.Fatalf("written digests %s %s, generated %s %s", wroteL, wroteR, want["big-L"], want["big-R"])
	}
	ctx := context.Background()
	var colls []*store.Collection
	for _, dir := range []string{dirL, dirR} {
		ids := checkBlobInvariants(t, dir) // every blob file read back and its digest checked
		if !ids["big-L"] || !ids["big-R"] {
			t.Errorf("%s holds %v, want both documents", dir, ids)
		}
		db, err := store.Open(ctx, dir, store.Config{NoCreate: true})
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		for name, d := range want {
			if n, err := db.Blobs().Stat(d); err != nil || n != size {
				t.Errorf("%s: blob of %s: %d bytes, %v", dir, name, n, err)
			}
		}
		colls = append(colls, db.DefaultCollection())
	}
	if diff, err := storetest.Diff(ctx, colls[0], colls[1]); err != nil || len(diff) > 0 {
		t.Errorf("databases differ: %v %v", diff, err)
	}
	for _, p := range []*blobPeer{lp, rp} {
		growth := hwm[p.mode] - p.base
		t.Logf("%s process: peak RSS %d MiB at start, %d MiB at the end (+%d MiB)", p.mode, p.base>>20, hwm[p.mode]>>20, growth>>20)
		if p.base <= 0 || growth >= maxGrowth {
			t.Errorf("%s process: peak RSS grew by %d MiB (from %d MiB) while writing and exchanging two %d MiB blobs; bound %d MiB",
				p.mode, growth>>20, p.base>>20, size>>20, maxGrowth>>20)
		}
	}
	t.Logf("wrote 2 x %d MiB in %v; exchanged them over TLS in %v", size>>20, written.Round(time.Millisecond), transferred.Round(time.Millisecond))
}

// bigTemp returns the name of a temporary blob file in dir at least min bytes long, or "".
func bigTemp(dir string, min int64) string {
	entries, _ := os.ReadDir(filepath.Join(dir, "blobs"))
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".tmp") {
			continue
		}
		if info, err := e.Info(); err == nil && info.Size() >= min {
			return e.Name()
		}
	}
	return ""
}

// Two processes replicate continuously over TLS; each round a new blob document is
// written on one side and a process is killed with SIGKILL: the receiver while it is
// writing the incoming blob, the sender while it is streaming it (in both directions),
// and the writer while it is writing a blob of its own before saving the document. After
// each kill the killed side's database shows nothing partial (every blob file intact,
// no document without its blob), and the killed process restarts on the same database.
// At the end a one-shot run converges: both databases are identical and hold every
// blob document, every blob intact.
func TestBlobPeersKilledMidTransfer(t *testing.T) {
	const size = 24 << 20
	const minTemp = 1 << 20 // a kill counts as mid-blob once this much of it is on disk
	base := t.TempDir()
	dirL, dirR := filepath.Join(base, "listener"), filepath.Join(base, "replicator")
	certFile := writeTestCert(t, base)
	lp := startBlobPeer(t, "blob-listener", dirL, 0, certFile, false)
	port := lp.port
	rp := startBlobPeer(t, "blob-replicator", dirR, port, certFile, true)
	defer func() {
		if t.Failed() {
			lp.kill()
			rp.kill()
		}
	}()
	rounds := []struct {
		writer, victim string // "L" or "R"
		what           string
	}{
		{"R", "L", "the receiver (listener) mid-transfer"},
		{"R", "R", "the sender (replicator) mid-transfer"},
		{"L", "R", "the receiver (replicator) mid-transfer"},
		{"L", "L", "the sender (listener) mid-transfer"},
		{"L", "L", "the listener writing a blob"},
		{"R", "R", "the replicator writing a blob"},
	}
	type blobDoc struct {
		name string
		seed uint64
	}
	var docs []blobDoc
	for i, rd := range rounds {
		writing := strings.Contains(rd.what, "writing")
		writerOf := func() *blobPeer { return map[string]*blobPeer{"L": lp, "R": rp}[rd.writer] }
		watchDir := dirR // the blob appears in the other side's store
		if rd.writer == "R" {
			watchDir = dirL
		}
		slow := ""
		if writing {
			watchDir = map[string]string{"L": dirL, "R": dirR}[rd.writer]
			slow = " slow" // gives the kill time to land while the blob is being written
		}
		// A transfer may be over before it was seen in progress (a fast machine): then the
		// round starts again with a new document, at most 3 times.
		var tmp string
		var cur blobDoc
		for attempt := 0; tmp == "" && attempt < 3; attempt++ {
			// One at a time: the blobs of the earlier documents are on both sides.
			for _, bd := range docs {
				d := genDigest(bd.seed, size)
				f := fmt.Sprintf("%x.blob", d[:])
				eventually(t, 60*time.Second, "blob of "+bd.name+" on both sides", func() bool {
					_, e1 := os.Stat(filepath.Join(dirL, "blobs", f))
					_, e2 := os.Stat(filepath.Join(dirR, "blobs", f))
					return e1 == nil && e2 == nil
				})
			}
			cur = blobDoc{fmt.Sprintf("doc-%d-%d", i, attempt), uint64(100 + 10*i + attempt)}
			docs = append(docs, cur)
			d := genDigest(cur.seed, size)
			final := filepath.Join(watchDir, "blobs", fmt.Sprintf("%x.blob", d[:]))
			writerOf().tell(t, "write %s %d %d application/octet-stream%s", cur.name, cur.seed, size, slow)
			deadline := time.Now().Add(60 * time.Second)
			for tmp == "" && time.Now().Before(deadline) {
				if tmp = bigTemp(watchDir, minTemp); tmp == "" {
					if _, err := os.Stat(final); err == nil {
						t.Logf("round %d: %s went through before it was seen in progress; again", i+1, cur.name)
						break
					}
					time.Sleep(2 * time.Millisecond)
				}
			}
		}
		if tmp == "" {
			t.Fatalf("round %d: no blob in progress in %s", i+1, watchDir)
		}
		victim, dir := lp, dirL
		if rd.victim == "R" {
			victim, dir = rp, dirR
		}
		victim.kill()
		t.Logf("round %d: killed %s (%s growing in %s)", i+1, rd.what, tmp, filepath.Base(watchDir))
		checkBlobInvariants(t, dir)
		if rd.victim == "L" {
			lp = startBlobPeer(t, "blob-listener", dirL, port, certFile, false)
		} else {
			rp = startBlobPeer(t, "blob-replicator", dirR, port, certFile, true)
		}
		if writing {
			// The writer died before (or while) saving the document: write it again.
			writerOf().tell(t, "write %s %d %d application/octet-stream", cur.name, cur.seed, size)
			writerOf().await(t, "wrote "+cur.name, 60*time.Second)
		}
	}
	// Converge: the replicator stops its continuous run and makes a one-shot push-and-pull
	// from where the kills left it (bounded: it must say "done").
	rp.tell(t, "finish")
	rp.await(t, "done", 120*time.Second)
	rp.close(t)
	lp.close(t)
	ctx := context.Background()
	var colls []*store.Collection
	for _, dir := range []string{dirL, dirR} {
		ids := checkBlobInvariants(t, dir)
		for _, bd := range docs {
			if !ids[bd.name] {
				t.Errorf("%s: %s missing after convergence", filepath.Base(dir), bd.name)
			}
		}
		db, err := store.Open(ctx, dir, store.Config{NoCreate: true})
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		for _, bd := range docs {
			if n, err := db.Blobs().Stat(genDigest(bd.seed, size)); err != nil || n != size {
				t.Errorf("%s: blob of %s: %d bytes, %v", filepath.Base(dir), bd.name, n, err)
			}
		}
		colls = append(colls, db.DefaultCollection())
	}
	if diff, err := storetest.Diff(ctx, colls[0], colls[1]); err != nil || len(diff) > 0 {
		t.Errorf("databases differ: %v %v", diff, err)
	}
}
