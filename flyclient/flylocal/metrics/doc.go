// Package metrics is flylocal's stand-in for Fly's Prometheus API. It owns an
// in-memory time-series store, a parser and evaluator for the small part of
// PromQL that Sandstorm's queries use, and an HTTP handler that answers
// /prometheus/<org>/api/v1/query and /query_range with standard Prometheus JSON.
// It does not scrape anything: whoever simulates machines calls Store.Add.
//
// # Query language
//
// The grammar, with the usual precedence (* and / bind tighter than + and -):
//
//	expr      = term { ("+" | "-") term }
//	term      = unary { ("*" | "/") unary }
//	unary     = { "-" | "+" } primary
//	primary   = number | "(" expr ")" | aggregate | call | selector
//	aggregate = aggop [ grouping ] "(" expr ")" [ grouping ]
//	aggop     = "sum" | "min" | "max" | "avg" | "count"
//	grouping  = ( "by" | "without" ) "(" [ label { "," label } [ "," ] ] ")"
//	call      = func "(" selector "[" duration "]" ")"
//	func      = "rate" | "irate" | "increase" | "avg_over_time" | "min_over_time"
//	          | "max_over_time" | "sum_over_time" | "count_over_time" | "last_over_time"
//	selector  = metric [ "{" matchers "}" ] | "{" matchers "}"
//	matchers  = label ( "=" | "!=" | "=~" | "!~" ) string { "," ... } [ "," ]
//
// Durations are Prometheus durations (ms, s, m, h, d, w, y, combined as in
// 1h30m). Regular expressions are fully anchored and "." matches a newline, as in
// Prometheus 3. A range selector on its own (x[5m]) is accepted by Store.Query
// and returns the raw samples as a matrix. Everything else (offset, @,
// subqueries, comparison and set operators, on/ignoring/group_left, other
// functions and aggregations, string literals) is a *ParseError that names what
// flylocal does not support.
//
// # Semantics
//
// An instant selector takes each series' latest sample in the 5-minute lookback
// window (t-5m, t] and keeps __name__; functions, aggregations and arithmetic
// drop it. Range windows are left-open, (t-d, t], as in Prometheus 3.
//
// increase follows VictoriaMetrics rather than Prometheus: no extrapolation to
// the window edges. Its baseline is the last sample at or before t-d when the
// series has one, else the first sample inside the window; from there it sums
// the rises between consecutive samples, and a drop counts as a counter restart
// from zero. rate is that increase divided by d in seconds. irate uses the last
// two samples of the same baseline-plus-window sequence. A series with no sample
// in the window yields no result element at all (absent, not zero), which is
// how Fly reports stopped machines.
//
// Binary + - * / work between scalars, between a vector and a scalar, and
// between two vectors matched one-to-one on their labels without __name__.
// Results are sorted by label set in the order of model.LabelSet.Before.
//
// # Limitations
//
// Retention is measured from the newest accepted sample, not the wall clock,
// and series that stop receiving samples are swept on a coarse interval.
// Queries hold a read lock for their whole evaluation, so a huge range query
// delays Add. MetricsQL extensions (rate without a range, WITH templates,
// default_rollup) are not implemented, nor are histograms, exemplars,
// /api/v1/series, labels or any other endpoint; those answer 501.
package metrics
