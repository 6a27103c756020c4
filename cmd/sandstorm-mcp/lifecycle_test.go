package main

import (
	"encoding/json"
	"testing"
	"time"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/longrun/sandstorm"
	"github.com/longrun/sandstorm/flyclient/flylocal"
	"github.com/longrun/sandstorm/internal/clock"
)

// quiet moves the clock to start plus minutes and writes flat network
// counters for the machine over the 40 minutes before.
func (p *inProcess) quiet(clock *clock.Manual, start time.Time, minutes time.Duration,
	app, machineID string,
) {
	now := start.Add(minutes * time.Minute)
	clock.Set(now)
	for at := now.Add(-40 * time.Minute); !at.After(now); at = at.Add(time.Minute) {
		p.fly.AddNetworkSample(app, machineID, at, 0, 0)
	}
}

// TestLifecycle_SubscribedClientHearsPolicy: a client subscribed to a
// sandbox's status receives the policy's warning and then its pause as log
// messages, each with the status change as a resource update.
func TestLifecycle_SubscribedClientHearsPolicy(t *testing.T) {
	t.Parallel()
	clock := clock.NewManual(time.Now().UTC().Add(3 * time.Hour).Truncate(time.Minute))
	p := startInProcessWith(t, legacyProtocol, flylocal.Options{ScrapeInterval: time.Hour},
		sandstorm.Config{Now: clock.Now})
	start := clock.Now()
	var sb struct {
		App       string `json:"app"`
		MachineID string `json:"machine_id"`
	}
	p.ok("sandbox_create", map[string]any{"name": "quiet", "memory_mb": 256, "cpus": 1}, &sb)
	err := p.cs.SetLoggingLevel(t.Context(), &sdk.SetLoggingLevelParams{Level: "info"})
	if err != nil {
		t.Fatal(err)
	}
	uri := "sandbox://quiet/status"
	if err := p.cs.Subscribe(t.Context(), &sdk.SubscribeParams{URI: uri}); err != nil {
		t.Fatal(err)
	}

	p.quiet(clock, start, 31, sb.App, sb.MachineID)
	p.ok("lifecycle_check", map[string]any{}, nil)
	p.drain()
	p.quiet(clock, start, 41, sb.App, sb.MachineID)
	var r struct {
		Warned []struct{ Sandbox string } `json:"warned"`
	}
	p.ok("lifecycle_check", map[string]any{}, &r)
	if len(r.Warned) != 1 || r.Warned[0].Sandbox != "quiet" {
		t.Fatalf("check warned %+v, want quiet", r.Warned)
	}

	p.expectNotice(uri, "warn", "warned")

	p.quiet(clock, start, 51, sb.App, sb.MachineID)
	var paused struct {
		Paused []struct{ Sandbox string } `json:"paused"`
	}
	p.ok("lifecycle_check", map[string]any{}, &paused)
	if len(paused.Paused) != 1 {
		t.Fatalf("check paused %+v, want quiet", paused.Paused)
	}
	p.expectNotice(uri, "pause", "paused")
}

// expectNotice waits for the policy's log message about action on the sandbox
// quiet and for an update of its status resource uri, which must then show
// phase.
func (p *inProcess) expectNotice(uri, action, phase string) {
	t := p.t
	t.Helper()
	select {
	case msg := <-p.logs:
		var data struct {
			Sandbox, Action, Message string
		}
		raw, _ := json.Marshal(msg.Data)
		if err := json.Unmarshal(raw, &data); err != nil {
			t.Fatal(err)
		}
		if msg.Level != "warning" || data.Sandbox != "quiet" || data.Action != action ||
			data.Message == "" {
			t.Errorf("log message = %s %s, want a warning of %s for quiet", msg.Level, raw,
				action)
		}
	case <-time.After(2 * time.Second):
		t.Fatalf("no log message for the %s within 2s", action)
	}
	if _, ok := p.waitUpdated(uri, time.Now().Add(2*time.Second)); !ok {
		t.Fatalf("no resources/updated for the status within 2s of the %s", action)
	}
	var status struct {
		Lifecycle struct {
			Phase string `json:"phase"`
		} `json:"lifecycle"`
	}
	if err := json.Unmarshal([]byte(p.read(uri).Text), &status); err != nil {
		t.Fatal(err)
	}
	if status.Lifecycle.Phase != phase {
		t.Errorf("status resource phase = %q, want %s", status.Lifecycle.Phase, phase)
	}
	p.drain()
}
