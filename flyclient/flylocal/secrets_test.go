package flylocal

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// secretsAnswer is the answer of the secrets calls.
type secretsAnswer struct {
	Secrets []map[string]any `json:"secrets"`
	Version int              `json:"version"`
}

func TestSecrets_API(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Options{})
	e.createApp("secret")
	base := "/v1/apps/secret/secrets"

	var got secretsAnswer
	e.call("POST", base, map[string]any{"values": map[string]any{"API_KEY": "s3cret", "B": "b"}},
		200, &got)
	if got.Version != 1 || len(got.Secrets) != 2 {
		t.Fatalf("set answered %+v", got)
	}
	resp := e.call("GET", base, nil, 200, &got)
	if strings.Contains(string(resp.body), "s3cret") || got.Secrets[0]["name"] != "API_KEY" ||
		got.Secrets[0]["digest"] == "" {
		t.Errorf("list answered %s", resp.body)
	}
	e.call("POST", base, map[string]any{"values": map[string]any{"B": nil}}, 200, &got)
	if got.Version != 2 || len(got.Secrets) != 1 {
		t.Errorf("unset answered %+v", got)
	}

	e.call("POST", base+"/OTHER", map[string]any{"value": "x"}, 201, nil)
	resp = e.call("GET", base+"/OTHER", nil, 200, nil)
	if strings.Contains(string(resp.body), `"value"`) {
		t.Errorf("GET one secret reveals its value: %s", resp.body)
	}
	e.call("DELETE", base+"/OTHER", nil, 200, nil)
	if resp := e.send(request{method: "GET", path: base + "/OTHER"}); resp.status != 404 {
		t.Errorf("deleted secret: %d", resp.status)
	}
	if resp := e.send(request{method: "POST", path: base,
		body: map[string]any{"values": map[string]any{"not a name": "x"}}}); resp.status != 400 {
		t.Errorf("invalid name: %d", resp.status)
	}

	fi, err := os.Stat(filepath.Join(e.dir, "db", "secrets", "secret.json"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("secrets file: %v, mode %v", err, fi.Mode())
	}
}

func TestSecrets_EnvAtNextStart(t *testing.T) {
	t.Parallel()
	requireMachines(t)
	e := newEnv(t, Options{})
	e.createApp("envs")
	e.call("POST", "/v1/apps/envs/secrets",
		map[string]any{"values": map[string]any{"TOKEN": "first", "SHARED": "from-secret"}}, 200, nil)
	m := e.createMachine("envs", map[string]any{
		"env": map[string]any{"SHARED": "from-config", "PLAIN": "p"},
	}, nil)
	e.waitState("envs", m.ID, "started")

	env := func() string {
		return e.exec("envs", m.ID, map[string]any{"command": []string{"env"}}).Stdout
	}
	out := env()
	for _, want := range []string{"TOKEN=first\n", "SHARED=from-secret\n", "PLAIN=p\n",
		"FLY_APP_NAME=envs\n", "FLY_MACHINE_ID=" + m.ID + "\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("env lacks %q:\n%s", want, out)
		}
	}

	e.call("POST", "/v1/apps/envs/secrets",
		map[string]any{"values": map[string]any{"TOKEN": "second"}}, 200, nil)
	if out := env(); !strings.Contains(out, "TOKEN=first\n") {
		t.Errorf("running machine saw the new secret:\n%s", out)
	}
	e.call("POST", "/v1/apps/envs/machines/"+m.ID+"/stop", nil, 200, nil)
	e.waitState("envs", m.ID, "stopped")
	e.call("POST", "/v1/apps/envs/machines/"+m.ID+"/start", nil, 200, nil)
	e.waitState("envs", m.ID, "started")
	if out := env(); !strings.Contains(out, "TOKEN=second\n") {
		t.Errorf("after restart the secret is not new:\n%s", out)
	}
}
