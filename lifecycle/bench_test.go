package lifecycle_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/longrun/sandstorm/lifecycle"
	"github.com/prometheus/common/model"
)

// BenchmarkDetector_FindIdle judges 1000 running sandboxes through flylocal's
// Prometheus over HTTP: 900 with 41 minutes of samples (half idle, half
// active) and 100 with none. It reports Prometheus requests per call, which
// must stay 2 whatever the number of sandboxes.
func BenchmarkDetector_FindIdle(b *testing.B) {
	const n = 1000
	env := newPromEnv(b)
	sandboxes := make([]lifecycle.Sandbox, 0, n)
	for i := range n {
		name, id := fmt.Sprintf("s%04d", i), fmt.Sprintf("m%04d", i)
		sandboxes = append(sandboxes, running(name, id))
		switch {
		case i%10 == 0: // no series: unknown
		case i%2 == 0:
			env.traffic(testPrefix+name, id, "eth0", 100)
		default:
			env.traffic(testPrefix+name, id, "eth0", 5000)
		}
	}
	d := env.detector(&fakeSignals{})
	before := env.promQueries()

	b.ReportAllocs()
	for b.Loop() {
		vs, err := d.FindIdle(b.Context(), sandboxes, window, 0)
		if err != nil {
			b.Fatalf("FindIdle: %v", err)
		}
		if len(vs) != n {
			b.Fatalf("got %d verdicts, want %d", len(vs), n)
		}
	}

	queries := float64(env.promQueries()-before) / float64(b.N)
	b.ReportMetric(queries, "queries/op")
	if queries != 2 {
		b.Errorf("%.2f Prometheus requests per FindIdle, want 2", queries)
	}
}

// BenchmarkDetector_Judge is BenchmarkDetector_FindIdle without the HTTP
// round trips: the two answers are fetched from flylocal once and replayed,
// so it measures the detector's own work on 1000 sandboxes.
func BenchmarkDetector_Judge(b *testing.B) {
	const n = 1000
	env := newPromEnv(b)
	sandboxes := make([]lifecycle.Sandbox, 0, n)
	for i := range n {
		name, id := fmt.Sprintf("s%04d", i), fmt.Sprintf("m%04d", i)
		sandboxes = append(sandboxes, running(name, id))
		if i%10 != 0 {
			env.traffic(testPrefix+name, id, "eth0", float64(100+4900*(i%2)))
		}
	}
	d := env.detector(&fakeSignals{})
	if _, err := d.FindIdle(b.Context(), sandboxes, window, 0); err != nil {
		b.Fatalf("FindIdle: %v", err)
	}
	d.Metrics = replayMetrics(env.metrics)

	b.ReportAllocs()
	for b.Loop() {
		if _, err := d.FindIdle(b.Context(), sandboxes, window, 0); err != nil {
			b.Fatalf("FindIdle: %v", err)
		}
	}
}

// replayMetrics answers each query with what r recorded for it.
func replayMetrics(r *recordingMetrics) lifecycle.Metrics {
	return replay(r.answers)
}

type replay map[string]model.Value

func (r replay) Query(_ context.Context, _, q string, _ time.Time) (model.Value, error) {
	return r[q], nil
}

// TestDetector_ManySandboxes checks the verdict counts of the benchmark's
// population, so the benchmark measures the work it claims.
func TestDetector_ManySandboxes(t *testing.T) {
	t.Parallel()
	const n = 300
	env := newPromEnv(t)
	sandboxes := make([]lifecycle.Sandbox, 0, n)
	for i := range n {
		name, id := fmt.Sprintf("s%04d", i), fmt.Sprintf("m%04d", i)
		sandboxes = append(sandboxes, running(name, id))
		switch {
		case i%10 == 0:
		case i%2 == 0:
			env.traffic(testPrefix+name, id, "eth0", 100)
		default:
			env.traffic(testPrefix+name, id, "eth0", 5000)
		}
	}

	vs, err := env.detector(&fakeSignals{}).FindIdle(t.Context(), sandboxes, window, 0)
	if err != nil {
		t.Fatalf("FindIdle: %v", err)
	}

	counts := map[lifecycle.Kind]int{}
	for _, v := range vs {
		counts[v.Kind]++
	}
	want := map[lifecycle.Kind]int{lifecycle.Unknown: 30, lifecycle.Idle: 120,
		lifecycle.Active: 150}
	for k, c := range want {
		if counts[k] != c {
			t.Errorf("%d %s verdicts, want %d (all: %v)", counts[k], k, c, counts)
		}
	}
	if q := env.promQueries(); q != 2 {
		t.Errorf("%d Prometheus requests for %d sandboxes, want 2", q, n)
	}
}
