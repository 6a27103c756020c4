package metrics

import (
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/common/model"
)

// benchStore holds 1000 machines of 10 apps, each with an eth0 and a dummy0
// counter sampled every 15 s for an hour: 2000 series, 480,000 samples.
func benchStore(b *testing.B) (*Store, time.Time) {
	b.Helper()
	s := NewStore(15 * 24 * time.Hour)
	end := t0.Add(time.Hour)
	for i := range 1000 {
		for _, dev := range []string{"eth0", "dummy0"} {
			lbls := map[string]string{
				"app":      fmt.Sprintf("p-%d", i%10),
				"instance": fmt.Sprintf("%014x", i),
				"region":   "ord",
				"host":     fmt.Sprintf("%04x", i%97),
				"device":   dev,
			}
			for k := range 240 {
				s.Add("m", lbls, t0.Add(time.Duration(k)*15*time.Second), float64(k*1000+i))
			}
		}
	}

	return s, end
}

const benchQuery = `sum by (instance) (increase(m{app=~"p-.*",device="eth0"}[10m]))`

func BenchmarkStore_Query(b *testing.B) {
	s, end := benchStore(b)
	b.ReportAllocs()
	b.ResetTimer()

	for b.Loop() {
		v, err := s.Query(benchQuery, end)
		if err != nil {
			b.Fatal(err)
		}
		if n := len(v.(model.Vector)); n != 1000 {
			b.Fatalf("got %d series, want 1000", n)
		}
	}
}

func BenchmarkStore_QueryRange(b *testing.B) {
	s, end := benchStore(b)
	b.ReportAllocs()
	b.ResetTimer()

	for b.Loop() {
		// 31 steps over the last half hour.
		v, err := s.QueryRange(benchQuery, end.Add(-30*time.Minute), end, time.Minute)
		if err != nil {
			b.Fatal(err)
		}
		if n := len(v.(model.Matrix)); n != 1000 {
			b.Fatalf("got %d series, want 1000", n)
		}
	}
}

func BenchmarkStore_Add(b *testing.B) {
	s := NewStore(time.Hour)
	lbls := make([]map[string]string, 1000)
	for i := range lbls {
		lbls[i] = map[string]string{
			"app": "p-1", "instance": fmt.Sprintf("%014x", i), "device": "eth0",
		}
	}
	b.ReportAllocs()
	b.ResetTimer()

	k := 0
	for b.Loop() {
		s.Add("m", lbls[k%1000], t0.Add(time.Duration(k/1000)*15*time.Second), float64(k))
		k++
	}
}
