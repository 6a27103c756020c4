package metrics

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"
)

func TestStore_QueryRange(t *testing.T) {
	t.Parallel()
	s := newFixture(t)

	tests := []struct {
		name       string
		query      string
		start, end time.Time
		step       time.Duration
		want       []string
	}{
		{
			name:  "series absent at early steps has no points there",
			query: `increase(fly_instance_net_recv_bytes{instance="i2"}[10m])`,
			start: minute(10), end: minute(20), step: 5 * time.Minute,
			want: []string{`{app="web", device="eth0", instance="i2"} 0@900 500@1200`},
		},
		{
			name:  "points sit at start plus multiples of step",
			query: `fly_app_concurrency{instance="i1"}`,
			start: minute(10).Add(7 * time.Second), end: minute(20), step: 4 * time.Minute,
			want: []string{`fly_app_concurrency{app="web", instance="i1"} 3@607 3@847 3@1087`},
		},
		{
			name:  "stale series drop out after the lookback",
			query: `sum by (app) (fly_app_concurrency)`,
			start: minute(0), end: minute(20), step: 5 * time.Minute,
			want: []string{
				`{app="api"} 2@0 2@300`,
				`{app="web"} 8@0 8@300 8@600 8@900 8@1200`,
			},
		},
		{
			name:  "scalar gives one unlabelled stream",
			query: `2 * 3`,
			start: minute(0), end: minute(2), step: time.Minute,
			want: []string{`{} 6@0 6@60 6@120`},
		},
		{
			name:  "start equal to end gives one point",
			query: `sum(fly_app_concurrency)`,
			start: minute(3), end: minute(3), step: time.Minute,
			want: []string{`{} 10@180`},
		},
		{
			name:  "nothing matches",
			query: `nope`,
			start: minute(0), end: minute(20), step: time.Minute,
			want: []string{},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := s.QueryRange(tt.query, tt.start, tt.end, tt.step)
			if err != nil {
				t.Fatalf("QueryRange(%q): %v", tt.query, err)
			}
			if _, ok := got.(model.Matrix); !ok {
				t.Fatalf("QueryRange returned %T, want model.Matrix", got)
			}
			if lines := format(t, got); !slices.Equal(lines, tt.want) {
				t.Errorf("QueryRange(%q)\n got %q\nwant %q", tt.query, lines, tt.want)
			}
		})
	}
}

func TestStore_QueryRange_errors(t *testing.T) {
	t.Parallel()
	s := newFixture(t)

	tests := []struct {
		name       string
		query      string
		start, end time.Time
		step       time.Duration
		wantErr    string
	}{
		{
			name:  "zero step",
			query: conc, start: minute(0), end: minute(1), step: 0,
			wantErr: "zero or negative query resolution step widths are not accepted",
		},
		{
			name:  "sub-millisecond step",
			query: conc, start: minute(0), end: minute(1), step: time.Microsecond,
			wantErr: "zero or negative query resolution step widths are not accepted",
		},
		{
			name:  "end before start",
			query: conc, start: minute(1), end: minute(0), step: time.Minute,
			wantErr: "end timestamp must not be before start time",
		},
		{
			name:  "too many points",
			query: conc, start: minute(0), end: minute(0).Add(24 * time.Hour), step: time.Second,
			wantErr: "exceeded maximum resolution of 11,000 points per timeseries",
		},
		{
			name:  "range vector",
			query: conc + "[5m]", start: minute(0), end: minute(1), step: time.Minute,
			wantErr: `invalid expression type "range vector" for range query`,
		},
		{
			name:  "parse error",
			query: "topk(1, x)", start: minute(0), end: minute(1), step: time.Minute,
			wantErr: "aggregation topk is not supported",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := s.QueryRange(tt.query, tt.start, tt.end, tt.step)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("QueryRange(%q) error = %v, want one containing %q",
					tt.query, err, tt.wantErr)
			}
		})
	}
}
