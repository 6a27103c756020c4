// Package sandstorm is the Manager: every sandbox operation, and the only code
// that knows how a sandbox maps onto Fly resources.
//
// A sandbox named alice, with the prefix myapp-, is the Fly app myapp-alice
// holding one volume mounted at /data and, while it runs, one machine. Fly is the
// truth for what exists; the store keeps what was asked (the spec needed to
// recreate the machine, snapshots taken, status history and an audit trail). Env
// values live only in the app's Fly secrets.
//
// Commands, files and clones run through Fly's exec endpoint, so the sandbox
// image needs a POSIX shell and the usual coreutils (base64, stat, find, tail,
// head), plus git for repository clones. Commands that may outlast Fly's exec
// window run detached inside the machine with their output on the volume.
//
// The Manager also applies the idle policy (FindIdleSandboxes,
// RunLifecycleCheck, KeepAlive) with the detector and state machine of the
// lifecycle package: it supplies the signals only it can read (tool calls,
// holds, agent output), performs the warnings, pauses and deletions under
// the machine's lease, and stores every transition. Several Managers may
// share one organization and one store: each state write is a
// compare-and-set.
package sandstorm
