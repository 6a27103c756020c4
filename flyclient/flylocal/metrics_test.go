package flylocal

import (
	"encoding/json"
	"net/url"
	"strconv"
	"testing"
	"time"
)

// sample is one element of a Prometheus vector result.
type sample struct {
	Metric map[string]string `json:"metric"`
	Value  [2]any            `json:"value"`
}

// querySeries runs an instant query through /prometheus/ and returns the
// vector.
func querySeries(t *testing.T, e *env, query string) []sample {
	t.Helper()
	var body struct {
		Status string `json:"status"`
		Data   struct {
			Result json.RawMessage `json:"result"`
		} `json:"data"`
	}
	e.call("GET", "/prometheus/personal/api/v1/query?query="+url.QueryEscape(query), nil, 200, &body)
	var out []sample
	if err := json.Unmarshal(body.Data.Result, &out); err != nil || body.Status != "success" {
		t.Fatalf("query %s: %v %+v", query, err, body)
	}

	return out
}

// waitSeries waits until query returns at least one sample and returns them.
func waitSeries(t *testing.T, e *env, query string) []sample {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if got := querySeries(t, e, query); len(got) > 0 {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("no series for %s", query)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// value returns a sample's value as a number.
func (s sample) value(t *testing.T) float64 {
	t.Helper()
	str, _ := s.Value[1].(string)
	v, err := strconv.ParseFloat(str, 64)
	if err != nil {
		t.Fatalf("sample value %v: %v", s.Value, err)
	}

	return v
}

func TestMetrics_Scrape(t *testing.T) {
	t.Parallel()
	requireMachines(t)
	e := newEnv(t, Options{ScrapeInterval: 50 * time.Millisecond})
	e.createApp("watched")
	m := e.createMachine("watched", nil, nil)
	e.waitState("watched", m.ID, "started")

	up := waitSeries(t, e, `fly_instance_up{app="watched"}`)
	want := map[string]string{"app": "watched", "instance": m.ID, "region": "lcl"}
	for k, v := range want {
		if up[0].Metric[k] != v {
			t.Errorf("label %s=%q, want %q", k, up[0].Metric[k], v)
		}
	}
	if len(up[0].Metric["host"]) != 4 {
		t.Errorf("host label %q", up[0].Metric["host"])
	}

	e.exec("watched", m.ID, map[string]any{
		"command": []string{"sh", "-c",
			"i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done; echo done"},
		"stdin": "some input",
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		recv := querySeries(t, e, `fly_instance_net_recv_bytes{app="watched",device="eth0"}`)
		sent := querySeries(t, e, `fly_instance_net_sent_bytes{app="watched",device="eth0"}`)
		cpu := querySeries(t, e, `fly_instance_cpu{app="watched",mode="user",cpu_id="0"}`)
		if len(recv) == 1 && len(sent) == 1 && len(cpu) == 1 && recv[0].value(t) > 10 &&
			sent[0].value(t) >= 5 && cpu[0].value(t) > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("counters did not move: recv %v sent %v cpu %v", recv, sent, cpu)
		}
		time.Sleep(50 * time.Millisecond)
	}
	rate := querySeries(t, e,
		`sum by (instance) (rate(fly_instance_net_sent_bytes{app="watched"}[5m]))`)
	if len(rate) != 1 || rate[0].Metric["instance"] != m.ID {
		t.Errorf("rate query answered %+v", rate)
	}

	// Stopped machines stop reporting; the Prometheus API needs the token too.
	e.call("POST", "/v1/apps/watched/machines/"+m.ID+"/stop", nil, 200, nil)
	e.waitState("watched", m.ID, "stopped")
	resp := e.send(request{method: "GET", path: "/prometheus/personal/api/v1/query?query=up",
		header: map[string]string{"Authorization": ""}})
	if resp.status != 401 {
		t.Errorf("query without a token: %d", resp.status)
	}
}
