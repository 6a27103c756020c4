package metrics

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/common/model"
)

// tokenKind classifies a token.
type tokenKind int

const (
	tokEOF tokenKind = iota
	tokIdent
	tokNumber
	tokString
	tokDuration
	tokOp // operators and matcher operators; text holds which
	tokLParen
	tokRParen
	tokLBrace
	tokRBrace
	tokLBracket
	tokRBracket
	tokComma
	tokColon
)

// token is one lexical token. For numbers, strings and durations the decoded
// value is in num, str or dur.
type token struct {
	kind tokenKind
	text string // as written
	pos  int    // byte offset in the query
	num  float64
	str  string
	dur  time.Duration
}

// describe names a token for error messages.
func (t token) describe() string {
	switch t.kind {
	case tokEOF:
		return "end of input"
	case tokIdent:
		return fmt.Sprintf("identifier %q", t.text)
	case tokNumber:
		return fmt.Sprintf("number %s", t.text)
	case tokString:
		return fmt.Sprintf("string %s", t.text)
	case tokDuration:
		return fmt.Sprintf("duration %s", t.text)
	default:
		return fmt.Sprintf("%q", t.text)
	}
}

// punctuation maps single characters to their token kinds.
var punctuation = map[byte]tokenKind{
	'(': tokLParen, ')': tokRParen, '{': tokLBrace, '}': tokRBrace,
	'[': tokLBracket, ']': tokRBracket, ',': tokComma, ':': tokColon,
}

// operators lists the operator spellings, longest first so that "=~" wins
// over "=". Most are recognised only to be rejected with a clear message.
var operators = []string{
	"==", "!=", ">=", "<=", "=~", "!~",
	"=", "+", "-", "*", "/", "%", "^", ">", "<", "@",
}

// lex splits input into tokens, ending with a tokEOF.
func lex(input string) ([]token, error) {
	var toks []token
	for i := 0; ; {
		for i < len(input) && isSpace(input[i]) {
			i++
		}
		if i < len(input) && input[i] == '#' {
			for i < len(input) && input[i] != '\n' {
				i++
			}

			continue
		}
		if i == len(input) {
			return append(toks, token{kind: tokEOF, pos: i}), nil
		}

		tok, err := lexOne(input, i)
		if err != nil {
			return nil, err
		}
		toks = append(toks, tok)
		i += len(tok.text)
	}
}

// lexOne reads the token that starts at input[i].
func lexOne(input string, i int) (token, error) {
	c := input[i]
	switch {
	case isDigit(c) || c == '.' && i+1 < len(input) && isDigit(input[i+1]):
		return lexNumber(input, i)
	case isIdentStart(c):
		j := i + 1
		for j < len(input) && isIdentChar(input[j]) {
			j++
		}
		word := input[i:j]
		if w := strings.ToLower(word); w == "inf" || w == "nan" {
			f, _ := strconv.ParseFloat(w, 64)

			return token{kind: tokNumber, text: word, pos: i, num: f}, nil
		}

		return token{kind: tokIdent, text: word, pos: i}, nil
	case c == '"' || c == '\'' || c == '`':
		return lexString(input, i)
	}
	if kind, ok := punctuation[c]; ok {
		return token{kind: kind, text: input[i : i+1], pos: i}, nil
	}
	for _, op := range operators {
		if strings.HasPrefix(input[i:], op) {
			return token{kind: tokOp, text: op, pos: i}, nil
		}
	}

	return token{}, newParseError(input, i, "unexpected character %q", c)
}

// lexNumber reads a number (decimal, scientific or hex) or a duration such as
// 5m or 1h30m.
func lexNumber(input string, i int) (token, error) {
	j := i
	for j < len(input) && isNumberChar(input[j]) {
		j++
		// A sign right after the exponent letter of a decimal belongs to it.
		isExp := input[j-1] == 'e' || input[j-1] == 'E'
		if isExp && j < len(input) && (input[j] == '+' || input[j] == '-') &&
			!strings.HasPrefix(strings.ToLower(input[i:j]), "0x") {
			j++
		}
	}
	text := input[i:j]

	if f, err := strconv.ParseFloat(text, 64); err == nil {
		return token{kind: tokNumber, text: text, pos: i, num: f}, nil
	}
	if n, err := strconv.ParseInt(text, 0, 64); err == nil {
		return token{kind: tokNumber, text: text, pos: i, num: float64(n)}, nil
	}
	if d, err := model.ParseDuration(text); err == nil {
		return token{kind: tokDuration, text: text, pos: i, dur: time.Duration(d)}, nil
	}

	return token{}, newParseError(input, i, "bad number or duration %q", text)
}

// lexString reads a quoted string. Double and single quotes take Go escapes;
// backquotes are raw.
func lexString(input string, i int) (token, error) {
	quote := input[i]
	var b strings.Builder
	for j := i + 1; j < len(input); {
		c := input[j]
		switch {
		case c == quote:
			return token{kind: tokString, text: input[i : j+1], pos: i, str: b.String()}, nil
		case quote == '`':
			b.WriteByte(c)
			j++
		case c == '\n':
			return token{}, newParseError(input, j, "newline in string")
		default:
			r, _, tail, err := strconv.UnquoteChar(input[j:], quote)
			if err != nil {
				return token{}, newParseError(input, j, "invalid escape in string")
			}
			b.WriteRune(r)
			j = len(input) - len(tail)
		}
	}

	return token{}, newParseError(input, i, "unterminated string")
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func isIdentStart(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_' || c == ':'
}

func isIdentChar(c byte) bool { return isIdentStart(c) || isDigit(c) }

// isNumberChar reports whether c can continue a number or duration.
func isNumberChar(c byte) bool { return isIdentChar(c) && c != ':' || c == '.' }

// isLabelName reports whether s is a valid (legacy) Prometheus label name.
func isLabelName(s string) bool {
	return s != "" && !strings.Contains(s, ":") && !isDigit(s[0])
}
