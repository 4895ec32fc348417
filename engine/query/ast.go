package query

// Expressions of the parsed query. pos is a byte offset for error messages.
type expr interface{ at() int }

type missingT struct{}

// Missing is the value of a literal MISSING.
var missing = missingT{}

type (
	// literal: nil (NULL), missing, bool, int64, float64 or string.
	litExpr struct {
		pos int
		val any
	}
	paramExpr struct {
		pos  int
		name string
	}
	// pathExpr: a property path. steps are string (key) or int (array index).
	pathExpr struct {
		pos   int
		steps []any
	}
	metaExpr struct {
		pos   int
		alias string // "" when meta() has no argument
		field string // as written after meta().
	}
	unaryExpr struct {
		pos int
		op  string // "NOT", "-"
		x   expr
	}
	binaryExpr struct {
		pos  int
		op   string // OR AND = != < <= > >= + - * / % ||
		l, r expr
	}
	likeExpr struct {
		pos    int
		not    bool
		x, pat expr
	}
	inExpr struct {
		pos  int
		not  bool
		x    expr
		list []expr // x IN (a, b) or [a, b]
		arr  expr   // x IN <array expression>
	}
	betweenExpr struct {
		pos       int
		not       bool
		x, lo, hi expr
	}
	isExpr struct {
		pos  int
		not  bool
		x    expr
		what string // NULL, MISSING, VALUED
	}
	callExpr struct {
		pos      int
		name     string // upper case
		args     []expr
		star     bool // COUNT(*)
		distinct bool
	}
	// anyExpr: ANY/SOME/EVERY v IN arr SATISFIES cond END
	anyExpr struct {
		pos   int
		every bool
		v     string
		arr   expr
		cond  expr
	}
	caseExpr struct {
		pos     int
		subject expr // nil for a searched CASE
		whens   []expr
		thens   []expr
		els     expr
	}
	arrayExpr struct {
		pos   int
		elems []expr
	}
)

func (e *litExpr) at() int     { return e.pos }
func (e *paramExpr) at() int   { return e.pos }
func (e *pathExpr) at() int    { return e.pos }
func (e *metaExpr) at() int    { return e.pos }
func (e *unaryExpr) at() int   { return e.pos }
func (e *binaryExpr) at() int  { return e.pos }
func (e *likeExpr) at() int    { return e.pos }
func (e *inExpr) at() int      { return e.pos }
func (e *betweenExpr) at() int { return e.pos }
func (e *isExpr) at() int      { return e.pos }
func (e *callExpr) at() int    { return e.pos }
func (e *anyExpr) at() int     { return e.pos }
func (e *caseExpr) at() int    { return e.pos }
func (e *arrayExpr) at() int   { return e.pos }

type resultItem struct {
	pos   int
	star  bool // * (or alias.*)
	x     expr
	alias string
}

type orderItem struct {
	x    expr
	desc bool
}

type selectStmt struct {
	distinct bool
	results  []resultItem
	scope    string // "" when not written
	coll     string
	alias    string // as written, or the collection name
	fromPos  int
	where    expr
	groupBy  []expr
	having   expr
	orderBy  []orderItem
	limit    expr
	offset   expr
}

type indexStmt struct {
	drop    bool
	name    string
	scope   string
	coll    string
	exprs   []expr
	pos     int
	fts     bool           // USING FTS: a full-text index
	with    map[string]any // WITH {...} options
	withPos int
}

type statement struct {
	explain bool
	sel     *selectStmt
	index   *indexStmt
}
