package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/p2psync/libp2psync/engine/hlv"
)

// clockReserve is how far ahead of the clock the persisted clock mark is set, so that a
// burst of saves writes the mark about once a second rather than once per save (see
// Batch.persistClock). Close lowers the mark to the clock's exact state (settleClock), so
// that a database reopened at once does not start up to a second ahead, and reopening
// many times a second does not push its times further and further ahead.
const clockReserve = uint64(time.Second)

// Meta keys of the versioning state.
const (
	metaSourceID = "source_id"
	metaClock    = "hlc"
)

// SourceID returns the database's source ID: the name its versions carry
// ("<time>@<source ID>"), 22 characters of base64, created once and kept for the life of
// the database.
func (db *Database) SourceID() string { return db.sourceID }

// initVersioning reads (creating if absent) the source ID and the persisted clock mark.
// It runs inside initSchema's transaction, so a database from before versions existed
// gains a source ID the first time it is opened.
func (db *Database) initVersioning(ctx context.Context) error {
	var src string
	err := db.wconn.QueryRowContext(ctx, `SELECT value FROM meta WHERE key = ?`, metaSourceID).Scan(&src)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		if src, err = hlv.NewSourceID(); err != nil {
			return err
		}
		if _, err := db.wconn.ExecContext(ctx, `INSERT INTO meta (key, value) VALUES (?, ?)`, metaSourceID, src); err != nil {
			return fmt.Errorf("write source ID: %w", classify(err))
		}
	case err != nil:
		return fmt.Errorf("read source ID: %w", classify(err))
	case !hlv.IsCanonicalSourceID(src):
		return fmt.Errorf("%w: stored source ID %q is not 22 characters of base64", ErrCorrupt, src)
	}
	var mark uint64
	var text string
	err = db.wconn.QueryRowContext(ctx, `SELECT value FROM meta WHERE key = ?`, metaClock).Scan(&text)
	switch {
	case errors.Is(err, sql.ErrNoRows):
	case err != nil:
		return fmt.Errorf("read clock: %w", classify(err))
	default:
		if mark, err = strconv.ParseUint(text, 10, 64); err != nil {
			return fmt.Errorf("%w: stored clock %q is not a number", ErrCorrupt, text)
		}
	}
	db.sourceID, db.versionSuffix = src, "@"+src
	db.clock = hlv.NewClock(mark, db.wall)
	db.clockMark, db.clockCommitted = mark, mark
	return nil
}

// vectorColumns adds the version-vector columns to a documents table created before
// versions existed: a schema-1 database (migrateSchema1 calls it; every schema-2 table
// has them). The library of schema 1 without versions ignored them: its inserts left
// them NULL and its updates left them as they were, which is why a vector is stored
// with the revision it belongs to (vv_rev) and read only for that revision.
func (db *Database) vectorColumns(ctx context.Context, collID int64) error {
	return db.addMissingColumns(ctx, docsTable(collID), [2]string{"vv", "TEXT"}, [2]string{"vv_rev", "TEXT"})
}

// addMissingColumns adds to table t each column (name, type) it does not have yet.
func (db *Database) addMissingColumns(ctx context.Context, t string, cols ...[2]string) error {
	rows, err := db.wconn.QueryContext(ctx, `SELECT name FROM pragma_table_info(?)`, t)
	if err != nil {
		return fmt.Errorf("read columns of %s: %w", t, classify(err))
	}
	have := map[string]bool{}
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			rows.Close()
			return fmt.Errorf("read columns of %s: %w", t, classify(err))
		}
		have[name] = true
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read columns of %s: %w", t, classify(err))
	}
	for _, col := range cols {
		if !have[col[0]] {
			if _, err := db.wconn.ExecContext(ctx, `ALTER TABLE `+t+` ADD COLUMN `+col[0]+` `+col[1]); err != nil {
				return fmt.Errorf("add column %s to %s: %w", col[0], t, classify(err))
			}
		}
	}
	return nil
}

// storedVector is a document row's vv and vv_rev columns: the text of a version vector
// and the revision it belongs to.
type storedVector struct {
	text string // hlv full-vector form; "" = none
	rev  string
}

// scanVector reads the vv and vv_rev columns of a row whose revid column is revid: a
// vector without vv_rev (schema 2) belongs to revid.
func scanVector(vv, rev sql.NullString, revid string) storedVector {
	switch {
	case !vv.Valid:
		return storedVector{}
	case !rev.Valid:
		return storedVector{text: vv.String, rev: revid}
	}
	return storedVector{text: vv.String, rev: rev.String}
}

// args returns the values for the vv and vv_rev columns of a row whose revid column is
// revid: vv_rev is left NULL when the vector is revid's, as most are.
func (s *storedVector) args(revid string) (any, any) {
	if s == nil || s.text == "" {
		return nil, nil
	}
	if s.rev == revid {
		return s.text, nil
	}
	return s.text, s.rev
}

// setVector fills the version fields of d when sv belongs to d's revision.
func (d *Document) setVector(sv storedVector) {
	if sv.text == "" || sv.rev != d.RevID {
		return
	}
	cv := sv.text
	if i := strings.IndexAny(cv, ",;"); i >= 0 {
		cv = cv[:i]
	}
	v, err := hlv.ParseVersion(cv)
	if err != nil {
		return // not written by this package; the revision is shown without a version
	}
	d.Version, d.Timestamp, d.Vector = v.String(), v.Time, sv.text
}

// setNewVector fills the version fields of d, a revision this package just saved with
// vector vec, whose text is text (vec.String()): what setVector would find, without
// parsing the text again. The current version's text is the prefix of the vector's.
func (d *Document) setNewVector(vec hlv.Vector, text string) {
	cv := text
	if len(vec.Merge) > 0 || len(vec.Previous) > 0 || len(vec.Legacy) > 0 {
		if i := strings.IndexAny(cv, ",;"); i >= 0 {
			cv = cv[:i]
		}
	}
	d.Version, d.Timestamp, d.Vector = cv, vec.Current.Time, text
}

// isAncestor reports whether node a is an ancestor of node i in t.
func (t *revTree) isAncestor(a, i int) bool {
	for p := t.nodes[i].parent; p >= 0; p = t.nodes[p].parent {
		if p == a {
			return true
		}
	}
	return false
}

// currentVector returns the version vector of revision cur of t, given the row's stored
// vector: the stored one if it belongs to cur. A revision without one (saved before
// versions existed, by the previous version of this library, or received as a rev-tree
// revision) is represented by its legacy stand-in (hlv.LegacyVersion); when the stored
// vector belongs to an ancestor of cur, its versions follow as previous versions. The
// zero Vector means cur < 0, or a rev-tree ID that has no stand-in.
func currentVector(t *revTree, cur int, sv storedVector) hlv.Vector {
	if cur < 0 {
		return hlv.Vector{}
	}
	id := t.nodes[cur].id
	if sv.text != "" && sv.rev == id {
		if v, err := hlv.ParseVector(sv.text); err == nil {
			return v
		}
	}
	lv, err := hlv.LegacyVersion(id)
	if err != nil {
		return hlv.Vector{}
	}
	out := hlv.Vector{Current: lv}
	if sv.text == "" {
		return out
	}
	anc := t.find(sv.rev)
	old, err := hlv.ParseVector(sv.text)
	if anc < 0 || err != nil || !t.isAncestor(anc, cur) {
		return out
	}
	seen := map[string]bool{hlv.LegacySource: true}
	for _, group := range [][]hlv.Version{{old.Current}, old.Merge, old.Previous} {
		for _, e := range group {
			if !seen[e.Source] {
				seen[e.Source] = true
				out.Previous = append(out.Previous, e)
			}
		}
	}
	if out.Validate() != nil {
		return hlv.Vector{Current: lv}
	}
	return out
}

// newVersion returns the vector of a local save on top of base: a new version of this
// database's source, with the time from the clock (past any time base holds for this
// source, whatever the clock's state), pruned to the vector length limit.
func (b *Batch) newVersion(base hlv.Vector) (hlv.Vector, error) {
	db := b.db
	if t, ok := base.TimeOf(db.sourceID); ok {
		db.clock.AdvancePast(t)
	}
	v, err := base.AddVersion(hlv.Version{Time: db.clock.Now(), Source: db.sourceID})
	if err != nil {
		return hlv.Vector{}, fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	if err := b.persistClock(); err != nil {
		return hlv.Vector{}, err
	}
	return v.Prune(db.maxDepth, 0), nil
}

// newFirstVersion is newVersion(hlv.Vector{}), the vector of a new document: one version
// of this database (whose source ID was checked at open), without the checks and copies
// of AddVersion and Prune, which leave such a vector as it is.
func (b *Batch) newFirstVersion() (hlv.Vector, error) {
	v := hlv.Vector{Current: hlv.Version{Time: b.db.clock.Now(), Source: b.db.sourceID}}
	if err := b.persistClock(); err != nil {
		return hlv.Vector{}, err
	}
	return v, nil
}

// vectorText returns vec.String(). A vector that is only a version of this database (a
// new document's) is written directly, hex time then the kept "@<source ID>", as
// hlv.Version writes it: one allocation instead of two, on every save of a new document.
func (db *Database) vectorText(vec hlv.Vector) string {
	cur := vec.Current
	if cur.Time == 0 || cur.Source != db.sourceID || len(vec.Merge) > 0 || len(vec.Previous) > 0 || len(vec.Legacy) > 0 {
		return vec.String()
	}
	var buf [64]byte
	return string(append(strconv.AppendUint(buf[:0], cur.Time, 16), db.versionSuffix...))
}

// observe advances the clock past the times of a received vector: this database's own
// versions unconditionally, other sources' when the clock accepts them (hlv.Clock.Observe:
// not before mid-2023, not beyond MaxClockSkew ahead). A refused time is not an error:
// the revision is still stored, as Couchbase Lite does.
func (b *Batch) observe(v hlv.Vector) error {
	db := b.db
	for _, group := range [][]hlv.Version{{v.Current}, v.Merge, v.Previous} {
		for _, e := range group {
			if e.Source == db.sourceID {
				db.clock.AdvancePast(e.Time)
			} else {
				_ = db.clock.Observe(e.Time)
			}
		}
	}
	return b.persistClock()
}

// persistClock writes the clock mark (a time at or above every time the clock has issued
// or observed, plus clockReserve) into the batch's transaction when the clock has passed
// the current mark, so that a reopened database resumes above every committed time. A
// rolled-back batch restores the committed mark (the in-memory clock stays ahead, which
// is harmless).
func (b *Batch) persistClock() error {
	db := b.db
	last := db.clock.Last()
	if last <= db.clockMark {
		return nil
	}
	mark := last + clockReserve
	if mark < last {
		mark = last
	}
	if _, err := db.wstmts.setMeta.ExecContext(b.ctx, metaClock, strconv.FormatUint(mark, 10)); err != nil {
		return b.fail(err)
	}
	db.clockMark = mark
	if db.clockBatch != b {
		db.clockBatch = b
		b.onCommit = append(b.onCommit, func() { db.clockCommitted, db.clockBatch = db.clockMark, nil })
		b.onRollback = append(b.onRollback, func() { db.clockMark, db.clockBatch = db.clockCommitted, nil })
	}
	return nil
}

// settleClock, on Close, replaces the persisted clock mark by the clock's exact state
// (every committed time is at or below it), when that is lower. A failure only costs the
// reserve on the next open, so it is logged and not returned.
func (db *Database) settleClock() {
	if db.clock == nil || db.wconn == nil {
		return
	}
	last := db.clock.Last()
	if last >= db.clockCommitted {
		return
	}
	if _, err := db.wconn.ExecContext(context.Background(),
		`UPDATE meta SET value = ? WHERE key = ?`, strconv.FormatUint(last, 10), metaClock); err != nil {
		db.log.Warn("store: could not save the clock state on close", "dir", db.dir, "err", err)
	}
}
