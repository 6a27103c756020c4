package flylocal_test

import (
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/longrun/sandstorm/flyclient"
	"github.com/longrun/sandstorm/flyclient/flylocal"
)

// TestContract_Faults checks the client's retries against the failures
// flylocal injects. Every case has its own server; none runs a machine.
func TestContract_Faults(t *testing.T) {
	t.Parallel()

	t.Run("503 once on get machine is retried", func(t *testing.T) {
		t.Parallel()
		c := newContract(t, flylocal.Options{})
		c.createApp(t, contractApp)
		m := c.idleMachine(t, contractApp, "target")
		c.srv.InjectFault(flylocal.Fault{
			Route:  routeGetMachine,
			Status: http.StatusServiceUnavailable,
			Times:  1,
		})

		got, err := c.client.GetMachine(t.Context(), contractApp, m.ID)
		if err != nil || got.ID != m.ID {
			t.Fatalf("GetMachine = %+v, %v", got, err)
		}
		if n := c.count(routeGetMachine); n != 2 {
			t.Errorf("%d GET machine calls, want 2", n)
		}
	})

	t.Run("hang is cut by the request timeout and retried", func(t *testing.T) {
		t.Parallel()
		c := newContract(t, flylocal.Options{}, flyclient.WithRequestTimeout(300*time.Millisecond))
		c.createApp(t, contractApp)
		m := c.idleMachine(t, contractApp, "target")
		c.srv.InjectFault(flylocal.Fault{Route: routeGetMachine, Hang: true, Times: 1})

		start := time.Now()
		got, err := c.client.GetMachine(t.Context(), contractApp, m.ID)
		took := time.Since(start)
		if err != nil || got.ID != m.ID {
			t.Fatalf("GetMachine = %+v, %v", got, err)
		}
		if took < 300*time.Millisecond || took > 2*time.Second {
			t.Errorf("GetMachine took %v, want one 300ms attempt and a quick retry", took)
		}
		if n := c.count(routeGetMachine); n != 2 {
			t.Errorf("%d GET machine calls, want 2", n)
		}
	})

	t.Run("reset before create: lookup finds nothing, create sent again", func(t *testing.T) {
		t.Parallel()
		c := newContract(t, flylocal.Options{})
		c.createApp(t, contractApp)
		c.srv.InjectFault(flylocal.Fault{Route: routeCreateMachine, Reset: true, Times: 1})

		m := c.idleMachine(t, contractApp, "once")
		list, err := c.client.ListMachines(t.Context(), contractApp,
			flyclient.ListMachinesOptions{})
		if err != nil {
			t.Fatalf("ListMachines: %v", err)
		}
		if len(list) != 1 || list[0].ID != m.ID || list[0].Name != "once" {
			t.Errorf("ListMachines = %v, want only once (%s)", machineNames(list), m.ID)
		}
		// The reset came before flylocal's handler, so the client's lookup
		// (the first list) found nothing and it posted again.
		counts := c.srv.RequestCounts()
		if counts[routeCreateMachine] != 2 || counts[routeListMachines] != 2 {
			t.Errorf("%d creates and %d lists, want 2 and 2",
				counts[routeCreateMachine], counts[routeListMachines])
		}
	})
}

// TestContract_RateLimits runs a burst of GET machine calls, past Fly's
// budget of 10 at once and 5 a second, against flylocal's rate limits.
func TestContract_RateLimits(t *testing.T) {
	t.Parallel()
	const burst, calls = 10, 15

	// setup returns a contract whose rate limits start now, with full buckets,
	// and the machine to read.
	setup := func(t *testing.T, copts ...flyclient.Option) (*contract, *flyclient.Machine) {
		t.Helper()
		c := newContract(t, flylocal.Options{}, copts...)
		c.createApp(t, contractApp)
		m := c.idleMachine(t, contractApp, "hot")
		c.srv.SetRateLimits(true)
		c.srv.ResetCounts()

		return c, m
	}

	t.Run("retries honour Retry-After", func(t *testing.T) {
		t.Parallel()
		c, m := setup(t)

		start := time.Now()
		for i := range calls {
			if _, err := c.client.GetMachine(t.Context(), contractApp, m.ID); err != nil {
				t.Fatalf("call %d: %v", i+1, err)
			}
		}
		took := time.Since(start)

		// Past the burst, flylocal answered 429 with Retry-After: 1, and the
		// client waited that long before it tried again.
		if n := c.count(routeGetMachine); n <= calls {
			t.Errorf("%d GET machine calls for %d reads, want some 429s retried", n, calls)
		}
		if took < time.Second {
			t.Errorf("%d reads took %v, want at least the 1s Retry-After", calls, took)
		}
	})

	t.Run("without retries the 429 surfaces", func(t *testing.T) {
		t.Parallel()
		c, m := setup(t, flyclient.WithRetries(0))

		start := time.Now()
		var err error
		n := 0
		for ; n < 3*calls && err == nil; n++ {
			_, err = c.client.GetMachine(t.Context(), contractApp, m.ID)
		}
		took := time.Since(start)

		if !errors.Is(err, flyclient.ErrRateLimited) {
			t.Fatalf("after %d calls: %v, want ErrRateLimited", n, err)
		}
		if ae := apiError(t, err); ae.StatusCode != http.StatusTooManyRequests {
			t.Errorf("status %d, want 429", ae.StatusCode)
		}
		// The burst is honoured exactly, plus one call per 200ms refill.
		if refills := int(took / (200 * time.Millisecond)); n < burst+1 || n > burst+1+refills {
			t.Errorf("first 429 on call %d after %v, want call %d", n, took, burst+1)
		}
	})

	t.Run("paced client stays under the limits", func(t *testing.T) {
		t.Parallel()
		c, m := setup(t)
		paced := flyclient.New(contractToken, clientOptions(c.ts.URL)...)

		start := time.Now()
		for i := range calls {
			if _, err := paced.GetMachine(t.Context(), contractApp, m.ID); err != nil {
				t.Fatalf("call %d: %v", i+1, err)
			}
		}
		took := time.Since(start)

		if n := c.count(routeGetMachine); n != calls {
			t.Errorf("%d GET machine calls for %d reads, want no 429", n, calls)
		}
		// Five calls past the burst at five a second.
		if took < 900*time.Millisecond {
			t.Errorf("%d paced reads took %v, want about 1s", calls, took)
		}
	})
}
