package flyclient

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"
)

func TestClient_Leases(t *testing.T) {
	t.Parallel()
	checkLease := func(l *MachineLease, err error) error {
		if err == nil && (l.Nonce != "5c35f65c9f95" || l.ExpiresAt != 1708569778 ||
			l.Version != "01HQ73A7BFFDF1B6WMGHFZZ4E7" || l.Owner != "hello@fly.io") {
			err = fmt.Errorf("decoded %+v", l)
		}

		return err
	}
	tests := []struct {
		name    string
		reply   reply
		call    func(ctx context.Context, c *Client) error
		want    wantRequest
		wantErr error
	}{
		{
			name:  "acquire",
			reply: reply{status: 201, fixture: "lease.json"},
			call: func(ctx context.Context, c *Client) error {
				return checkLease(c.AcquireLease(ctx, testApp, testMachine, 2*time.Minute,
					"sandstorm resume"))
			},
			want: wantRequest{method: "POST", path: machineURL + "/lease",
				body: `{"ttl":120,"description":"sandstorm resume"}`},
		},
		{
			name:  "acquire rounds ttl up",
			reply: reply{status: 201, fixture: "lease.json"},
			call: func(ctx context.Context, c *Client) error {
				_, err := c.AcquireLease(ctx, testApp, testMachine, 1500*time.Millisecond, "")

				return err
			},
			want: wantRequest{method: "POST", path: machineURL + "/lease", body: `{"ttl":2}`},
		},
		{
			name:  "acquire held by another",
			reply: reply{status: 409, fixture: "error_lease_held.json"},
			call: func(ctx context.Context, c *Client) error {
				_, err := c.AcquireLease(ctx, testApp, testMachine, time.Minute, "x")

				return err
			},
			want: wantRequest{method: "POST", path: machineURL + "/lease",
				body: `{"ttl":60,"description":"x"}`},
			wantErr: ErrConflict,
		},
		{
			name:  "refresh",
			reply: reply{status: 201, fixture: "lease.json"},
			call: func(ctx context.Context, c *Client) error {
				return checkLease(c.RefreshLease(ctx, testApp, testMachine, "5c35f65c9f95",
					time.Minute))
			},
			want: wantRequest{method: "POST", path: machineURL + "/lease", nonce: "5c35f65c9f95",
				body: `{"ttl":60}`},
		},
		{
			name:  "get",
			reply: reply{fixture: "lease.json"},
			call: func(ctx context.Context, c *Client) error {
				return checkLease(c.GetLease(ctx, testApp, testMachine))
			},
			want: wantRequest{method: "GET", path: machineURL + "/lease"},
		},
		{
			name:  "get none",
			reply: reply{status: 404, body: `{"error":"lease not found"}`},
			call: func(ctx context.Context, c *Client) error {
				_, err := c.GetLease(ctx, testApp, testMachine)

				return err
			},
			want:    wantRequest{method: "GET", path: machineURL + "/lease"},
			wantErr: ErrNotFound,
		},
		{
			name:  "release",
			reply: reply{fixture: "lease_released.json"},
			call: func(ctx context.Context, c *Client) error {
				return c.ReleaseLease(ctx, testApp, testMachine, "5c35f65c9f95")
			},
			want: wantRequest{method: "DELETE", path: machineURL + "/lease", nonce: "5c35f65c9f95"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f, c := newFake(t, always(tt.reply))

			err := tt.call(t.Context(), c)

			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if n := len(f.requests()); n != 1 {
				t.Errorf("requests = %d, want 1", n)
			}
			tt.want.check(t, f.last())
		})
	}
}

// A second acquire after one that may have landed would conflict with our
// own lease, whose nonce was lost; so only provably unsent acquires repeat.
func TestClient_AcquireLeaseRetry(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		first     reply
		wantCalls int
	}{
		{name: "429 is retried", first: reply{status: 429}, wantCalls: 2},
		{name: "500 is not", first: reply{status: 500}, wantCalls: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f, c := newFake(t, script(tt.first, reply{status: 201, fixture: "lease.json"}))

			_, _ = c.AcquireLease(t.Context(), testApp, testMachine, time.Minute, "")

			if n := len(f.requests()); n != tt.wantCalls {
				t.Errorf("requests = %d, want %d", n, tt.wantCalls)
			}
		})
	}
}

func TestClient_LeaseEmptyEnvelope(t *testing.T) {
	t.Parallel()
	_, c := newFake(t, always(reply{body: `{"status":"error","message":"lease expired"}`}))

	_, err := c.GetLease(t.Context(), testApp, testMachine)

	if err == nil {
		t.Fatal("no error for an envelope without data")
	}
}

func TestClient_ReleaseLeaseGoneOnRetry(t *testing.T) {
	t.Parallel()
	gone := reply{status: 404, body: `{"error":"lease not found"}`}
	f, c := newFake(t, script(reply{reset: true}, gone))

	if err := c.ReleaseLease(t.Context(), testApp, testMachine, "n"); err != nil {
		t.Errorf("err = %v, want success", err)
	}
	if n := len(f.requests()); n != 2 {
		t.Errorf("requests = %d, want 2", n)
	}
}
