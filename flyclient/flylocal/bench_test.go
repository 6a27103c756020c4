package flylocal_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/longrun/sandstorm/flyclient"
	"github.com/longrun/sandstorm/flyclient/flylocal"
)

// benchFixture is a flylocal server with Latency 0, an app and one machine,
// and a keep-alive HTTP client for it.
type benchFixture struct {
	ts   *httptest.Server
	hc   *http.Client
	m    *flyclient.Machine
	url  string // GET machine URL
	auth string // Authorization header value
}

// newBenchFixture starts the server and creates the machine, launched only
// when launch is set.
func newBenchFixture(b *testing.B, launch bool) *benchFixture {
	b.Helper()
	ts := httptest.NewServer(newServer(b, flylocal.Options{StateDir: b.TempDir()}))
	b.Cleanup(ts.Close)
	// Enough idle connections that parallel benchmarks reuse theirs.
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 256
	hc := &http.Client{Transport: tr}
	b.Cleanup(tr.CloseIdleConnections)

	f := &benchFixture{
		ts:   ts,
		hc:   hc,
		auth: flyclient.AuthorizationHeader(contractToken),
	}
	client := f.client()
	ctx := b.Context()
	if _, err := client.CreateApp(ctx,
		flyclient.CreateAppRequest{Name: contractApp, OrgSlug: contractOrg}); err != nil {
		b.Fatalf("CreateApp: %v", err)
	}
	m, err := client.CreateMachine(ctx, contractApp, flyclient.CreateMachineRequest{
		Name:       "bench",
		SkipLaunch: !launch,
		Config:     flyclient.MachineConfig{Image: contractImage},
	})
	if err != nil {
		b.Fatalf("CreateMachine: %v", err)
	}
	if launch {
		_, err := client.WaitMachine(ctx, contractApp, m.ID, flyclient.WaitOptions{
			Timeout: waitLimit,
		})
		if err != nil {
			b.Fatalf("WaitMachine: %v", err)
		}
	}

	f.m = m
	f.url = fmt.Sprintf("%s/v1/apps/%s/machines/%s", ts.URL, contractApp, m.ID)

	return f
}

// client returns a flyclient for the fixture's server over its HTTP client.
// Pacing is off: it is a deliberate wait to stay inside Fly's rate limits,
// not overhead, and flylocal enforces no limits here.
func (f *benchFixture) client() *flyclient.Client {
	return flyclient.New(contractToken, append(clientOptions(f.ts.URL),
		flyclient.WithHTTPClient(f.hc), flyclient.WithoutPacing())...)
}

// get sends GET machine as a bare client would and decodes the answer into
// out, or discards it when out is nil.
func (f *benchFixture) get(out *flyclient.Machine) error {
	req, err := http.NewRequest(http.MethodGet, f.url, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", f.auth)
	resp, err := f.hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET machine: status %d", resp.StatusCode)
	}
	if out == nil {
		_, err = io.Copy(io.Discard, resp.Body)

		return err
	}

	return json.NewDecoder(resp.Body).Decode(out)
}

// reportRate reports requests per second, one request per iteration.
func reportRate(b *testing.B) {
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
}

// BenchmarkFlylocal_GetMachine measures flylocal serving GET machine to a
// keep-alive net/http client, with no added latency.
func BenchmarkFlylocal_GetMachine(b *testing.B) {
	f := newBenchFixture(b, false)

	b.Run("serial", func(b *testing.B) {
		for b.Loop() {
			if err := f.get(nil); err != nil {
				b.Fatal(err)
			}
		}
		reportRate(b)
	})
	b.Run("parallel", func(b *testing.B) {
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if err := f.get(nil); err != nil {
					b.Error(err)

					return
				}
			}
		})
		reportRate(b)
	})
}

// BenchmarkClientOverhead compares a bare GET machine, decoded into a
// flyclient.Machine, with client.GetMachine over the same connection pool.
func BenchmarkClientOverhead(b *testing.B) {
	f := newBenchFixture(b, false)
	client := f.client()

	b.Run("bare", func(b *testing.B) {
		for b.Loop() {
			var m flyclient.Machine
			if err := f.get(&m); err != nil {
				b.Fatal(err)
			}
		}
		reportRate(b)
	})
	b.Run("flyclient", func(b *testing.B) {
		for b.Loop() {
			if _, err := client.GetMachine(b.Context(), contractApp, f.m.ID); err != nil {
				b.Fatal(err)
			}
		}
		reportRate(b)
	})
}

// BenchmarkClientOverheadMedian alternates bare and client GET machine calls
// in one loop, so that both see the same machine load, and reports the
// median of each and their ratio. The target is a ratio of at most 1.20; it is
// reported here, not asserted.
func BenchmarkClientOverheadMedian(b *testing.B) {
	f := newBenchFixture(b, false)
	client := f.client()
	var bare, viaClient []time.Duration
	getBare := func() error {
		var m flyclient.Machine

		return f.get(&m)
	}
	getClient := func() error {
		_, err := client.GetMachine(b.Context(), contractApp, f.m.ID)

		return err
	}
	// timed runs get and records how long it took in *into.
	timed := func(get func() error, into *[]time.Duration) {
		start := time.Now()
		if err := get(); err != nil {
			b.Fatal(err)
		}
		*into = append(*into, time.Since(start))
	}

	// Each pair swaps which goes first, so neither always follows the other.
	for i := 0; b.Loop(); i++ {
		if i%2 == 0 {
			timed(getBare, &bare)
			timed(getClient, &viaClient)
		} else {
			timed(getClient, &viaClient)
			timed(getBare, &bare)
		}
	}

	bareMedian, clientMedian := median(bare), median(viaClient)
	b.ReportMetric(float64(bareMedian.Nanoseconds()), "bare-median-ns")
	b.ReportMetric(float64(clientMedian.Nanoseconds()), "client-median-ns")
	b.ReportMetric(float64(clientMedian)/float64(bareMedian), "client/bare-median")
}

// median returns the middle value of ds, which it sorts.
func median(ds []time.Duration) time.Duration {
	slices.Sort(ds)

	return ds[len(ds)/2]
}

// BenchmarkExecRoundTrip measures client.Exec of `true` on a started
// machine: the HTTP call, entering the machine's namespaces and the answer.
func BenchmarkExecRoundTrip(b *testing.B) {
	requireMachines(b)
	f := newBenchFixture(b, true)
	client := f.client()
	req := flyclient.ExecRequest{Command: []string{"true"}}

	for b.Loop() {
		res, err := client.Exec(b.Context(), contractApp, f.m.ID, req)
		if err != nil {
			b.Fatal(err)
		}
		if res.ExitCode != 0 {
			b.Fatalf("true exited %d: %s", res.ExitCode, res.Stderr)
		}
	}
	b.ReportMetric(b.Elapsed().Seconds()*1000/float64(b.N), "ms/op")
}
