package store

import (
	"errors"
	"testing"
	"time"
)

func testSessions(t *testing.T, st Store) {
	ctx := t.Context()
	mustCreate(t, st, newSandbox("a"))
	mustCreate(t, st, newSandbox("b"))
	sess := func(id, sandbox, ident string, at time.Time) Session {
		return Session{ID: id, Sandbox: sandbox, Identifier: ident, Agent: "claude-code",
			LogPath: "/data/.sandstorm/sessions/" + id + ".log", Status: SessionRunning,
			StartedAt: at}
	}
	for _, s := range []Session{
		sess("s1", "a", "fix", t0), sess("s2", "a", "fix", t0.Add(time.Minute)),
		sess("s3", "a", "docs", t0.Add(2*time.Minute)), sess("s4", "b", "fix", t0),
	} {
		if err := st.PutSession(ctx, s); err != nil {
			t.Fatalf("PutSession(%s): %v", s.ID, err)
		}
	}

	code := 3
	done := sess("s2", "a", "fix", time.Time{})
	done.Status, done.ExitCode, done.Result, done.CostUSD = SessionFailed, &code, "boom", 0.25
	done.InputTokens, done.OutputTokens, done.FinishedAt = 10, 20, t0.Add(3*time.Minute)
	if err := st.PutSession(ctx, done); err != nil {
		t.Fatal(err)
	}
	got, err := st.GetSession(ctx, "a", "s2")
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != SessionFailed || got.ExitCode == nil || *got.ExitCode != 3 ||
		got.Result != "boom" || got.CostUSD != 0.25 || got.OutputTokens != 20 ||
		!got.StartedAt.Equal(t0.Add(time.Minute)) || !got.FinishedAt.Equal(done.FinishedAt) {
		t.Errorf("updated session = %+v", got)
	}

	tests := []struct {
		name, sandbox, identifier string
		want                      []string
	}{
		{"all of a sandbox, newest first", "a", "", []string{"s3", "s2", "s1"}},
		{"by identifier", "a", "fix", []string{"s2", "s1"}},
		{"other sandbox", "b", "", []string{"s4"}},
		{"unknown sandbox", "zz", "", nil},
	}
	for _, tt := range tests {
		list, err := st.ListSessions(ctx, tt.sandbox, tt.identifier)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		var ids []string
		for _, s := range list {
			ids = append(ids, s.ID)
		}
		if len(ids) != len(tt.want) || (len(ids) > 0 && ids[0] != tt.want[0]) ||
			(len(ids) > 1 && ids[len(ids)-1] != tt.want[len(tt.want)-1]) {
			t.Errorf("%s: ids = %v, want %v", tt.name, ids, tt.want)
		}
	}

	if _, err := st.GetSession(ctx, "b", "s1"); !errors.Is(err, ErrNotFound) {
		t.Errorf("session of another sandbox: err = %v, want ErrNotFound", err)
	}
	if err := st.PutSession(ctx, sess("s9", "nope", "x", t0)); !errors.Is(err, ErrNotFound) {
		t.Errorf("session of unknown sandbox: err = %v, want ErrNotFound", err)
	}
	bad := sess("s8", "a", "x", t0)
	bad.Status = "sleeping"
	if err := st.PutSession(ctx, bad); !errors.Is(err, ErrInvalid) {
		t.Errorf("unknown status: err = %v, want ErrInvalid", err)
	}
	if err := st.DeleteSandbox(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	if list, _ := st.ListSessions(ctx, "a", ""); len(list) != 0 {
		t.Errorf("sessions outlived their sandbox: %v", list)
	}
}
