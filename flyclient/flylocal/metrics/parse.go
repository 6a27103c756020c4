package metrics

import (
	"maps"
	"regexp"
	"slices"
	"strings"
)

// unsupportedAggs are PromQL aggregations flylocal rejects by name.
var unsupportedAggs = map[string]bool{
	"topk": true, "bottomk": true, "quantile": true, "stddev": true, "stdvar": true,
	"count_values": true, "group": true, "limitk": true, "limit_ratio": true,
}

// parser is a recursive-descent parser over the tokens of one query.
type parser struct {
	input string
	toks  []token
	i     int
}

// parse parses a query into an expression tree.
func parse(input string) (node, error) {
	toks, err := lex(input)
	if err != nil {
		return nil, err
	}
	p := &parser{input: input, toks: toks}
	if t := p.peek(); t.kind == tokEOF {
		return nil, p.errorf(t, "no expression found in input")
	}

	n, err := p.parseExpr(1)
	if err != nil {
		return nil, err
	}
	if t := p.peek(); t.kind != tokEOF {
		return nil, p.unexpected(t, "end of input")
	}

	return n, nil
}

func (p *parser) peek() token { return p.toks[p.i] }

func (p *parser) next() token {
	t := p.toks[p.i]
	if t.kind != tokEOF {
		p.i++
	}

	return t
}

// expect consumes a token of the given kind or fails naming what was wanted.
func (p *parser) expect(kind tokenKind, want string) (token, error) {
	t := p.next()
	if t.kind != kind {
		return t, p.unexpected(t, want)
	}

	return t, nil
}

func (p *parser) errorf(t token, format string, args ...any) error {
	return newParseError(p.input, t.pos, format, args...)
}

// unexpected reports t where want was expected, or what is unsupported about t.
func (p *parser) unexpected(t token, want string) error {
	if err := p.unsupported(t); err != nil {
		return err
	}

	return p.errorf(t, "unexpected %s, expected %s", t.describe(), want)
}

// unsupported returns an error naming the PromQL feature t starts, when t
// starts one that flylocal does not implement, and nil otherwise.
func (p *parser) unsupported(t token) error {
	switch {
	case t.kind == tokIdent && t.text == "offset":
		return p.errorf(t, "the offset modifier is not supported by flylocal")
	case t.kind == tokOp && t.text == "@":
		return p.errorf(t, "the @ modifier is not supported by flylocal")
	case t.kind == tokIdent && (t.text == "and" || t.text == "or" || t.text == "unless"):
		return p.errorf(t, "set operator %q is not supported by flylocal", t.text)
	case t.kind == tokIdent && t.text == "atan2",
		t.kind == tokOp && (t.text == "%" || t.text == "^"):
		return p.errorf(t, "operator %q is not supported by flylocal (supported: + - * /)", t.text)
	case t.kind == tokOp && strings.ContainsAny(t.text, "<>") ||
		t.kind == tokOp && (t.text == "==" || t.text == "!="):
		return p.errorf(t, "comparison operator %q is not supported by flylocal", t.text)
	case t.kind == tokIdent && isMatchingModifier(t.text):
		return p.errorf(t, "vector matching modifier %q is not supported by flylocal; "+
			"vectors match one-to-one on all labels", t.text)
	}

	return nil
}

func isMatchingModifier(s string) bool {
	switch s {
	case "bool", "on", "ignoring", "group_left", "group_right":
		return true
	}

	return false
}

// precedence returns the binding power of a supported binary operator, or 0.
func precedence(t token) int {
	if t.kind != tokOp {
		return 0
	}
	switch t.text {
	case "+", "-":
		return 1
	case "*", "/":
		return 2
	}

	return 0
}

// parseExpr parses binary expressions whose operators bind at least minPrec.
func (p *parser) parseExpr(minPrec int) (node, error) {
	lhs, err := p.parseUnary()
	if err != nil {
		return nil, err
	}
	for {
		op := p.peek()
		prec := precedence(op)
		if prec == 0 {
			if err := p.unsupported(op); err != nil {
				return nil, err
			}

			return lhs, nil
		}
		if prec < minPrec {
			return lhs, nil
		}
		p.next()
		if t := p.peek(); t.kind == tokIdent && isMatchingModifier(t.text) {
			return nil, p.unsupported(t)
		}

		rhs, err := p.parseExpr(prec + 1)
		if err != nil {
			return nil, err
		}
		if lhs.valueType() == typeMatrix || rhs.valueType() == typeMatrix {
			return nil, p.errorf(op, "binary expression must contain only scalar and "+
				"instant vector types; apply rate() or increase() to a range vector first")
		}
		lhs = &binary{op: op.text[0], lhs: lhs, rhs: rhs}
	}
}

// parseUnary parses an optional sign and the primary expression after it.
func (p *parser) parseUnary() (node, error) {
	t := p.peek()
	if t.kind != tokOp || t.text != "-" && t.text != "+" {
		return p.parsePrimary()
	}
	p.next()

	n, err := p.parseUnary()
	if err != nil || t.text == "+" {
		return n, err
	}
	switch n := n.(type) {
	case *numberLit:
		return &numberLit{v: -n.v}, nil
	case *matrixSel:
		return nil, p.errorf(t, "unary minus only applies to scalars and instant vectors")
	}

	return &negation{expr: n}, nil
}

// parsePrimary parses a literal, parenthesised expression, aggregation,
// function call or selector.
func (p *parser) parsePrimary() (node, error) {
	t := p.peek()
	switch t.kind {
	case tokNumber:
		p.next()

		return &numberLit{v: t.num}, nil
	case tokString:
		return nil, p.errorf(t, "string literals are not supported by flylocal")
	case tokLBrace:
		return p.parseSelector(t)
	case tokIdent:
		return p.parseIdent()
	case tokLParen:
		p.next()
		n, err := p.parseExpr(1)
		if err != nil {
			return nil, err
		}
		if _, err := p.expect(tokRParen, `")"`); err != nil {
			return nil, err
		}
		if t := p.peek(); t.kind == tokLBracket {
			return nil, p.errorf(t, "ranges are only allowed on vector selectors; "+
				"subqueries are not supported by flylocal")
		}

		return n, nil
	}

	return nil, p.unexpected(t, "an expression")
}

// parseIdent parses what starts with an identifier: an aggregation, a
// function call or a selector with a metric name.
func (p *parser) parseIdent() (node, error) {
	t := p.next()
	nt := p.peek()
	opens := nt.kind == tokLParen || isGroupingKeyword(nt)
	switch op, isAgg := aggOps[t.text]; {
	case opens && isAgg:
		return p.parseAggregate(t, op)
	case opens && unsupportedAggs[t.text]:
		return nil, p.errorf(t, "aggregation %s is not supported by flylocal (supported: %s)",
			t.text, strings.Join(slices.Sorted(maps.Keys(aggOps)), ", "))
	case nt.kind == tokLParen:
		fn, ok := rangeFuncs[t.text]
		if !ok {
			return nil, p.errorf(t, "function %s is not supported by flylocal (supported: %s)",
				t.text, strings.Join(slices.Sorted(maps.Keys(rangeFuncs)), ", "))
		}

		return p.parseCall(t, fn)
	}

	return p.parseSelector(t)
}

func isGroupingKeyword(t token) bool {
	return t.kind == tokIdent && (t.text == "by" || t.text == "without")
}

// parseAggregate parses an aggregation after its operator name.
func (p *parser) parseAggregate(opTok token, op aggOp) (node, error) {
	agg := &aggregate{op: op}
	before := isGroupingKeyword(p.peek())
	if before {
		if err := p.parseGrouping(agg); err != nil {
			return nil, err
		}
	}
	if _, err := p.expect(tokLParen, `"(" after `+opTok.text); err != nil {
		return nil, err
	}

	argTok := p.peek()
	expr, err := p.parseExpr(1)
	if err != nil {
		return nil, err
	}
	if t := p.peek(); t.kind == tokComma {
		return nil, p.errorf(t, "aggregation %s takes exactly one argument", opTok.text)
	}
	if _, err := p.expect(tokRParen, `")"`); err != nil {
		return nil, err
	}
	if t := p.peek(); isGroupingKeyword(t) {
		if before {
			return nil, p.errorf(t, "aggregation %s has a grouping clause both before "+
				"and after its argument", opTok.text)
		}
		if err := p.parseGrouping(agg); err != nil {
			return nil, err
		}
	}

	if typ := expr.valueType(); typ != typeVector {
		return nil, p.errorf(argTok, "expected instant vector in aggregation %s, got %s",
			opTok.text, typ)
	}
	agg.expr = expr

	return agg, nil
}

// parseGrouping parses "by (...)" or "without (...)" into agg.
func (p *parser) parseGrouping(agg *aggregate) error {
	agg.without = p.next().text == "without"
	if _, err := p.expect(tokLParen, `"(" after by or without`); err != nil {
		return err
	}
	for {
		t := p.next()
		switch {
		case t.kind == tokRParen:
			slices.Sort(agg.grouping)
			agg.grouping = slices.Compact(agg.grouping)

			return nil
		case t.kind != tokIdent || !isLabelName(t.text):
			return p.unexpected(t, "label name in grouping")
		}
		agg.grouping = append(agg.grouping, t.text)

		switch t := p.peek(); t.kind {
		case tokComma:
			p.next()
		case tokRParen:
		default:
			return p.unexpected(t, `"," or ")"`)
		}
	}
}

// parseCall parses a range function call after its name.
func (p *parser) parseCall(nameTok token, fn rangeFunc) (node, error) {
	p.next() // "("
	argTok := p.peek()
	arg, err := p.parseExpr(1)
	if err != nil {
		return nil, err
	}
	if t := p.peek(); t.kind == tokComma {
		return nil, p.errorf(t, "function %s takes exactly one argument", nameTok.text)
	}
	if _, err := p.expect(tokRParen, `")"`); err != nil {
		return nil, err
	}

	ms, ok := arg.(*matrixSel)
	if !ok {
		hint := ""
		if arg.valueType() == typeVector {
			hint = "; flylocal does not support MetricsQL's implicit window"
		}

		return nil, p.errorf(argTok, "function %s expects a range vector such as x[5m], got %s%s",
			nameTok.text, arg.valueType(), hint)
	}

	return &call{name: nameTok.text, fn: fn, arg: ms}, nil
}

// parseSelector parses a vector selector, and a range after it if present.
// start is either the metric name, already consumed, or the opening "{".
func (p *parser) parseSelector(start token) (node, error) {
	sel := &vectorSel{}
	named := start.kind == tokIdent
	if named {
		sel.name = start.text
		sel.matchers = append(sel.matchers, &matcher{name: nameLabel, value: start.text})
	}

	if p.peek().kind == tokLBrace {
		if err := p.parseMatchers(sel, named); err != nil {
			return nil, err
		}
	}
	if !slices.ContainsFunc(sel.matchers, func(m *matcher) bool { return !m.matches("") }) {
		return nil, p.errorf(start, "vector selector must contain at least one "+
			"non-empty matcher")
	}

	if p.peek().kind != tokLBracket {
		return sel, nil
	}

	return p.parseRange(sel)
}

// parseMatchers parses "{...}" into sel.
func (p *parser) parseMatchers(sel *vectorSel, named bool) error {
	p.next() // "{"
	for {
		if p.peek().kind == tokRBrace {
			p.next()

			return nil
		}
		mt := p.peek()
		m, err := p.parseMatcher()
		if err != nil {
			return err
		}
		if m.name == nameLabel && named {
			return p.errorf(mt, "metric name must not be set twice")
		}
		if m.name == nameLabel && m.typ == matchEqual {
			sel.name = m.value
		}
		sel.matchers = append(sel.matchers, m)

		switch t := p.peek(); t.kind {
		case tokComma:
			p.next()
		case tokRBrace:
		default:
			return p.unexpected(t, `"," or "}"`)
		}
	}
}

// matchOps maps matcher operator spellings to their types.
var matchOps = map[string]matchType{
	"=": matchEqual, "!=": matchNotEqual, "=~": matchRegexp, "!~": matchNotRegexp,
}

// parseMatcher parses one label matcher such as app=~"web-.*".
func (p *parser) parseMatcher() (*matcher, error) {
	nameTok := p.next()
	if nameTok.kind != tokIdent || !isLabelName(nameTok.text) {
		return nil, p.unexpected(nameTok, "label name")
	}
	opTok := p.next()
	typ, ok := matchOps[opTok.text]
	if opTok.kind != tokOp || !ok {
		return nil, p.unexpected(opTok, "label matching operator (=, !=, =~, !~)")
	}
	valTok := p.next()
	if valTok.kind != tokString {
		return nil, p.unexpected(valTok, "quoted label value")
	}

	m := &matcher{name: nameTok.text, typ: typ, value: valTok.str}
	if typ == matchRegexp || typ == matchNotRegexp {
		re, err := regexp.Compile("^(?s:" + valTok.str + ")$")
		if err != nil {
			return nil, p.errorf(valTok, "invalid regular expression %s for label %s: %v",
				valTok.text, nameTok.text, err)
		}
		m.re = re
	}

	return m, nil
}

// parseRange parses "[duration]" after a selector.
func (p *parser) parseRange(sel *vectorSel) (node, error) {
	p.next() // "["
	t := p.next()
	if t.kind != tokDuration {
		return nil, p.unexpected(t, "duration such as 5m in range selector")
	}
	if t.dur <= 0 {
		return nil, p.errorf(t, "range in selector must be greater than zero")
	}
	if c := p.peek(); c.kind == tokColon || c.kind == tokIdent && c.text[0] == ':' {
		return nil, p.errorf(c, "subqueries are not supported by flylocal")
	}
	if _, err := p.expect(tokRBracket, `"]"`); err != nil {
		return nil, err
	}

	return &matrixSel{sel: sel, rng: t.dur}, nil
}
