package metrics

import (
	"errors"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"
)

func TestStore_Query(t *testing.T) {
	t.Parallel()
	s := newFixture(t)

	tests := []struct {
		name  string
		query string
		at    time.Time // minute(20) when zero
		want  []string
	}{
		{
			name:  "plain selector keeps __name__ and skips stale series",
			query: conc,
			want: []string{
				`fly_app_concurrency{app="web", instance="i1"} 3`,
				`fly_app_concurrency{app="web", instance="i2"} 5`,
			},
		},
		{
			name:  "equality matchers",
			query: `fly_instance_net_recv_bytes{instance="i1",device="eth0"}`,
			want: []string{
				`fly_instance_net_recv_bytes{app="web", device="eth0", instance="i1"} 20000`,
			},
		},
		{
			name:  "not-equal matcher",
			query: `fly_instance_net_recv_bytes{device!="eth0"}`,
			want: []string{
				`fly_instance_net_recv_bytes{app="web", device="dummy0", instance="i1"} 7`,
			},
		},
		{
			name:  "regex is anchored",
			query: `fly_app_concurrency{app=~"we"}`,
			want:  []string{},
		},
		{
			name:  "regex matches whole value",
			query: `fly_app_concurrency{app=~"we.*", instance=~'i1|i9'}`,
			want:  []string{`fly_app_concurrency{app="web", instance="i1"} 3`},
		},
		{
			name:  "negative regex",
			query: "fly_instance_net_recv_bytes{instance!~`i[12]`}",
			want: []string{
				`fly_instance_net_recv_bytes{app="web", device="eth0", instance="i3"} 550`,
			},
		},
		{
			name:  "__name__ equality",
			query: `{__name__="fly_app_concurrency",instance="i2"}`,
			want:  []string{`fly_app_concurrency{app="web", instance="i2"} 5`},
		},
		{
			name:  "__name__ regex across metrics",
			query: `{__name__=~"fly_instance_net_.*", instance="i1", device="eth0"}`,
			want: []string{
				`fly_instance_net_recv_bytes{app="web", device="eth0", instance="i1"} 20000`,
				`fly_instance_net_sent_bytes{app="web", device="eth0", instance="i1"} 10000`,
			},
		},
		{
			name:  "empty matcher value matches a missing label",
			query: `fly_instance_net_recv_bytes{device="", instance="i1"}`,
			want:  []string{},
		},
		{
			name:  "lookback includes a sample just under 5 minutes old",
			query: `fly_app_concurrency{app="api"}`,
			at:    minute(10).Add(-time.Second),
			want:  []string{`fly_app_concurrency{app="api", instance="i4"} 2`},
		},
		{
			name:  "lookback excludes a sample exactly 5 minutes old",
			query: `fly_app_concurrency{app="api"}`,
			at:    minute(10),
			want:  []string{},
		},
		{
			name:  "increase with a baseline before the window",
			query: `increase(fly_instance_net_recv_bytes{instance="i1",device="eth0"}[10m])`,
			want:  []string{`{app="web", device="eth0", instance="i1"} 10000`},
		},
		{
			name:  "increase of a series that starts inside the window",
			query: `increase(fly_instance_net_recv_bytes{instance="i2"}[10m])`,
			want:  []string{`{app="web", device="eth0", instance="i2"} 500`},
		},
		{
			name:  "increase across a counter reset",
			query: `increase(fly_instance_net_recv_bytes{instance="i3"}[10m])`,
			want:  []string{`{app="web", device="eth0", instance="i3"} 950`},
		},
		{
			name:  "increase over a composite duration",
			query: `increase(fly_instance_net_recv_bytes{instance="i1",device="eth0"}[1h30m])`,
			want:  []string{`{app="web", device="eth0", instance="i1"} 20000`},
		},
		{
			name:  "increase of a stopped series is absent, not zero",
			query: `increase(fly_instance_net_recv_bytes{app="api"}[10m])`,
			want:  []string{},
		},
		{
			name:  "increase of a flat series is zero",
			query: `increase(fly_instance_net_recv_bytes{device="dummy0"}[10m])`,
			want:  []string{`{app="web", device="dummy0", instance="i1"} 0`},
		},
		{
			name:  "rate is increase per second",
			query: `rate(fly_instance_net_recv_bytes{instance=~"i[13]",device="eth0"}[10m])`,
			want: []string{
				`{app="web", device="eth0", instance="i1"} 16.666666666666668`,
				`{app="web", device="eth0", instance="i3"} 1.5833333333333333`,
			},
		},
		{
			name:  "irate uses the last two samples",
			query: `irate(fly_instance_net_recv_bytes{instance=~"i[13]",device="eth0"}[5m])`,
			want: []string{
				`{app="web", device="eth0", instance="i1"} 16.666666666666668`,
				`{app="web", device="eth0", instance="i3"} 1.6666666666666667`,
			},
		},
		{
			name:  "irate with one sample in the window uses the baseline",
			query: `irate(fly_instance_net_recv_bytes{instance="i1",device="eth0"}[1m])`,
			want:  []string{`{app="web", device="eth0", instance="i1"} 16.666666666666668`},
		},
		{
			name:  "sum by before the argument",
			query: `sum by (app) (increase(fly_instance_net_recv_bytes{device="eth0"}[10m]))`,
			want:  []string{`{app="web"} 11450`},
		},
		{
			name:  "sum by after the argument",
			query: `sum(increase(fly_instance_net_recv_bytes{device="eth0"}[10m])) by (app)`,
			want:  []string{`{app="web"} 11450`},
		},
		{
			name:  "sum without",
			query: `sum without (instance) (increase(fly_instance_net_recv_bytes[10m]))`,
			want: []string{
				`{app="web", device="dummy0"} 0`,
				`{app="web", device="eth0"} 11450`,
			},
		},
		{
			name:  "sum without after the argument",
			query: `sum(increase(fly_instance_net_recv_bytes[10m])) without (instance, device)`,
			want:  []string{`{app="web"} 11450`},
		},
		{
			name:  "without drops __name__ too",
			query: `sum without (instance) (fly_app_concurrency)`,
			want:  []string{`{app="web"} 8`},
		},
		{
			name:  "sum without grouping",
			query: `sum(fly_app_concurrency)`,
			want:  []string{`{} 8`},
		},
		{
			name: "sum by a label some series lack",
			query: `sum by (device) ({__name__=~"fly_app_concurrency|fly_instance_net_sent_bytes",
				instance="i1"})`,
			want: []string{`{} 3`, `{device="eth0"} 10000`},
		},
		{
			name:  "max",
			query: `max by (app) (fly_app_concurrency)`,
			want:  []string{`{app="web"} 5`},
		},
		{
			name:  "min",
			query: `min(fly_app_concurrency) by (app)`,
			want:  []string{`{app="web"} 3`},
		},
		{
			name:  "avg",
			query: `avg(fly_app_concurrency)`,
			want:  []string{`{} 4`},
		},
		{
			name:  "count",
			query: `count by (app) (fly_instance_net_recv_bytes)`,
			want:  []string{`{app="web"} 4`},
		},
		{
			name: "nested aggregation over increase",
			query: `sum by (app, instance) (increase(
				fly_instance_net_recv_bytes{app=~"we.*",device="eth0"}[10m]))`,
			want: []string{
				`{app="web", instance="i1"} 10000`,
				`{app="web", instance="i2"} 500`,
				`{app="web", instance="i3"} 950`,
			},
		},
		{
			name:  "aggregation of an aggregation",
			query: `max(sum by (instance) (rate(fly_instance_net_recv_bytes[10m])))`,
			want:  []string{`{} 16.666666666666668`},
		},
		{
			name:  "vector times scalar drops __name__",
			query: `fly_app_concurrency * 2`,
			want:  []string{`{app="web", instance="i1"} 6`, `{app="web", instance="i2"} 10`},
		},
		{
			name:  "scalar minus vector",
			query: `10 - fly_app_concurrency{instance="i1"}`,
			want:  []string{`{app="web", instance="i1"} 7`},
		},
		{
			name:  "precedence of * over -",
			query: `fly_app_concurrency{instance="i1"} - 1 * 2`,
			want:  []string{`{app="web", instance="i1"} 1`},
		},
		{
			name:  "parentheses",
			query: `(fly_app_concurrency{instance="i1"} - 1) * 2`,
			want:  []string{`{app="web", instance="i1"} 4`},
		},
		{
			name:  "unary minus",
			query: `-fly_app_concurrency{instance="i1"}`,
			want:  []string{`{app="web", instance="i1"} -3`},
		},
		{
			name: "vector plus vector matches one-to-one",
			query: `increase(fly_instance_net_recv_bytes[10m])
				+ increase(fly_instance_net_sent_bytes[10m])`,
			want: []string{`{app="web", device="eth0", instance="i1"} 15000`},
		},
		{
			name:  "vector divided by vector ignores __name__",
			query: `fly_instance_net_recv_bytes / fly_instance_net_sent_bytes`,
			want:  []string{`{app="web", device="eth0", instance="i1"} 2`},
		},
		{
			name:  "scalar arithmetic",
			query: `1 + 2 * 3 - -1`,
			want:  []string{"scalar 8"},
		},
		{
			name:  "division by zero is +Inf",
			query: `fly_app_concurrency{instance="i1"} / 0`,
			want:  []string{`{app="web", instance="i1"} +Inf`},
		},
		{
			name:  "bare range selector returns raw samples",
			query: `fly_app_concurrency{instance="i1"}[2m]`,
			want:  []string{`fly_app_concurrency{app="web", instance="i1"} 3@1140 3@1200`},
		},
		{
			name:  "max_over_time sees samples older than the lookback",
			query: `max_over_time(fly_app_concurrency[30m])`,
			want: []string{
				`{app="api", instance="i4"} 2`,
				`{app="web", instance="i1"} 3`,
				`{app="web", instance="i2"} 5`,
			},
		},
		{
			name: "count_over_time and avg_over_time",
			query: `count_over_time(fly_app_concurrency{instance="i1"}[10m])
				+ avg_over_time(fly_app_concurrency{instance="i1"}[10m])`,
			want: []string{`{app="web", instance="i1"} 13`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			at := tt.at
			if at.IsZero() {
				at = minute(20)
			}

			got, err := s.Query(tt.query, at)
			if err != nil {
				t.Fatalf("Query(%q): %v", tt.query, err)
			}
			if lines := format(t, got); !slices.Equal(lines, tt.want) {
				t.Errorf("Query(%q)\n got %q\nwant %q", tt.query, lines, tt.want)
			}
		})
	}
}

func TestStore_Query_vectorShape(t *testing.T) {
	t.Parallel()
	s := newFixture(t)
	at := minute(20).Add(123 * time.Millisecond)

	got, err := s.Query(`fly_instance_net_recv_bytes`, at)
	if err != nil {
		t.Fatal(err)
	}
	vec, ok := got.(model.Vector)
	if !ok {
		t.Fatalf("Query returned %T, want model.Vector", got)
	}
	if len(vec) != 4 {
		t.Fatalf("got %d samples, want 4: %v", len(vec), vec)
	}
	if !sort.IsSorted(vec) {
		t.Errorf("result is not sorted as model.Vector sorts: %v", vec)
	}
	for _, smp := range vec {
		if want := model.Time(at.UnixMilli()); smp.Timestamp != want {
			t.Errorf("sample %v stamped %v, want the evaluation time %v",
				smp.Metric, smp.Timestamp, want)
		}
	}
}

func TestStore_Query_executionErrors(t *testing.T) {
	t.Parallel()
	s := newFixture(t)

	tests := []struct {
		name    string
		query   string
		wantMsg string
	}{
		{
			name:    "function over several metrics with the same labels",
			query:   `rate({__name__=~"fly_instance_net_.*",instance="i1",device="eth0"}[5m])`,
			wantMsg: "vector cannot contain metrics with the same labelset",
		},
		{
			name:    "arithmetic over several metrics with the same labels",
			query:   `{__name__=~"fly_instance_net_.*_bytes",instance="i1",device="eth0"} * 2`,
			wantMsg: "vector cannot contain metrics with the same labelset",
		},
		{
			name: "duplicate match group on the right",
			query: `sum by (app) (fly_app_concurrency) + ` +
				`{__name__=~"fly_instance_net_.*_bytes",instance="i1",device="eth0"}`,
			wantMsg: "duplicate series for the match group " +
				`{app="web", device="eth0", instance="i1"} on the right hand-side`,
		},
		{
			name: "duplicate match group on the left",
			query: `{__name__=~"fly_instance_net_.*_bytes",instance="i1",device="eth0"} + ` +
				`sum by (app, device, instance) (fly_instance_net_recv_bytes)`,
			wantMsg: "duplicate series for the match group " +
				`{app="web", device="eth0", instance="i1"} on the left hand-side`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := s.Query(tt.query, minute(20))
			var execErr *ExecutionError
			if !errors.As(err, &execErr) {
				t.Fatalf("Query(%q) = %v, %v; want *ExecutionError", tt.query, got, err)
			}
			if !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("error %q does not mention %q", err, tt.wantMsg)
			}
		})
	}
}
