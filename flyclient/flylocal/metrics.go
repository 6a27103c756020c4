package flylocal

import (
	"net/http"
	"time"
)

// The series flylocal reports for each running machine, named as on Fly.
const (
	metricUp      = "fly_instance_up"
	metricCPU     = "fly_instance_cpu"
	metricNetRecv = "fly_instance_net_recv_bytes"
	metricNetSent = "fly_instance_net_sent_bytes"
)

// cpuTick is the unit of fly_instance_cpu: centiseconds.
const cpuTick = 10 * time.Millisecond

// scrapeLoop samples every running machine each ScrapeInterval.
func (s *Server) scrapeLoop() {
	t := time.NewTicker(s.opts.ScrapeInterval)
	defer t.Stop()
	for {
		select {
		case <-s.done:
			return
		case <-t.C:
			s.scrape()
		}
	}
}

// scrape appends one sample of each of Fly's instance series for every machine
// with a running process: fly_instance_up, fly_instance_cpu (centiseconds,
// mode "user") and the eth0 byte counters fly_instance_net_recv_bytes and
// fly_instance_net_sent_bytes. Machines share the host network, so the byte
// counters count what flylocal itself carries into and out of a machine: exec
// requests and answers. Counters survive restarts of a machine within one
// server process.
func (s *Server) scrape() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	now := s.now()
	for id, rt := range s.runtimes {
		m := s.machines[id]
		if rt.proc == nil || m == nil {
			continue
		}
		instance := map[string]string{
			"app": m.AppName, "instance": m.ID, "region": m.Region, "host": s.meta.HostID,
		}
		s.metrics.Add(metricUp, instance, now, 1)
		s.metrics.Add(metricCPU, withLabels(instance, "cpu_id", "0", "mode", "user"),
			now, float64((rt.cpuBase+rt.proc.CPUTime())/cpuTick))
		eth0 := withLabels(instance, "device", "eth0")
		s.metrics.Add(metricNetRecv, eth0, now, rt.recvBytes)
		s.metrics.Add(metricNetSent, eth0, now, rt.sentBytes)
	}
}

// AddNetworkSample records machine id's eth0 byte counters at time at, recv
// received and sent sent in all, as a scrape would, for tests and benchmarks
// that set a machine's traffic themselves. A machine flylocal has gets the
// labels of its scraped series, so both make one series. Samples of a series
// must come in time order; earlier ones are dropped.
func (s *Server) AddNetworkSample(app, id string, at time.Time, recv, sent float64) {
	eth0 := map[string]string{"app": app, "instance": id, "device": "eth0"}
	s.mu.Lock()
	if m := s.machines[id]; m != nil {
		eth0["region"], eth0["host"] = m.Region, s.meta.HostID
	}
	s.mu.Unlock()
	s.metrics.Add(metricNetRecv, eth0, at, recv)
	s.metrics.Add(metricNetSent, eth0, at, sent)
}

// withLabels returns a copy of base with the given name, value pairs added.
func withLabels(base map[string]string, pairs ...string) map[string]string {
	out := make(map[string]string, len(base)+len(pairs)/2)
	for k, v := range base {
		out[k] = v
	}
	for i := 0; i+1 < len(pairs); i += 2 {
		out[pairs[i]] = pairs[i+1]
	}

	return out
}

// countBytes adds to machine id's network counters: recv is what went into
// the machine, sent what came out.
func (s *Server) countBytes(id string, recv, sent int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if rt := s.runtimes[id]; rt != nil {
		rt.recvBytes += float64(recv)
		rt.sentBytes += float64(sent)
	}
}

// dropSeries forgets every series of app, as Fly does when the app goes.
func (s *Server) dropSeries(app string) {
	s.metrics.DeleteSeries(map[string]string{"app": app})
}

// servePrometheus serves Fly's Prometheus query API,
// /prometheus/{org}/api/v1/query and query_range, from the metrics store.
func (s *Server) servePrometheus(w http.ResponseWriter, r *http.Request) error {
	s.promHandler.ServeHTTP(w, r)

	return nil
}
