package metrics

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"
)

// t0 is the start of the fixture; queries run at minute(20).
var t0 = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

func minute(k int) time.Time { return t0.Add(time.Duration(k) * time.Minute) }

const (
	recv = "fly_instance_net_recv_bytes"
	sent = "fly_instance_net_sent_bytes"
	conc = "fly_app_concurrency"
)

// newFixture returns a store with one sample a minute from minute 0 to 20:
//
//	recv{web,i1,eth0}    1000*k            (baseline before any 10m window)
//	recv{web,i1,dummy0}  7                 (flat)
//	recv{web,i2,eth0}    500..1000         (starts at minute 15)
//	recv{web,i3,eth0}    100*k to 1400, then restarts: 50 at 15, +100/min
//	recv{api,i4,eth0}    10*k              (stops at minute 5)
//	sent{web,i1,eth0}    500*k
//	conc{web,i1} 3, conc{web,i2} 5, conc{api,i4} 2 (stops at minute 5)
func newFixture(t testing.TB) *Store {
	t.Helper()
	s := NewStore(0)
	lbl := func(app, instance, device string) map[string]string {
		m := map[string]string{"app": app, "instance": instance}
		if device != "" {
			m["device"] = device
		}

		return m
	}
	for k := range 21 {
		at, f := minute(k), float64(k)
		s.Add(recv, lbl("web", "i1", "eth0"), at, 1000*f)
		s.Add(recv, lbl("web", "i1", "dummy0"), at, 7)
		s.Add(sent, lbl("web", "i1", "eth0"), at, 500*f)
		s.Add(conc, lbl("web", "i1", ""), at, 3)
		s.Add(conc, lbl("web", "i2", ""), at, 5)
		if k < 15 {
			s.Add(recv, lbl("web", "i3", "eth0"), at, 100*f)
		} else {
			s.Add(recv, lbl("web", "i3", "eth0"), at, 50+100*(f-15))
			s.Add(recv, lbl("web", "i2", "eth0"), at, 500+100*(f-15))
		}
		if k <= 5 {
			s.Add(recv, lbl("api", "i4", "eth0"), at, 10*f)
			s.Add(conc, lbl("api", "i4", ""), at, 2)
		}
	}

	return s
}

// format renders a query result one line per element, values after the
// metric; matrix points are value@seconds-since-t0.
func format(t *testing.T, v model.Value) []string {
	t.Helper()
	out := []string{}
	switch v := v.(type) {
	case model.Vector:
		for _, s := range v {
			out = append(out, fmt.Sprintf("%s %s", s.Metric, s.Value))
		}
	case model.Matrix:
		for _, ss := range v {
			pts := make([]string, len(ss.Values))
			for i, p := range ss.Values {
				sec := p.Timestamp.Sub(model.Time(t0.UnixMilli())) / time.Second
				pts[i] = fmt.Sprintf("%s@%d", p.Value, sec)
			}
			out = append(out, fmt.Sprintf("%s %s", ss.Metric, strings.Join(pts, " ")))
		}
	case *model.Scalar:
		out = append(out, "scalar "+v.Value.String())
	default:
		t.Fatalf("unexpected result type %T", v)
	}

	return out
}
