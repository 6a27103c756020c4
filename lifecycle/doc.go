// Package lifecycle decides when a sandbox is idle and what the idle policy
// does about it. It owns four things: activity detection (Detector), the
// idle policy as a pure state machine (Decide), a background loop skeleton
// (Loop) and signed webhooks (Webhook). It deliberately performs no Fly
// mutation and keeps no state: pausing, deleting, persisting State and
// recording audit events belong to the Manager and the store, which reach
// this package through the small interfaces defined here. It imports none of
// Sandstorm's packages: the Manager imports it, and the server starts its
// Loop over Manager.RunLifecycleCheck.
//
// # Activity rules
//
// Detector.FindIdle judges each sandbox over a window W (default 30m) at the
// detector's clock time now. A sandbox that is not running gets NotRunning
// and is not measured. For a running sandbox four signals are read:
//
//   - Network: the increase over W of fly_instance_net_recv_bytes plus that
//     of fly_instance_net_sent_bytes, device "eth0", for the sandbox's app
//     and machine. At or above the threshold (default 10 KiB) is activity.
//   - Tool calls: a tool call that touched the sandbox in (now-W, now] is
//     activity.
//   - Agent sessions: output written in (now-W, now] is activity. A session
//     that is still running counts as active while its last output is within
//     max(W, SessionGrace), SessionGrace defaulting to 30m, so an agent that
//     thinks quietly is not paused by a short window.
//   - Holds: a keep-alive hold whose Until is after now, or zero, is
//     activity.
//
// Sessions are read last, and only when no other signal showed activity,
// since reading them may cost an exec inside the machine.
//
// The verdict is Active when any signal shows activity, whatever the others
// say. Otherwise it is Unknown when any signal could not be read: Prometheus
// failed or timed out, it has no series for the running machine, the app
// lies outside the prefix, or a Signals call failed. Missing data is never
// idleness. Only when every signal was read and all are quiet is the verdict
// Idle. Every verdict carries one human sentence per signal.
//
// A call makes at most two Prometheus queries, one per counter, each
// covering every app whose name starts with the prefix; it makes none when
// no sandbox is running.
//
// # Policy
//
// Decide moves a sandbox through the phases active, warned, paused and
// deleted. Idle time counts from the first cycle a sandbox is seen idle, so
// a sandbox is paused at the earliest W + PauseAfter after its last
// activity. With WarnAfter set, a pause always follows a warning sent at an
// earlier cycle, and at least PauseAfter - WarnAfter after it. Deletion
// needs a paused sandbox that is not running, paused for DeleteAfter, with a
// snapshot. An Unknown verdict changes nothing.
//
// # Limitations
//
// A machine started within the window is measured over the part of the
// window it ran; its start is normally a tool call, which counts as
// activity. Fly's counters are scraped about every 15 s and lag by tens of
// seconds, so traffic in the last minute may not be seen yet. Webhook
// signatures cover the body only, not the delivery ID header; receivers that
// care about replays should check the event's "at" and de-duplicate
// deliveries.
package lifecycle
