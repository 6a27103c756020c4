package flylocal_test

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/longrun/sandstorm/flyclient"
	"github.com/longrun/sandstorm/flyclient/flylocal"
	"github.com/prometheus/common/model"
)

// scrapeInterval is the metrics period of the Prometheus contract test.
const scrapeInterval = 100 * time.Millisecond

// pollQuery runs query until accept takes its answer, or fails the test.
func (c *contract) pollQuery(t *testing.T, query string, accept func(model.Value) bool) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	var last model.Value
	for time.Now().Before(deadline) {
		v, err := c.client.Query(t.Context(), contractOrg, query, time.Time{})
		if err != nil {
			t.Fatalf("Query %s: %v", query, err)
		}
		if accept(v) {
			return
		}
		last = v
		time.Sleep(scrapeInterval)
	}
	t.Fatalf("Query %s: last answer %v", query, last)
}

// sampleOf returns the value of the vector sample whose instance is id.
func sampleOf(v model.Value, id string) (float64, bool) {
	vec, ok := v.(model.Vector)
	if !ok {
		return 0, false
	}
	for _, s := range vec {
		if string(s.Metric["instance"]) == id {
			return float64(s.Value), true
		}
	}

	return 0, false
}

func TestContract_Prometheus(t *testing.T) {
	t.Parallel()
	requireMachines(t)
	c := newContract(t, flylocal.Options{ScrapeInterval: scrapeInterval})
	ctx := t.Context()
	c.createApp(t, contractApp)
	m := c.startMachine(t, contractApp, flyclient.CreateMachineRequest{})

	// A sample from before any traffic gives increase() its starting point.
	c.pollQuery(t, fmt.Sprintf(`fly_instance_up{app=%q}`, contractApp), func(v model.Value) bool {
		up, ok := sampleOf(v, m.ID)

		return ok && up == 1
	})
	const outBytes = 4096
	fill := fmt.Sprintf("head -c %d /dev/zero | tr '\\0' x", outBytes)
	out := c.exec(t, contractApp, m.ID, "sh", "-c", fill)
	if len(out) != outBytes {
		t.Fatalf("exec wrote %d bytes, want %d", len(out), outBytes)
	}

	sent := fmt.Sprintf(
		`sum by (instance) (increase(fly_instance_net_sent_bytes{app=%q,device="eth0"}[1m]))`,
		contractApp)
	c.pollQuery(t, sent, func(v model.Value) bool {
		n, ok := sampleOf(v, m.ID)

		return ok && n > 0
	})

	now := time.Now()
	v, err := c.client.QueryRange(ctx, contractOrg,
		fmt.Sprintf(`fly_instance_net_sent_bytes{app=%q,device="eth0"}`, contractApp),
		flyclient.Range{Start: now.Add(-time.Minute), End: now, Step: time.Second})
	if err != nil {
		t.Fatalf("QueryRange: %v", err)
	}
	matrix, ok := v.(model.Matrix)
	if !ok || len(matrix) != 1 || len(matrix[0].Values) == 0 {
		t.Fatalf("QueryRange answered %T %v, want one series", v, v)
	}
	series := matrix[0]
	if string(series.Metric["instance"]) != m.ID || string(series.Metric["region"]) != "lcl" {
		t.Errorf("series labels %v", series.Metric)
	}
	if last := series.Values[len(series.Values)-1].Value; last < outBytes {
		t.Errorf("last sent-bytes sample %v, want at least %d", last, outBytes)
	}

	_, err = c.client.Query(ctx, contractOrg, "sum by (", time.Time{})
	if err == nil {
		t.Fatalf("a malformed query succeeded")
	}
	if ae := apiError(t, err); ae.StatusCode != http.StatusBadRequest || ae.Code != "bad_data" {
		t.Errorf("malformed query: status %d code %q, want 400 bad_data", ae.StatusCode, ae.Code)
	}
}
