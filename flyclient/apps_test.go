package flyclient

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"testing"
)

var aliceApp = CreateAppRequest{Name: "sb-alice", OrgSlug: "personal"}

func TestClient_Apps(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		reply   reply
		call    func(ctx context.Context, c *Client) error
		want    wantRequest
		wantErr error
	}{
		{
			name:  "get app",
			reply: reply{fixture: "app.json"},
			call: func(ctx context.Context, c *Client) error {
				app, err := c.GetApp(ctx, "sb-alice")
				if err == nil && (app.ID != "z4k69dxd8r31p5mx" || app.MachineCount != 1 ||
					app.Organization.Slug != "personal" || app.Status != "deployed") {
					err = fmt.Errorf("decoded %+v", app)
				}

				return err
			},
			want: wantRequest{method: "GET", path: "/v1/apps/sb-alice"},
		},
		{
			name:  "get missing app",
			reply: reply{status: 404, body: `{"error":"app not found"}`},
			call: func(ctx context.Context, c *Client) error {
				_, err := c.GetApp(ctx, "sb-gone")

				return err
			},
			want:    wantRequest{method: "GET", path: "/v1/apps/sb-gone"},
			wantErr: ErrNotFound,
		},
		{
			name:  "list apps",
			reply: reply{fixture: "apps_list.json"},
			call: func(ctx context.Context, c *Client) error {
				apps, err := c.ListApps(ctx, "personal")
				if err == nil && (len(apps) != 2 || apps[1].Name != "sb-bob") {
					err = fmt.Errorf("decoded %+v", apps)
				}

				return err
			},
			want: wantRequest{method: "GET", path: "/v1/apps",
				query: url.Values{"org_slug": {"personal"}}},
		},
		{
			name:  "delete app",
			reply: reply{status: 202},
			call: func(ctx context.Context, c *Client) error {
				return c.DeleteApp(ctx, "sb-alice", false)
			},
			want: wantRequest{method: "DELETE", path: "/v1/apps/sb-alice", query: url.Values{}},
		},
		{
			name:  "force delete app",
			reply: reply{status: 202},
			call: func(ctx context.Context, c *Client) error {
				return c.DeleteApp(ctx, "sb-alice", true)
			},
			want: wantRequest{method: "DELETE", path: "/v1/apps/sb-alice",
				query: url.Values{"force": {"true"}}},
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
			tt.want.check(t, f.last())
		})
	}
}

func TestClient_CreateApp(t *testing.T) {
	t.Parallel()
	f, c := newFake(t, always(reply{status: 201, fixture: "app_created.json"}))

	app, err := c.CreateApp(t.Context(), aliceApp)
	if err != nil {
		t.Fatal(err)
	}

	if app.ID != "z4k69dxd8r31p5mx" || app.Name != "sb-alice" || app.Organization.Slug != "personal" {
		t.Errorf("app = %+v", app)
	}
	got := f.last()
	var body map[string]any
	if err := json.Unmarshal(got.Body, &body); err != nil {
		t.Fatal(err)
	}
	if key, _ := body["idempotency_key"].(string); key == "" ||
		body["name"] != "sb-alice" || body["org_slug"] != "personal" {
		t.Errorf("body = %s", got.Body)
	}
	if got.Method != "POST" || got.Path != "/v1/apps" {
		t.Errorf("request = %s %s", got.Method, got.Path)
	}
	if ct := got.Header.Get("Content-Type"); ct != contentTypeJSON {
		t.Errorf("Content-Type = %q", ct)
	}
}

// A name that is taken is a definite answer: not retried, and ErrConflict.
func TestClient_CreateAppNameTaken(t *testing.T) {
	t.Parallel()
	f, c := newFake(t, always(reply{status: 422, fixture: "error_name_taken.json"}))

	_, err := c.CreateApp(t.Context(), aliceApp)

	if !errors.Is(err, ErrConflict) {
		t.Fatalf("err = %v, want ErrConflict", err)
	}
	if n := len(f.requests()); n != 1 {
		t.Errorf("requests = %d, want 1", n)
	}
}

func TestClient_CreateAppAmbiguous(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		getApp    reply
		wantPosts int
		wantID    string
	}{
		{
			name:      "made by the first attempt",
			getApp:    reply{fixture: "app.json"},
			wantPosts: 1,
			wantID:    "z4k69dxd8r31p5mx",
		},
		{
			name:      "not made",
			getApp:    reply{status: 404, fixture: "error_not_found.json"},
			wantPosts: 2,
			wantID:    "z4k69dxd8r31p5mx",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f, c := newFake(t, func(n int, r recorded) reply {
				switch {
				case r.Method == "GET":
					return tt.getApp
				case n == 0:
					return reply{status: 500, body: `{"error":"internal error"}`}
				}

				return reply{status: 201, fixture: "app_created.json"}
			})

			app, err := c.CreateApp(t.Context(), aliceApp)
			if err != nil {
				t.Fatal(err)
			}

			if app.ID != tt.wantID {
				t.Errorf("id = %q, want %q", app.ID, tt.wantID)
			}
			if n := f.count("POST", "/v1/apps"); n != tt.wantPosts {
				t.Errorf("POSTs = %d, want %d", n, tt.wantPosts)
			}
			if n := f.count("GET", "/v1/apps/sb-alice"); n != 1 {
				t.Errorf("lookups = %d, want 1", n)
			}
			posts := f.requests()
			if tt.wantPosts == 2 && !jsonEqual(t, posts[0].Body, posts[len(posts)-1].Body) {
				t.Errorf("resend differs (idempotency key must stay): %s vs %s",
					posts[0].Body, posts[len(posts)-1].Body)
			}
		})
	}
}

// An app by that name in another org is not ours: the resend gets the honest
// name_taken instead of the client claiming someone else's app.
func TestClient_CreateAppAmbiguousOtherOrg(t *testing.T) {
	t.Parallel()
	f, c := newFake(t, func(n int, r recorded) reply {
		switch {
		case r.Method == "GET":
			return reply{fixture: "app.json"} // org "personal"
		case n == 0:
			return reply{reset: true}
		}

		return reply{status: 422, fixture: "error_name_taken.json"}
	})

	_, err := c.CreateApp(t.Context(), CreateAppRequest{Name: "sb-alice", OrgSlug: "acme"})

	if !errors.Is(err, ErrConflict) {
		t.Fatalf("err = %v, want ErrConflict", err)
	}
	if n := f.count("POST", "/v1/apps"); n != 2 {
		t.Errorf("POSTs = %d, want 2", n)
	}
}
