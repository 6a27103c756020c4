package metrics

import (
	"errors"
	"strings"
	"testing"
)

func TestParse_errors(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name    string
		query   string
		wantErr string
	}{
		{"empty query", "", "no expression found in input"},
		{"topk", "topk(3, x)", "aggregation topk is not supported by flylocal (supported: avg, " +
			"count, max, min, sum)"},
		{"quantile with grouping", "quantile by (a) (0.9, x)", "aggregation quantile is not"},
		{"offset", "x offset 5m", "the offset modifier is not supported"},
		{"offset inside a function", "rate(x[5m] offset 1h)", "the offset modifier is not"},
		{"@ modifier", "x @ 1700000000", "the @ modifier is not supported"},
		{"bad regex", `x{a=~"("}`, `invalid regular expression "(" for label a: error parsing`},
		{"unknown function", "histogram_quantile(0.9, x)", "function histogram_quantile is not " +
			"supported by flylocal (supported: avg_over_time, count_over_time, increase, irate,"},
		{"delta", "delta(x[5m])", "function delta is not supported"},
		{"comparison", "sum(rate(x[5m])) > 0", `comparison operator ">" is not supported`},
		{"equality comparison", "x == 1", `comparison operator "==" is not supported`},
		{"set operator", "x and y", `set operator "and" is not supported`},
		{"vector matching", "x + on(a) y", `vector matching modifier "on" is not supported`},
		{"bool modifier", "x - bool y", `vector matching modifier "bool" is not supported`},
		{"modulo", "x % 2", `operator "%" is not supported by flylocal (supported: + - * /)`},
		{"power", "x ^ 2", `operator "^" is not supported`},
		{"rate without range", "rate(x)", "function rate expects a range vector such as x[5m], " +
			"got instant vector; flylocal does not support MetricsQL's implicit window"},
		{"rate of a scalar", "rate(1)", "got scalar"},
		{"rate with two arguments", "rate(x[5m], 1)", "function rate takes exactly one argument"},
		{"subquery", "rate(x[5m:1m])", "subqueries are not supported"},
		{"range on parentheses", "(x)[5m]", "ranges are only allowed on vector selectors"},
		{"aggregation of range vector", "sum(x[5m])", "expected instant vector in aggregation " +
			"sum, got range vector"},
		{"sum of scalar", "sum(1)", "expected instant vector in aggregation sum, got scalar"},
		{"sum of two arguments", "sum(x, y)", "aggregation sum takes exactly one argument"},
		{"grouping twice", "sum by (a) (x) by (b)", "grouping clause both before and after"},
		{"grouping needs parentheses", "sum by a (x)", `unexpected identifier "a", expected "("`},
		{"range vector arithmetic", "x[5m] + 1", "binary expression must contain only scalar " +
			"and instant vector types"},
		{"unary minus on a range vector", "-x[5m]", "unary minus only applies to scalars"},
		{"string literal", `"foo"`, "string literals are not supported"},
		{"unterminated selector", `x{a="b"`, `unexpected end of input, expected "," or "}"`},
		{"unterminated string", `x{a="b}`, "unterminated string"},
		{"unquoted label value", `x{a=b}`, `unexpected identifier "b", expected quoted label value`},
		{"bad matcher operator", `x{a>"b"}`, `comparison operator ">" is not supported`},
		{"empty-matching selector", `{a=~".*"}`, "vector selector must contain at least one " +
			"non-empty matcher"},
		{"empty selector", `{}`, "vector selector must contain at least one non-empty matcher"},
		{"name set twice", `x{__name__="y"}`, "metric name must not be set twice"},
		{"bad duration", "rate(x[5x])", `bad number or duration "5x"`},
		{"zero range", "rate(x[0s])", "range in selector must be greater than zero"},
		{"number as range", "rate(x[300])", "expected duration such as 5m in range selector"},
		{"trailing tokens", "x y", `unexpected identifier "y", expected end of input`},
		{"unbalanced parenthesis", "sum(x", `unexpected end of input, expected ")"`},
		{"stray character", "x $ y", `unexpected character '$'`},
		{"quoted label name", `x{"a"="b"}`, `unexpected string "a", expected label name`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := parse(tt.query)
			var parseErr *ParseError
			if !errors.As(err, &parseErr) {
				t.Fatalf("parse(%q) error = %v, want *ParseError", tt.query, err)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("parse(%q) error\n  %q\ndoes not contain\n  %q", tt.query, err, tt.wantErr)
			}
		})
	}
}

func TestParseError_position(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name  string
		query string
		want  string
	}{
		{
			name:  "first line",
			query: "sum(rate(x[5m])) > 1",
			want:  `1:18: parse error: comparison operator ">" is not supported by flylocal`,
		},
		{
			name:  "later line",
			query: "sum(\n  x offset 5m)",
			want:  "2:5: parse error: the offset modifier is not supported by flylocal",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := parse(tt.query)
			if err == nil || err.Error() != tt.want {
				t.Errorf("parse(%q) error = %v, want %q", tt.query, err, tt.want)
			}
		})
	}
}

func TestParse_accepts(t *testing.T) {
	t.Parallel()

	for _, q := range []string{
		`x`,
		`x{}`,
		`x:recorded_rule`,
		`x{a="b",}`,
		`x{a="tab\there", b='single "quoted"', c=~` + "`raw\\d+`" + `}`,
		`sum by (a,) (x)`,
		`sum by () (x)`,
		`sum without (a, a) (x)`,
		`count(x) by (a)`,
		`sum(rate(x[1h30m])) by (instance)`,
		`max_over_time(x[1d]) / 1e3`,
		`x * 0x10 - .5 + Inf - nan`,
		`-(x) * -1`,
		"# comment\nsum(x) # trailing comment",
		`sum(x_offset)`,
		`rate(x[5m]) + on_metric`,
		`sum`,
		`rate`,
	} {
		if _, err := parse(q); err != nil {
			t.Errorf("parse(%q): %v", q, err)
		}
	}
}
