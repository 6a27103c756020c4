package flyclient

import (
	"context"
	"errors"
	"fmt"
	"testing"
)

func TestClient_Metadata(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		reply reply
		call  func(ctx context.Context, c *Client) error
		want  wantRequest
	}{
		{
			name:  "get metadata",
			reply: reply{fixture: "metadata.json"},
			call: func(ctx context.Context, c *Client) error {
				md, err := c.GetMetadata(ctx, testApp, testMachine)
				if err == nil && (len(md) != 3 || md["sandstorm_sandbox"] != "alice") {
					err = fmt.Errorf("decoded %v", md)
				}

				return err
			},
			want: wantRequest{method: "GET", path: machineURL + "/metadata"},
		},
		{
			name:  "set metadata",
			reply: reply{status: 204},
			call: func(ctx context.Context, c *Client) error {
				return c.SetMetadata(ctx, testApp, testMachine, "sandstorm_owner", "alice")
			},
			want: wantRequest{method: "POST", path: machineURL + "/metadata/sandstorm_owner",
				body: `{"value":"alice"}`},
		},
		{
			name:  "key is escaped",
			reply: reply{status: 204},
			call: func(ctx context.Context, c *Client) error {
				return c.SetMetadata(ctx, testApp, testMachine, "a/b c", "")
			},
			want: wantRequest{method: "POST", path: machineURL + "/metadata/a%2Fb%20c",
				body: `{"value":""}`},
		},
		{
			name:  "delete metadata",
			reply: reply{status: 204},
			call: func(ctx context.Context, c *Client) error {
				return c.DeleteMetadata(ctx, testApp, testMachine, "sandstorm_owner")
			},
			want: wantRequest{method: "DELETE", path: machineURL + "/metadata/sandstorm_owner"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f, c := newFake(t, always(tt.reply))

			if err := tt.call(t.Context(), c); err != nil {
				t.Fatal(err)
			}

			tt.want.check(t, f.last())
		})
	}
}

func TestClient_SetMetadataRetried(t *testing.T) {
	t.Parallel()
	f, c := newFake(t, script(reply{status: 502}, reply{status: 204}))

	if err := c.SetMetadata(t.Context(), testApp, testMachine, "k", "v"); err != nil {
		t.Fatal(err)
	}

	if n := len(f.requests()); n != 2 {
		t.Errorf("requests = %d, want 2", n)
	}
}

func TestClient_GetMetadataMissingMachine(t *testing.T) {
	t.Parallel()
	_, c := newFake(t, always(reply{status: 404, fixture: "error_not_found.json"}))

	_, err := c.GetMetadata(t.Context(), testApp, testMachine)

	if !errors.Is(err, ErrNotFound) {
		t.Errorf("err = %v, want ErrNotFound", err)
	}
}
