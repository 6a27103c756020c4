package resources

import (
	"context"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/server"
	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/longrun/sandstorm"
)

// The server speaks stdio today; this pins that subscriptions also work over
// Streamable HTTP, in both eras, with an independent client: legacy sessions
// by id, modern listen streams through their own ephemeral sessions.
func TestSubscriptions_StreamableHTTP(t *testing.T) {
	for _, era := range []struct{ name, version string }{
		{"legacy", "2025-11-25"}, {"modern", ""},
	} {
		t.Run(era.name, func(t *testing.T) {
			m := newFakeManager("a")
			h := newHarness(t, m, fastOptions())
			ts := httptest.NewServer(server.NewStreamableHTTPServer(h.srv))
			t.Cleanup(ts.Close)

			updated := make(chan string, 10)
			cl := sdk.NewClient(&sdk.Implementation{Name: "http-test", Version: "0"},
				&sdk.ClientOptions{ResourceUpdatedHandler: func(_ context.Context,
					r *sdk.ResourceUpdatedNotificationRequest,
				) {
					updated <- r.Params.URI
				}})
			cs, err := cl.Connect(t.Context(), &sdk.StreamableClientTransport{
				Endpoint: ts.URL + "/mcp"}, &sdk.ClientSessionOptions{ProtocolVersion: era.version})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = cs.Close() })

			uri := StatusURI("a")
			if err := cs.Subscribe(t.Context(), &sdk.SubscribeParams{URI: uri}); err != nil {
				t.Fatal(err)
			}
			eventually(t, "following", func() bool { return h.p.Following(uri) })
			m.setStatus("a", sandstorm.StatusPaused)
			m.emit(sandstorm.Change{Sandbox: "a", Kind: sandstorm.ChangeStatus})
			select {
			case got := <-updated:
				if got != uri {
					t.Errorf("updated %q, want %q", got, uri)
				}
			case <-time.After(2 * time.Second):
				t.Fatal("no notifications/resources/updated within 2s")
			}

			if err := cs.Unsubscribe(t.Context(), &sdk.UnsubscribeParams{URI: uri}); err != nil {
				t.Fatal(err)
			}
			eventually(t, "polling stops", func() bool { return len(h.p.Polling()) == 0 })
		})
	}
}
