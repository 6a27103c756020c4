// Package flylocal is a Fly.io Machines API server whose machines are real
// local processes. Sandstorm runs on it when no Fly token is set, every test
// runs against it and the benchmarks measure it, so it speaks Fly's wire
// format: the same /v1 paths, JSON shapes, status codes, error texts and
// machine state machine, and a Prometheus query API under /prometheus/. A
// Fly client pointed at it (for example with FLY_FLAPS_BASE_URL) should need
// no change.
//
// It owns the API surface and the state behind it: apps, machines, leases,
// metadata, exec, volumes, snapshots, IP assignments, secrets and the metric
// samples of running machines, all persisted under Options.StateDir. It does
// not own process isolation (package machine) nor the time-series store and
// PromQL (package metrics). It serves no GraphQL, logs, certificates, org
// endpoints, cordon, ps, versions or memory calls; those answer 501.
//
// # Machines
//
// A started machine is a machine.Machine: a process tree in its own Linux
// namespaces that sees the host root read-only in place of the image, which
// is never pulled (config.image is required and reported in image_ref, but
// only what is installed on the host can run). It runs config.init.exec, else
// init.entrypoint followed by init.cmd, else nothing (the machine stays up
// with no main process). Its environment is config.env, overridden by the
// app's secrets, overridden by the FLY_* variables Fly sets (FLY_APP_NAME,
// FLY_MACHINE_ID, FLY_REGION, FLY_PRIVATE_IP, ...). Secrets are read at each
// start, so a change reaches a running machine only when it next starts. The
// main process's output goes to <state>/logs/<machine_id>.log.
//
// A config is answered as it was sent, unknown keys included, with "init"
// and "dns" added as {} when absent, as Fly does.
//
// Create answers "created" and the machine boots in the background, through
// "starting" to "started" after Options.BootDuration. Stop, restart, suspend
// and update answer once the change is under way; clients wait for the final
// state as they must on Fly. When the main process exits on its own, the
// restart policy applies (no, always, or on-failure, the default, with up to
// max_retries, default 10, retries with a short growing delay), then
// auto_destroy.
//
// # Fidelity decisions
//
// Where Fly's behaviour is not documented, flylocal chooses:
//
//   - Suspend is a stop that ends in "suspended": there is no memory image, so
//     the next start boots afresh. Stopping a suspended machine makes it
//     "stopped".
//   - Stopping a machine that is not running answers 200 and changes nothing.
//     Start from started answers 412 "failed_precondition: machine still
//     active, refusing to start".
//   - Deleting a running machine without force=true (or kill=true) is a 412
//     failed_precondition. Destroyed machines stay readable (GET, wait,
//     events, list with include_deleted) for an hour, then are reaped; every
//     other call on them is a 404 "machine not found".
//   - Update replaces the config whole, mints a new instance_id and launches
//     the machine on the new config: a running one goes "replacing" first, a
//     stopped one starts. With skip_launch a running machine stops and one
//     that is not running keeps its state. The mounted volume cannot change.
//     A stale current_version is a 412.
//   - Wait accepts started, stopped, suspended, destroyed, failed, settled
//     (any non-transient state) and replaced (an older version named by
//     version or instance_id).
//   - A lease acquire without a TTL gets 30 s. GET lease answers the same
//     envelope as acquire, nonce included. Lease owners are
//     "<hash of the token>@tokens.fly.io", so two tokens are two owners.
//   - Metadata PUT replaces the whole map; PATCH merges. Neither is guarded by
//     leases nor changes the instance_id.
//   - Exec timeouts are capped at 60 s, Fly's practical window, and also apply
//     when none is given. Output is returned as JSON strings; bytes that are
//     not UTF-8 are replaced. A stopped machine is a 412.
//   - A stop or restart timeout given as a number is seconds, or nanoseconds
//     when it is at least one million (fly-go's Duration encoding).
//   - Volumes list includes destroyed volumes until they are reaped, an hour
//     after deletion. Deleting an attached volume is a 409. Extend never
//     needs a restart. Machines may mount a volume that is still restoring;
//     they boot once the restore completes.
//   - Snapshots archive the volume directory when they turn "running",
//     halfway through Options.SnapshotDuration, and end "created", or
//     "failed" if archiving fails or FailSnapshots asked for it. They outlive
//     their volume and are deleted with their app; retention is not enforced.
//   - IP assignment of shared_v4 answers the app's existing one when it has
//     one. Egress IP types are not supported (400).
//   - Secret values are never answered, not even by GET of one secret.
//   - App names, and the org, are a single namespace per state directory. The
//     only org is Options.OrgSlug, with "personal" as an alias.
//   - Rate limits (Options.RateLimits) follow flyclient's Pacer and answer 429
//     with Retry-After in whole seconds, rounded up.
//
// # Metrics
//
// Every Options.ScrapeInterval, each machine with a running process gets one
// sample of fly_instance_up, fly_instance_cpu (centiseconds of CPU from
// machine.CPUTime, counted as mode "user") and fly_instance_net_recv_bytes /
// fly_instance_net_sent_bytes (device "eth0"). Machines share the host's
// network, so the byte counters are what flylocal carries: into the machine,
// each exec's request body, argv and stdin; out of it, each exec's stdout,
// stderr and answer body. Counters survive the machine's restarts within one
// server process and start from zero in a new one. Stopped machines emit
// nothing, as on Fly. Samples are kept in memory for 24 hours; deleting an
// app deletes its series.
//
// # Limits
//
// Linux only: elsewhere, and on Linux hosts without user namespaces, New
// still works and everything but launching a machine is served; launches
// answer 412 with the reason. There are no CPU, memory or disk limits: guest
// sizes are echoed, not enforced, and volumes may outgrow size_gb (bytes_used
// reports the truth). Machines share the host network, so services, private
// IPs and .internal DNS are for show. One Server at a time may use a state
// directory.
package flylocal
