package query

import (
	"strconv"
	"strings"
)

var keywords = map[string]bool{}

func init() {
	for _, k := range strings.Fields(`SELECT FROM WHERE GROUP BY HAVING ORDER LIMIT OFFSET AND OR NOT IN
		LIKE BETWEEN IS NULL MISSING VALUED TRUE FALSE AS ANY SOME EVERY SATISFIES END CASE WHEN
		THEN ELSE DISTINCT ASC DESC JOIN ON CREATE INDEX DROP EXPLAIN UNNEST NEST LEFT INNER
		CROSS UNION INTERSECT EXCEPT ALL`) {
		keywords[k] = true
	}
}

// maxDepth bounds the nesting of expressions (parentheses, operators), so that
// a hostile text cannot exhaust the stack.
const maxDepth = 100

type parser struct {
	src   string
	toks  []token
	i     int
	depth int
}

func parse(src string) (*statement, error) {
	toks, err := lex(src)
	if err != nil {
		return nil, err
	}
	p := &parser{src: src, toks: toks}
	var st *statement
	func() {
		defer func() {
			if r := recover(); r != nil {
				if e, ok := r.(*Error); ok {
					err = e
					return
				}
				panic(r)
			}
		}()
		st = p.statement()
	}()
	if err != nil {
		return nil, err
	}
	return st, nil
}

// parseExpr parses one expression (an index expression given on its own).
func parseExpr(src string) (x expr, err error) {
	toks, err := lex(src)
	if err != nil {
		return nil, err
	}
	p := &parser{src: src, toks: toks}
	defer func() {
		if r := recover(); r != nil {
			e, ok := r.(*Error)
			if !ok {
				panic(r)
			}
			x, err = nil, e
		}
	}()
	x = p.expr()
	if t := p.peek(); t.kind != tEOF {
		p.fail(t.pos, "unexpected %s after the expression", describe(t))
	}
	return x, nil
}

func (p *parser) peek() token { return p.toks[p.i] }

func (p *parser) next() token {
	t := p.toks[p.i]
	if t.kind != tEOF {
		p.i++
	}
	return t
}

func (p *parser) fail(pos int, format string, args ...any) {
	panic(errAt(p.src, pos, format, args...))
}

func describe(t token) string {
	switch t.kind {
	case tEOF:
		return "end of query"
	case tString:
		return "string " + strconv.Quote(t.text)
	case tParam:
		return "$" + t.text
	case tQuotedIdent:
		return "`" + t.text + "`"
	}
	return strconv.Quote(t.text)
}

func (p *parser) isKw(kw string) bool {
	t := p.peek()
	return t.kind == tIdent && strings.EqualFold(t.text, kw)
}

func (p *parser) acceptKw(kw string) bool {
	if p.isKw(kw) {
		p.i++
		return true
	}
	return false
}

func (p *parser) expectKw(kw string) token {
	if !p.isKw(kw) {
		t := p.peek()
		p.fail(t.pos, "expected %s, found %s", kw, describe(t))
	}
	return p.next()
}

func (p *parser) isOp(op string) bool {
	t := p.peek()
	return t.kind == tOp && t.text == op
}

func (p *parser) acceptOp(op string) bool {
	if p.isOp(op) {
		p.i++
		return true
	}
	return false
}

func (p *parser) expectOp(op string) token {
	if !p.isOp(op) {
		t := p.peek()
		p.fail(t.pos, "expected %q, found %s", op, describe(t))
	}
	return p.next()
}

// ident reads an identifier: unquoted (not a keyword) or `quoted`.
func (p *parser) ident(what string) (string, int) {
	t := p.peek()
	if t.kind == tQuotedIdent || t.kind == tIdent && !keywords[strings.ToUpper(t.text)] {
		p.i++
		return t.text, t.pos
	}
	p.fail(t.pos, "expected %s, found %s", what, describe(t))
	return "", 0
}

func (p *parser) isIdent() bool {
	t := p.peek()
	return t.kind == tQuotedIdent || t.kind == tIdent && !keywords[strings.ToUpper(t.text)]
}

func (p *parser) statement() *statement {
	st := &statement{}
	if p.acceptKw("EXPLAIN") {
		st.explain = true
	}
	switch {
	case p.isKw("SELECT"):
		st.sel = p.selectStmt()
	case !st.explain && p.isKw("CREATE"):
		st.index = p.indexStmt()
	case !st.explain && p.isKw("DROP"):
		st.index = p.dropStmt()
	default:
		t := p.peek()
		if st.explain {
			p.fail(t.pos, "expected SELECT after EXPLAIN, found %s", describe(t))
		}
		p.fail(t.pos, "expected SELECT, CREATE INDEX or DROP INDEX, found %s", describe(t))
	}
	p.acceptOp(";")
	if t := p.peek(); t.kind != tEOF {
		p.fail(t.pos, "unexpected %s after the end of the statement", describe(t))
	}
	return st
}

func (p *parser) collectionName() (scope, coll string, pos int) {
	name, pos := p.ident("a collection name")
	if p.acceptOp(".") {
		c, _ := p.ident("a collection name after the scope")
		return name, c, pos
	}
	return "", name, pos
}

func (p *parser) indexStmt() *indexStmt {
	p.expectKw("CREATE")
	p.expectKw("INDEX")
	st := &indexStmt{}
	st.name, st.pos = p.ident("an index name")
	p.expectKw("ON")
	st.scope, st.coll, _ = p.collectionName()
	p.expectOp("(")
	st.exprs = p.exprList()
	p.expectOp(")")
	if p.acceptKw("USING") {
		t := p.peek()
		if !p.acceptKw("FTS") && !p.acceptKw("FULLTEXT") {
			p.fail(t.pos, "expected FTS after USING (USING FTS makes a full-text index), found %s", describe(t))
		}
		st.fts = true
	}
	if p.isKw("WITH") {
		st.withPos = p.next().pos
		st.with = p.objectLit()
	}
	return st
}

// objectLit reads {"key": literal, ...}: the options of WITH.
func (p *parser) objectLit() map[string]any {
	p.expectOp("{")
	out := map[string]any{}
	if p.acceptOp("}") {
		return out
	}
	for {
		k := p.peek()
		if k.kind != tString && k.kind != tIdent && k.kind != tQuotedIdent {
			p.fail(k.pos, "expected an option name, found %s", describe(k))
		}
		p.next()
		p.expectOp(":")
		v := p.peek()
		lit, ok := p.primary().(*litExpr)
		if !ok {
			p.fail(v.pos, "option %q takes a literal value", k.text)
		}
		out[k.text] = lit.val
		if !p.acceptOp(",") {
			break
		}
	}
	p.expectOp("}")
	return out
}

func (p *parser) dropStmt() *indexStmt {
	p.expectKw("DROP")
	p.expectKw("INDEX")
	st := &indexStmt{drop: true}
	st.name, st.pos = p.ident("an index name")
	p.expectKw("ON")
	st.scope, st.coll, _ = p.collectionName()
	return st
}

func (p *parser) selectStmt() *selectStmt {
	p.expectKw("SELECT")
	s := &selectStmt{}
	if p.acceptKw("DISTINCT") {
		s.distinct = true
	} else {
		p.acceptKw("ALL")
	}
	for {
		s.results = append(s.results, p.resultItem())
		if !p.acceptOp(",") {
			break
		}
	}
	p.fromClause(s)
	if p.acceptKw("WHERE") {
		s.where = p.expr()
	}
	if p.acceptKw("GROUP") {
		p.expectKw("BY")
		s.groupBy = p.exprList()
		if p.acceptKw("HAVING") {
			s.having = p.expr()
		}
	}
	if p.acceptKw("ORDER") {
		p.expectKw("BY")
		s.orderBy = p.orderList()
	}
	if p.acceptKw("LIMIT") {
		s.limit = p.expr()
	}
	if p.acceptKw("OFFSET") {
		s.offset = p.expr()
	}
	return s
}

// resultItem reads one result: *, alias.*, or an expression with an optional alias.
func (p *parser) resultItem() resultItem {
	t := p.peek()
	if p.acceptOp("*") {
		return resultItem{pos: t.pos, star: true}
	}
	if p.isIdent() && p.toks[p.i+1].kind == tOp && p.toks[p.i+1].text == "." &&
		p.toks[p.i+2].kind == tOp && p.toks[p.i+2].text == "*" {
		name, _ := p.ident("")
		p.i += 2
		return resultItem{pos: t.pos, star: true, alias: name}
	}
	ri := resultItem{pos: t.pos, x: p.expr()}
	if p.acceptKw("AS") {
		ri.alias, _ = p.ident("a column alias after AS")
	} else if p.isIdent() {
		ri.alias, _ = p.ident("")
	}
	return ri
}

// fromClause reads FROM collection [[AS] alias] and refuses what would read
// more than one collection.
func (p *parser) fromClause(s *selectStmt) {
	if !p.isKw("FROM") {
		t := p.peek()
		p.fail(t.pos, "expected FROM (queries read one collection), found %s", describe(t))
	}
	p.next()
	s.scope, s.coll, s.fromPos = p.collectionName()
	s.alias = s.coll
	if p.acceptKw("AS") {
		s.alias, _ = p.ident("an alias after AS")
	} else if p.isIdent() {
		s.alias, _ = p.ident("")
	}
	for _, kw := range []string{"JOIN", "LEFT", "INNER", "CROSS", "UNNEST", "NEST", "UNION", "INTERSECT", "EXCEPT"} {
		if p.isKw(kw) {
			p.fail(p.peek().pos, "%s is not supported: a query reads one collection", kw)
		}
	}
	if p.isOp(",") {
		p.fail(p.peek().pos, "a query reads one collection: joins are not supported")
	}
}

func (p *parser) exprList() []expr {
	var out []expr
	for {
		out = append(out, p.expr())
		if !p.acceptOp(",") {
			return out
		}
	}
}

func (p *parser) orderList() []orderItem {
	var out []orderItem
	for {
		oi := orderItem{x: p.expr()}
		if p.acceptKw("DESC") {
			oi.desc = true
		} else {
			p.acceptKw("ASC")
		}
		out = append(out, oi)
		if !p.acceptOp(",") {
			return out
		}
	}
}

func (p *parser) enter() {
	p.depth++
	if p.depth > maxDepth {
		p.fail(p.peek().pos, "expression nested more than %d deep", maxDepth)
	}
}

func (p *parser) leave() { p.depth-- }

func (p *parser) expr() expr { return p.orExpr() }

func (p *parser) orExpr() expr {
	p.enter()
	defer p.leave()
	l := p.andExpr()
	for p.isKw("OR") {
		t := p.next()
		l = &binaryExpr{t.pos, "OR", l, p.andExpr()}
	}
	return l
}

func (p *parser) andExpr() expr {
	l := p.notExpr()
	for p.isKw("AND") {
		t := p.next()
		l = &binaryExpr{t.pos, "AND", l, p.notExpr()}
	}
	return l
}

func (p *parser) notExpr() expr {
	if p.isKw("NOT") {
		t := p.next()
		p.enter()
		defer p.leave()
		return &unaryExpr{t.pos, "NOT", p.notExpr()}
	}
	return p.cmpExpr()
}

func (p *parser) cmpExpr() expr {
	l := p.concatExpr()
	t := p.peek()
	if t.kind == tOp {
		switch t.text {
		case "=", "==", "!=", "<>", "<", "<=", ">", ">=":
			p.next()
			op := t.text
			if op == "==" {
				op = "="
			} else if op == "<>" {
				op = "!="
			}
			return &binaryExpr{t.pos, op, l, p.concatExpr()}
		}
		return l
	}
	not := false
	if p.isKw("NOT") {
		nt := p.toks[p.i+1]
		if nt.kind == tIdent && (strings.EqualFold(nt.text, "LIKE") || strings.EqualFold(nt.text, "IN") || strings.EqualFold(nt.text, "BETWEEN")) {
			p.next()
			not = true
		} else {
			return l
		}
	}
	switch {
	case p.acceptKw("LIKE"):
		return &likeExpr{t.pos, not, l, p.concatExpr()}
	case p.acceptKw("BETWEEN"):
		lo := p.concatExpr()
		p.expectKw("AND")
		return &betweenExpr{t.pos, not, l, lo, p.concatExpr()}
	case p.acceptKw("IN"):
		in := &inExpr{pos: t.pos, not: not, x: l}
		if p.isOp("(") {
			p.next()
			for {
				in.list = append(in.list, p.expr())
				if !p.acceptOp(",") {
					break
				}
			}
			p.expectOp(")")
		} else {
			in.arr = p.concatExpr()
			if a, ok := in.arr.(*arrayExpr); ok {
				in.list, in.arr = a.elems, nil
				if len(in.list) == 0 {
					in.list = nil
					in.arr = a
				}
			}
		}
		return in
	case p.acceptKw("IS"):
		is := &isExpr{pos: t.pos, x: l}
		is.not = p.acceptKw("NOT")
		w := p.peek()
		switch {
		case p.acceptKw("NULL"):
			is.what = "NULL"
		case p.acceptKw("MISSING"):
			is.what = "MISSING"
		case p.acceptKw("VALUED"):
			is.what = "VALUED"
		default:
			p.fail(w.pos, "expected NULL, MISSING or VALUED after IS, found %s", describe(w))
		}
		return is
	}
	return l
}

func (p *parser) concatExpr() expr {
	l := p.addExpr()
	for p.isOp("||") {
		t := p.next()
		l = &binaryExpr{t.pos, "||", l, p.addExpr()}
	}
	return l
}

func (p *parser) addExpr() expr {
	l := p.mulExpr()
	for p.isOp("+") || p.isOp("-") {
		t := p.next()
		l = &binaryExpr{t.pos, t.text, l, p.mulExpr()}
	}
	return l
}

func (p *parser) mulExpr() expr {
	l := p.unary()
	for p.isOp("*") || p.isOp("/") || p.isOp("%") {
		t := p.next()
		l = &binaryExpr{t.pos, t.text, l, p.unary()}
	}
	return l
}

func (p *parser) unary() expr {
	if p.isOp("-") || p.isOp("+") {
		t := p.next()
		p.enter()
		defer p.leave()
		x := p.unary()
		if t.text == "+" {
			return x
		}
		return &unaryExpr{t.pos, "-", x}
	}
	return p.postfix()
}

func (p *parser) postfix() expr {
	x := p.primary()
	for {
		if p.isOp(".") {
			path, ok := x.(*pathExpr)
			if !ok {
				p.fail(p.peek().pos, "a property can only follow a property path")
			}
			p.next()
			name, _ := p.pathIdent()
			path.steps = append(path.steps, name)
			continue
		}
		if p.isOp("[") {
			t := p.next()
			path, ok := x.(*pathExpr)
			if !ok {
				p.fail(t.pos, "an array index can only follow a property path")
			}
			n := p.peek()
			if n.kind != tNumber {
				p.fail(n.pos, "expected an array index (a non-negative integer), found %s", describe(n))
			}
			idx, err := strconv.Atoi(n.text)
			if err != nil || idx < 0 || idx > 1<<30 {
				p.fail(n.pos, "array index %s is not a non-negative integer", n.text)
			}
			p.next()
			p.expectOp("]")
			path.steps = append(path.steps, idx)
			continue
		}
		return x
	}
}

// pathIdent is a property name after a dot: any identifier, keywords included.
func (p *parser) pathIdent() (string, int) {
	t := p.peek()
	if t.kind == tIdent || t.kind == tQuotedIdent {
		p.i++
		return t.text, t.pos
	}
	p.fail(t.pos, "expected a property name, found %s", describe(t))
	return "", 0
}

func (p *parser) primary() expr {
	t := p.peek()
	switch t.kind {
	case tNumber:
		p.next()
		if !strings.ContainsAny(t.text, ".eE") {
			if n, err := strconv.ParseInt(t.text, 10, 64); err == nil {
				return &litExpr{t.pos, n}
			}
		}
		f, err := strconv.ParseFloat(t.text, 64)
		if err != nil {
			p.fail(t.pos, "number %s is out of range", t.text)
		}
		return &litExpr{t.pos, f}
	case tString:
		p.next()
		return &litExpr{t.pos, t.text}
	case tParam:
		p.next()
		return &paramExpr{t.pos, t.text}
	case tQuotedIdent:
		p.next()
		return &pathExpr{t.pos, []any{t.text}}
	case tOp:
		switch t.text {
		case "(":
			p.next()
			p.enter()
			x := p.expr()
			p.leave()
			p.expectOp(")")
			return x
		case "[":
			p.next()
			p.enter()
			defer p.leave()
			a := &arrayExpr{pos: t.pos}
			if !p.acceptOp("]") {
				for {
					a.elems = append(a.elems, p.expr())
					if !p.acceptOp(",") {
						break
					}
				}
				p.expectOp("]")
			}
			return a
		}
		p.fail(t.pos, "expected an expression, found %s", describe(t))
	case tIdent:
		up := strings.ToUpper(t.text)
		switch up {
		case "NULL":
			p.next()
			return &litExpr{t.pos, nil}
		case "MISSING":
			p.next()
			return &litExpr{t.pos, missing}
		case "TRUE", "FALSE":
			p.next()
			return &litExpr{t.pos, up == "TRUE"}
		case "ANY", "SOME", "EVERY":
			return p.anyExpr()
		case "CASE":
			return p.caseExpr()
		}
		if keywords[up] {
			p.fail(t.pos, "expected an expression, found keyword %s", up)
		}
		p.next()
		if p.isOp("(") {
			return p.call(t)
		}
		return &pathExpr{t.pos, []any{t.text}}
	}
	p.fail(t.pos, "expected an expression, found %s", describe(t))
	return nil
}

func (p *parser) call(name token) expr {
	p.expectOp("(")
	p.enter()
	defer p.leave()
	up := strings.ToUpper(name.text)
	if up == "META" {
		m := &metaExpr{pos: name.pos}
		if !p.isOp(")") {
			m.alias, _ = p.ident("a collection alias in meta()")
		}
		p.expectOp(")")
		if !p.isOp(".") {
			p.fail(p.peek().pos, "expected .id, .revisionID, .sequence, .deleted or .expiration after meta()")
		}
		p.next()
		m.field, _ = p.pathIdent()
		return m
	}
	c := &callExpr{pos: name.pos, name: up}
	if p.acceptOp("*") {
		c.star = true
		p.expectOp(")")
		return c
	}
	if p.acceptKw("DISTINCT") {
		c.distinct = true
	}
	if !p.acceptOp(")") {
		for {
			c.args = append(c.args, p.expr())
			if !p.acceptOp(",") {
				break
			}
		}
		p.expectOp(")")
	}
	return c
}

func (p *parser) anyExpr() expr {
	t := p.next()
	p.enter()
	defer p.leave()
	a := &anyExpr{pos: t.pos, every: strings.EqualFold(t.text, "EVERY")}
	a.v, _ = p.ident("a variable name")
	p.expectKw("IN")
	a.arr = p.concatExpr()
	p.expectKw("SATISFIES")
	a.cond = p.expr()
	p.expectKw("END")
	return a
}

func (p *parser) caseExpr() expr {
	t := p.next()
	p.enter()
	defer p.leave()
	c := &caseExpr{pos: t.pos}
	if !p.isKw("WHEN") {
		c.subject = p.expr()
	}
	for p.acceptKw("WHEN") {
		c.whens = append(c.whens, p.expr())
		p.expectKw("THEN")
		c.thens = append(c.thens, p.expr())
	}
	if len(c.whens) == 0 {
		p.fail(p.peek().pos, "expected WHEN in CASE, found %s", describe(p.peek()))
	}
	if p.acceptKw("ELSE") {
		c.els = p.expr()
	}
	p.expectKw("END")
	return c
}
