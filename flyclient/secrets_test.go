package flyclient

import (
	"testing"
)

const secretsURL = "/v1/apps/sb-alice/secrets"

func TestClient_ListSecrets(t *testing.T) {
	t.Parallel()
	f, c := newFake(t, always(reply{fixture: "secrets.json"}))

	list, err := c.ListSecrets(t.Context(), testApp)
	if err != nil {
		t.Fatal(err)
	}

	if len(list) != 2 || list[0].Name != "GITHUB_TOKEN" || list[0].Digest == "" ||
		list[0].Value != nil {
		t.Errorf("secrets = %+v", list)
	}
	wantRequest{method: "GET", path: secretsURL}.check(t, f.last())
}

func TestClient_SetSecrets(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		call func(c *Client) (uint64, error)
		body string
	}{
		{
			name: "set",
			call: func(c *Client) (uint64, error) {
				values := map[string]string{"GITHUB_TOKEN": "ghp_x", "EMPTY": ""}

				return c.SetSecrets(t.Context(), testApp, values)
			},
			body: `{"values":{"GITHUB_TOKEN":"ghp_x","EMPTY":""}}`,
		},
		{
			name: "unset",
			call: func(c *Client) (uint64, error) {
				return c.UnsetSecrets(t.Context(), testApp, "GITHUB_TOKEN", "OLD")
			},
			body: `{"values":{"GITHUB_TOKEN":null,"OLD":null}}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f, c := newFake(t, always(reply{fixture: "secrets_set.json"}))

			version, err := tt.call(c)
			if err != nil {
				t.Fatal(err)
			}

			if version != 7 {
				t.Errorf("version = %d, want 7", version)
			}
			wantRequest{method: "POST", path: secretsURL, body: tt.body}.check(t, f.last())
		})
	}
}

func TestClient_SetSecretsRetried(t *testing.T) {
	t.Parallel()
	f, c := newFake(t, script(reply{status: 503}, reply{fixture: "secrets_set.json"}))

	if _, err := c.SetSecrets(t.Context(), testApp, map[string]string{"K": "v"}); err != nil {
		t.Fatal(err)
	}

	reqs := f.requests()
	if len(reqs) != 2 || string(reqs[0].Body) != string(reqs[1].Body) {
		t.Errorf("requests = %+v, want the same body sent twice", reqs)
	}
}
