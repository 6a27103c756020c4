package agents

import (
	"fmt"
	"strconv"
	"strings"
)

// npmInstallProgram installs an npm package into a prefix on the volume.
// Arguments: agent id, command name, prefix, state dir, npm package, minimum
// Node.js major version. It creates the state dir first, then stops at the
// first of: the command on PATH, the command already in the prefix. Two
// installs in one sandbox take turns through a lock directory; a lock older
// than 15 minutes was left by an install that died (say, in a machine that
// was paused) and is broken. npm writes its cache to /tmp, because HOME may
// be read-only, and its output to stderr, so stdout is the one result line.
const npmInstallProgram = `id=$1 bin=$2 prefix=$3 state=$4 pkg=$5 node_min=$6
mkdir -p -- "$state" || exit 1
if p=$(command -v "$bin"); then echo "present $p"; exit 0; fi
if [ -x "$prefix/bin/$bin" ]; then echo "present $prefix/bin/$bin"; exit 0; fi
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  echo "sandstorm: installing $id needs Node.js $node_min or later with npm in the" \
    "sandbox image, and node or npm is not on PATH" >&2
  exit 69
fi
major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null)
case $major in ''|*[!0-9]*) major=0 ;; esac
if [ "$major" -lt "$node_min" ]; then
  echo "sandstorm: installing $id needs Node.js $node_min or later in the sandbox" \
    "image, and it has $(node --version 2>&1)" >&2
  exit 69
fi
lock=$prefix/.install-lock
until mkdir -- "$lock" 2>/dev/null; do
  if [ -n "$(find "$lock" -maxdepth 0 -mmin +15 2>/dev/null)" ]; then
    rmdir -- "$lock" 2>/dev/null
  else
    sleep 1
  fi
done
trap 'rmdir -- "$lock" 2>/dev/null' EXIT
trap 'exit 143' HUP INT TERM
if [ -x "$prefix/bin/$bin" ]; then echo "present $prefix/bin/$bin"; exit 0; fi
cache=${TMPDIR:-/tmp}/sandstorm-npm-$$
npm install --global --prefix "$prefix" --cache "$cache" --no-audit --no-fund \
  --no-update-notifier --loglevel=error "$pkg" >&2
rc=$?
rm -rf -- "$cache"
if [ "$rc" -ne 0 ]; then
  echo "sandstorm: npm install of $pkg for $id failed with exit code $rc" >&2
  exit "$rc"
fi
if [ ! -x "$prefix/bin/$bin" ]; then
  echo "sandstorm: npm installed $pkg but $prefix/bin/$bin is missing" >&2
  exit 1
fi
echo "installed $prefix/bin/$bin"`

// npmInstall returns the Install script of an agent published on npm.
func npmInstall(id, bin, dir, pkg string, nodeMin int) Script {
	return Script{
		Program: npmInstallProgram,
		Args:    []string{id, bin, dir, stateDir(dir), pkg, strconv.Itoa(nodeMin)},
	}
}

// onPathProgram is the Install program of an agent that the image must
// already have. Arguments: agent id, command name.
const onPathProgram = `if p=$(command -v "$2"); then echo "present $p"; exit 0; fi
echo "sandstorm: $2 is not on PATH in the sandbox image, and agent $1 has no" \
  "install script" >&2
exit 69`

// InstallResult is what an Install program reported.
type InstallResult struct {
	// Installed is true when the program installed the agent just now and
	// false when it was already there.
	Installed bool
	// Path is the agent's executable.
	Path string
}

// ParseInstallOutput reads the last non-empty line of an Install program's
// stdout.
func ParseInstallOutput(stdout string) (InstallResult, error) {
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	last := strings.TrimSpace(lines[len(lines)-1])
	verb, p, _ := strings.Cut(last, " ")
	switch {
	case p == "":
	case verb == "present":
		return InstallResult{Path: p}, nil
	case verb == "installed":
		return InstallResult{Installed: true, Path: p}, nil
	}

	return InstallResult{}, fmt.Errorf("read install output: last line %q is neither "+
		`"present <path>" nor "installed <path>"`, last)
}
