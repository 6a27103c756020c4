package agents

import (
	"bytes"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// nastyPrompts are prompts a shell would mangle or act on.
var nastyPrompts = []string{
	"; rm -rf / #",
	"$(rm -rf /)",
	"`id`",
	`"double" 'single' \"escaped\"`,
	"line one\nline two\r\nline three",
	`$HOME ${PATH} $1 $@ $* $$ \n \\`,
	"a|b&c>d<e 2>&1 && f || g",
	"*.go ~ ?[a-z] {a,b}",
	"-rf",
	"--",
	"{prompt}",
	"  leading and trailing  ",
	"\x01\x07\x1b[31mred\x7f\xfe\xff",
	"é ✓ 🚀",
}

// printfAgent echoes its prompt through printf, with no shell in between.
func printfAgent(t *testing.T) *CommandAgent {
	t.Helper()
	a, err := NewCommandAgent("printf", []string{"printf", "%s", "{prompt}"})
	if err != nil {
		t.Fatal(err)
	}

	return a
}

func TestHeadlessCommand_PromptIsOneElement(t *testing.T) {
	t.Parallel()
	for _, agent := range []CodingAgent{ClaudeCode{}, Codex{}, printfAgent(t)} {
		for _, prompt := range nastyPrompts {
			cmd, err := agent.HeadlessCommand(prompt, HeadlessOptions{})
			if err != nil {
				t.Errorf("%s: HeadlessCommand(%q): %v", agent.ID(), prompt, err)
				continue
			}
			if last := cmd.Argv[len(cmd.Argv)-1]; last != prompt {
				t.Errorf("%s: last element is %q, want the prompt %q whole", agent.ID(),
					last, prompt)
			}
			if agent.ID() != "printf" && cmd.Argv[len(cmd.Argv)-2] != "--" {
				t.Errorf("%s: prompt %q does not follow \"--\": %q", agent.ID(), prompt, cmd.Argv)
			}
		}
	}
}

// randomPrompt returns 1 to 300 random bytes without NUL, sometimes heavy in
// shell metacharacters, never blank.
func randomPrompt(r *rand.Rand) string {
	const meta = "$`\"'\\;|&<>(){}[]*?~#!\n\t -%"
	b := make([]byte, 1+r.IntN(300))
	for i := range b {
		if r.IntN(3) == 0 {
			b[i] = meta[r.IntN(len(meta))]
		} else {
			b[i] = byte(1 + r.IntN(255))
		}
	}
	if len(bytes.TrimSpace(b)) == 0 {
		b = append(b, 'x')
	}

	return string(b)
}

// TestHeadlessCommand_NoShell runs a command agent's argv for 1000 random
// prompts, directly and through Command.Script's sh wrapper, and checks that
// printf gets each prompt back byte for byte: nothing reaches a shell parser.
func TestHeadlessCommand_NoShell(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("printf"); err != nil {
		t.Skip("no printf on the host")
	}
	agent := printfAgent(t)
	r := rand.New(rand.NewPCG(2026, 12))
	prompts := append(slices.Clone(nastyPrompts), make([]string, 1000)...)
	for i := len(nastyPrompts); i < len(prompts); i++ {
		prompts[i] = randomPrompt(r)
	}
	env := map[string]string{"PATH": os.Getenv("PATH")}

	for i, prompt := range prompts {
		cmd, err := agent.HeadlessCommand(prompt, HeadlessOptions{})
		if err != nil {
			t.Fatalf("prompt %d %q: %v", i, prompt, err)
		}
		out, err := exec.CommandContext(t.Context(), cmd.Argv[0], cmd.Argv[1:]...).Output()
		if err != nil {
			t.Fatalf("prompt %d %q: run: %v", i, prompt, err)
		}
		if string(out) != prompt {
			t.Fatalf("prompt %d: direct run printed %q, want %q", i, out, prompt)
		}
		run := runScript(t, cmd.Script(), t.TempDir(), env)
		if run.code != 0 || run.stdout != prompt {
			t.Fatalf("prompt %d: script run printed %q (exit %d, %s), want %q",
				i, run.stdout, run.code, run.stderr, prompt)
		}
	}
}

// TestCommand_Script_Builtins runs the built-in agents' headless commands
// through Command.Script against stubs on ExtraPath that print their
// arguments NUL-separated, and checks the stubs got the argv exactly.
func TestCommand_Script_Builtins(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	tools := toolsDir(t)
	for _, agent := range []CodingAgent{ClaudeCode{Root: root}, Codex{Root: root}} {
		cmd, err := agent.HeadlessCommand("x", HeadlessOptions{})
		if err != nil {
			t.Fatal(err)
		}
		writeStub(t, cmd.ExtraPath[0], cmd.Argv[0], `printf '%s\0' "$0" "$@"`)
	}

	r := rand.New(rand.NewPCG(7, 7))
	for i := range 50 {
		prompt := randomPrompt(r)
		if i < len(nastyPrompts) {
			prompt = nastyPrompts[i]
		}
		for _, agent := range []CodingAgent{ClaudeCode{Root: root}, Codex{Root: root}} {
			cmd, err := agent.HeadlessCommand(prompt, HeadlessOptions{Model: "m"})
			if err != nil {
				t.Fatal(err)
			}
			run := runScript(t, cmd.Script(), t.TempDir(), map[string]string{"PATH": tools})
			got := strings.Split(strings.TrimSuffix(run.stdout, "\x00"), "\x00")
			want := append([]string{filepath.Join(cmd.ExtraPath[0], cmd.Argv[0])}, cmd.Argv[1:]...)
			if run.code != 0 || !slices.Equal(got, want) {
				t.Fatalf("%s prompt %q: stub got %q (exit %d, %s), want %q",
					agent.ID(), prompt, got, run.code, run.stderr, want)
			}
		}
	}
}

func TestCommand_Script_Path(t *testing.T) {
	t.Parallel()
	image, volume := t.TempDir(), t.TempDir()
	writeStub(t, image, "agent", "echo image")
	writeStub(t, volume, "agent", "echo volume")
	writeStub(t, volume, "only-on-volume", "echo volume")
	tests := []struct {
		name  string
		path  string
		cmd   Command
		want  string
		fails bool
	}{
		{
			name: "image wins",
			path: image,
			cmd:  Command{Argv: []string{"agent"}, ExtraPath: []string{volume}},
			want: "image\n",
		},
		{
			name: "volume fills in",
			path: image,
			cmd:  Command{Argv: []string{"only-on-volume"}, ExtraPath: []string{volume}},
			want: "volume\n",
		},
		{
			name: "empty PATH",
			path: "",
			cmd:  Command{Argv: []string{"agent"}, ExtraPath: []string{volume}},
			want: "volume\n",
		},
		{
			name:  "no extra path",
			path:  image,
			cmd:   Command{Argv: []string{"only-on-volume"}},
			fails: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			run := runScript(t, tt.cmd.Script(), t.TempDir(), map[string]string{"PATH": tt.path})
			if tt.fails {
				if run.code == 0 {
					t.Errorf("exit 0 with %q, want a failure", run.stdout)
				}

				return
			}
			if run.code != 0 || run.stdout != tt.want {
				t.Errorf("got %q (exit %d, %s), want %q", run.stdout, run.code, run.stderr, tt.want)
			}
		})
	}
}
