package flylocal

import (
	"fmt"
	"net/url"
	"slices"
	"testing"
	"time"
)

// The cases of TestContract_Shapes, one table per API resource.

// shapeCases returns a case for each fixture flylocal can be made to answer.
// error_capacity.json has none: flylocal never runs out of capacity.
func shapeCases() []shapeCase {
	return slices.Concat(appShapeCases(), machineShapeCases(), leaseShapeCases(),
		volumeShapeCases(), appDataShapeCases(), errorShapeCases(),
		prometheusShapeCases())
}

// appShapeCases covers the Apps resource.
func appShapeCases() []shapeCase {
	return []shapeCase{
		{
			name: "get app", fixture: "app.json", status: 200,
			prepare: func(t *testing.T, s *shapeEnv) shapeRequest {
				app := s.fixtureApp(t, "shape-get-app")
				s.fixtureMachine(t, app, false)

				return shapeRequest{method: "GET", path: "/v1/apps/" + app}
			},
		},
		{
			name: "create app", fixture: "app_created.json", status: 201,
			prepare: func(t *testing.T, s *shapeEnv) shapeRequest {
				return shapeRequest{method: "POST", path: "/v1/apps",
					body: map[string]any{"name": "shape-create-app", "org_slug": shapeOrg}}
			},
		},
		{
			name: "list apps", fixture: "apps_list.json", status: 200,
			prepare: func(t *testing.T, s *shapeEnv) shapeRequest {
				s.fixtureApp(t, "shape-list-apps")

				return shapeRequest{method: "GET", path: "/v1/apps?org_slug=" + shapeOrg}
			},
		},
	}
}

// machineShapeCases covers the Machines resource: CRUD, lifecycle, wait,
// exec and metadata.
func machineShapeCases() []shapeCase {
	return []shapeCase{
		{
			name: "get machine", fixture: "machine.json", status: 200,
			prepare: func(t *testing.T, s *shapeEnv) shapeRequest {
				app := s.fixtureApp(t, "shape-get-machine")
				id, _ := s.fixtureMachine(t, app, false)

				return shapeRequest{method: "GET", path: machinePath(app, id)}
			},
		},
		{
			name: "create machine", fixture: "machine.json", status: 200,
			prepare: func(t *testing.T, s *shapeEnv) shapeRequest {
				app := s.fixtureApp(t, "shape-create-machine")
				vol := s.fixtureVolume(t, app)

				return shapeRequest{method: "POST", path: "/v1/apps/" + app + "/machines",
					body: map[string]any{"config": fixtureConfig(t, vol), "skip_launch": true}}
			},
		},
		{
			name: "update machine", fixture: "machine.json", status: 200,
			prepare: func(t *testing.T, s *shapeEnv) shapeRequest {
				app := s.fixtureApp(t, "shape-update-machine")
				id, vol := s.fixtureMachine(t, app, false)

				return shapeRequest{method: "POST", path: machinePath(app, id),
					body: map[string]any{"config": fixtureConfig(t, vol), "skip_launch": true}}
			},
		},
		{
			name: "list machines", fixture: "machines_list.json", status: 200,
			prepare: func(t *testing.T, s *shapeEnv) shapeRequest {
				app := s.fixtureApp(t, "shape-list-machines")
				// Only config.image is required; Fly answers "init": {} all
				// the same.
				for _, who := range []string{"alice", "bob"} {
					s.mustCall(t, shapeRequest{method: "POST",
						path: "/v1/apps/" + app + "/machines",
						body: map[string]any{"skip_launch": true, "config": map[string]any{
							"image":    "registry-1.docker.io/library/ubuntu:latest",
							"metadata": map[string]string{"sandstorm_sandbox": who},
						}}}, 200)
				}

				return shapeRequest{method: "GET", path: "/v1/apps/" + app + "/machines"}
			},
		},
		{
			name: "start machine", fixture: "start.json", status: 200, machines: true,
			prepare: func(t *testing.T, s *shapeEnv) shapeRequest {
				app := s.fixtureApp(t, "shape-start")
				id, _ := s.fixtureMachine(t, app, false)

				return shapeRequest{method: "POST", path: machinePath(app, id) + "/start"}
			},
		},
		{
			name: "stop machine", fixture: "ok.json", status: 200, same: []string{"ok"},
			prepare: func(t *testing.T, s *shapeEnv) shapeRequest {
				app := s.fixtureApp(t, "shape-stop")
				id, _ := s.fixtureMachine(t, app, false)

				return shapeRequest{method: "POST", path: machinePath(app, id) + "/stop",
					body: map[string]any{"signal": "SIGINT", "timeout": "10s"}}
			},
		},
		{
			name: "delete machine", fixture: "ok.json", status: 200, same: []string{"ok"},
			prepare: func(t *testing.T, s *shapeEnv) shapeRequest {
				app := s.fixtureApp(t, "shape-delete")
				id, _ := s.fixtureMachine(t, app, false)

				return shapeRequest{method: "DELETE", path: machinePath(app, id) + "?force=true"}
			},
		},
		{
			name: "wait", fixture: "wait.json", status: 200, machines: true,
			same: []string{"ok", "state"},
			prepare: func(t *testing.T, s *shapeEnv) shapeRequest {
				app := s.fixtureApp(t, "shape-wait")
				id, _ := s.fixtureMachine(t, app, true)

				return shapeRequest{method: "GET",
					path: machinePath(app, id) + "/wait?state=started&timeout=30"}
			},
		},
		{
			name: "exec", fixture: "exec.json", status: 200, machines: true,
			same: []string{"exit_code"},
			prepare: func(t *testing.T, s *shapeEnv) shapeRequest {
				app := s.fixtureApp(t, "shape-exec")
				id, _ := s.fixtureMachine(t, app, true)
				script := "echo out; echo 'warning: low disk' >&2; exit 3"

				return shapeRequest{method: "POST", path: machinePath(app, id) + "/exec",
					body: map[string]any{"command": []string{"sh", "-c", script}, "timeout": 10}}
			},
		},
		{
			name: "metadata", fixture: "metadata.json", status: 200,
			prepare: func(t *testing.T, s *shapeEnv) shapeRequest {
				app := s.fixtureApp(t, "shape-metadata")
				id, _ := s.fixtureMachine(t, app, false)

				return shapeRequest{method: "GET", path: machinePath(app, id) + "/metadata"}
			},
		},
	}
}

// leaseShapeCases covers machine leases, whose answers come in Fly's
// {"status", "data"} envelope.
func leaseShapeCases() []shapeCase {
	return []shapeCase{
		{
			name: "acquire lease", fixture: "lease.json", status: 201, same: []string{"status"},
			prepare: func(t *testing.T, s *shapeEnv) shapeRequest {
				app := s.fixtureApp(t, "shape-acquire-lease")
				id, _ := s.fixtureMachine(t, app, false)

				return shapeRequest{method: "POST", path: machinePath(app, id) + "/lease",
					body: map[string]any{"ttl": 60, "description": "sandstorm resume"}}
			},
		},
		{
			name: "get lease", fixture: "lease.json", status: 200, same: []string{"status"},
			prepare: func(t *testing.T, s *shapeEnv) shapeRequest {
				app := s.fixtureApp(t, "shape-get-lease")
				id, _ := s.fixtureMachine(t, app, false)
				s.acquireLease(t, app, id)

				return shapeRequest{method: "GET", path: machinePath(app, id) + "/lease"}
			},
		},
		{
			name: "release lease", fixture: "lease_released.json", status: 200,
			same: []string{"status", "data.ok"},
			prepare: func(t *testing.T, s *shapeEnv) shapeRequest {
				app := s.fixtureApp(t, "shape-release-lease")
				id, _ := s.fixtureMachine(t, app, false)
				nonce := s.acquireLease(t, app, id)

				return shapeRequest{method: "DELETE", path: machinePath(app, id) + "/lease",
					header: map[string]string{leaseNonceHeader: nonce}}
			},
		},
	}
}

// volumeShapeCases covers volumes and their snapshots.
func volumeShapeCases() []shapeCase {
	return []shapeCase{
		{
			name: "get volume", fixture: "volume.json", status: 200,
			prepare: func(t *testing.T, s *shapeEnv) shapeRequest {
				app := s.fixtureApp(t, "shape-get-volume")
				vol := s.fixtureVolume(t, app)

				return shapeRequest{method: "GET", path: "/v1/apps/" + app + "/volumes/" + vol}
			},
		},
		{
			name: "create volume", fixture: "volume.json", status: 200,
			prepare: func(t *testing.T, s *shapeEnv) shapeRequest {
				app := s.fixtureApp(t, "shape-create-volume")

				return shapeRequest{method: "POST", path: "/v1/apps/" + app + "/volumes",
					body: map[string]any{"name": "data", "size_gb": 3}}
			},
		},
		{
			name: "list volumes", fixture: "volumes_list.json", status: 200,
			prepare: func(t *testing.T, s *shapeEnv) shapeRequest {
				app := s.fixtureApp(t, "shape-list-volumes")
				s.fixtureMachine(t, app, false) // attaches the volume

				return shapeRequest{method: "GET", path: "/v1/apps/" + app + "/volumes"}
			},
		},
		{
			name: "extend volume", fixture: "volume_extend.json", status: 200,
			prepare: func(t *testing.T, s *shapeEnv) shapeRequest {
				app := s.fixtureApp(t, "shape-extend-volume")
				_, vol := s.fixtureMachine(t, app, false)

				return shapeRequest{method: "PUT",
					path: "/v1/apps/" + app + "/volumes/" + vol + "/extend",
					body: map[string]any{"size_gb": 10}}
			},
		},
		{
			name: "list snapshots", fixture: "snapshots.json", status: 200,
			prepare: func(t *testing.T, s *shapeEnv) shapeRequest {
				app := s.fixtureApp(t, "shape-snapshots")
				vol := s.fixtureVolume(t, app)
				path := "/v1/apps/" + app + "/volumes/" + vol + "/snapshots"
				s.mustCall(t, shapeRequest{method: "POST", path: path}, 200)
				s.poll(t, shapeRequest{method: "GET", path: path}, func(v any) bool {
					return shapeAt(v, "0.status") == "created"
				})

				return shapeRequest{method: "GET", path: path}
			},
		},
	}
}

// appDataShapeCases covers IP assignments and secrets.
func appDataShapeCases() []shapeCase {
	return []shapeCase{
		{
			name: "assign ip", fixture: "ip_assigned.json", status: 200,
			prepare: func(t *testing.T, s *shapeEnv) shapeRequest {
				app := s.fixtureApp(t, "shape-assign-ip")

				return shapeRequest{method: "POST", path: "/v1/apps/" + app + "/ip_assignments",
					body: map[string]any{"type": "v6", "org_slug": shapeOrg}}
			},
		},
		{
			name: "list ips", fixture: "ip_assignments.json", status: 200,
			prepare: func(t *testing.T, s *shapeEnv) shapeRequest {
				app := s.fixtureApp(t, "shape-list-ips")
				for _, typ := range []string{"v6", "shared_v4", "private_v6"} {
					s.mustCall(t, shapeRequest{method: "POST",
						path: "/v1/apps/" + app + "/ip_assignments",
						body: map[string]any{"type": typ, "org_slug": shapeOrg}}, 200)
				}

				return shapeRequest{method: "GET", path: "/v1/apps/" + app + "/ip_assignments"}
			},
		},
		{
			name: "list secrets", fixture: "secrets.json", status: 200,
			prepare: func(t *testing.T, s *shapeEnv) shapeRequest {
				app := s.fixtureApp(t, "shape-list-secrets")
				s.mustCall(t, setSecretsRequest(app), 200)

				return shapeRequest{method: "GET", path: "/v1/apps/" + app + "/secrets"}
			},
		},
		{
			name: "set secrets", fixture: "secrets_set.json", status: 200,
			prepare: func(t *testing.T, s *shapeEnv) shapeRequest {
				return setSecretsRequest(s.fixtureApp(t, "shape-set-secrets"))
			},
		},
	}
}

// errorShapeCases covers the error answers flylocal can be made to give.
func errorShapeCases() []shapeCase {
	return []shapeCase{
		{
			name: "machine not found", fixture: "error_not_found.json", status: 404,
			same: []string{"error"},
			prepare: func(t *testing.T, s *shapeEnv) shapeRequest {
				app := s.fixtureApp(t, "shape-not-found")

				return shapeRequest{method: "GET", path: machinePath(app, "0123456789abcd")}
			},
		},
		{
			name: "app not found", fixture: "error_not_found.json", status: 404,
			prepare: func(t *testing.T, s *shapeEnv) shapeRequest {
				return shapeRequest{method: "GET", path: "/v1/apps/shape-no-such-app"}
			},
		},
		{
			name: "lease held on acquire", fixture: "error_lease_held.json", status: 409,
			prefix: true,
			prepare: func(t *testing.T, s *shapeEnv) shapeRequest {
				app := s.fixtureApp(t, "shape-lease-held")
				id, _ := s.fixtureMachine(t, app, false)
				s.acquireLease(t, app, id)

				return shapeRequest{method: "POST", path: machinePath(app, id) + "/lease?ttl=60"}
			},
		},
		{
			name: "lease held on update", fixture: "error_lease_held.json", status: 409,
			prefix: true,
			prepare: func(t *testing.T, s *shapeEnv) shapeRequest {
				app := s.fixtureApp(t, "shape-lease-held-update")
				id, vol := s.fixtureMachine(t, app, false)
				s.acquireLease(t, app, id)

				return shapeRequest{method: "POST", path: machinePath(app, id),
					body: map[string]any{"config": fixtureConfig(t, vol), "skip_launch": true}}
			},
		},
		{
			name: "name taken", fixture: "error_name_taken.json", status: 422,
			same: []string{"error", "status"},
			prepare: func(t *testing.T, s *shapeEnv) shapeRequest {
				app := s.fixtureApp(t, "shape-name-taken")

				return shapeRequest{method: "POST", path: "/v1/apps",
					body: map[string]any{"name": app, "org_slug": shapeOrg}}
			},
		},
		{
			name: "wait timeout", fixture: "error_wait_timeout.json", status: 408,
			prefix: true,
			prepare: func(t *testing.T, s *shapeEnv) shapeRequest {
				app := s.fixtureApp(t, "shape-wait-timeout")
				id, _ := s.fixtureMachine(t, app, false)

				return shapeRequest{method: "GET",
					path: machinePath(app, id) + "/wait?state=started&timeout=1"}
			},
		},
		{
			name: "wrong token", fixture: "error_unauthorized.json", status: 401,
			same: []string{"error"},
			prepare: func(t *testing.T, s *shapeEnv) shapeRequest {
				return shapeRequest{method: "GET", path: "/v1/apps?org_slug=" + shapeOrg,
					header: map[string]string{"Authorization": "Bearer not-" + shapeToken}}
			},
		},
		{
			name: "no token", fixture: "error_unauthorized.json", status: 401,
			prepare: func(t *testing.T, s *shapeEnv) shapeRequest {
				return shapeRequest{method: "GET", path: "/v1/apps?org_slug=" + shapeOrg,
					header: map[string]string{"Authorization": ""}}
			},
		},
	}
}

// prometheusShapeCases covers the Prometheus query API. The samples are
// written straight into the store, at whole seconds, under an app no machine
// belongs to, so no scrape adds to them.
func prometheusShapeCases() []shapeCase {
	const app = "shape-prometheus"
	query := func(endpoint string, params url.Values) shapeRequest {
		return shapeRequest{method: "GET",
			path: "/prometheus/" + shapeOrg + "/api/v1/" + endpoint + "?" + params.Encode()}
	}
	// seed writes three samples a minute apart, the last at the returned time.
	seed := func(s *shapeEnv, metric string, labels map[string]string) time.Time {
		end := time.Now().Truncate(time.Second)
		for i := range 3 {
			at := end.Add(time.Duration(i-2) * time.Minute)
			s.srv.Metrics().Add(metric, labels, at, float64(i)*1.5)
		}

		return end
	}
	unix := func(at time.Time) string { return fmt.Sprint(at.Unix()) }

	return []shapeCase{
		{
			name: "prometheus vector", fixture: "prometheus_vector.json", status: 200,
			same: []string{"status", "data.resultType"},
			// VictoriaMetrics, behind Fly's Prometheus, adds these; the
			// standard Prometheus answer flylocal gives has neither.
			optional: []string{"isPartial", "stats"},
			prepare: func(t *testing.T, s *shapeEnv) shapeRequest {
				end := seed(s, "fly_instance_up",
					map[string]string{"app": app, "instance": "1857156b526dd8", "region": "ord"})

				return query("query", url.Values{
					"query": {`fly_instance_up{app="` + app + `"}`}, "time": {unix(end)}})
			},
		},
		{
			name: "prometheus matrix", fixture: "prometheus_matrix.json", status: 200,
			same: []string{"status", "data.resultType"},
			prepare: func(t *testing.T, s *shapeEnv) shapeRequest {
				end := seed(s, "fly_instance_net_sent_bytes",
					map[string]string{"app": app, "instance": "1857156b526dd8", "device": "eth0"})

				return query("query_range", url.Values{
					"query": {`fly_instance_net_sent_bytes{app="` + app + `",device="eth0"}`},
					"start": {unix(end.Add(-2 * time.Minute))}, "end": {unix(end)},
					"step": {"60"}})
			},
		},
		{
			name: "prometheus scalar", fixture: "prometheus_scalar.json", status: 200,
			same: []string{"status", "data.resultType"},
			prepare: func(t *testing.T, s *shapeEnv) shapeRequest {
				return query("query", url.Values{"query": {"42"}})
			},
		},
		{
			name: "prometheus error", fixture: "prometheus_error.json", status: 400,
			same: []string{"status", "errorType"},
			prepare: func(t *testing.T, s *shapeEnv) shapeRequest {
				return query("query", url.Values{"query": {"sum(rate("}})
			},
		},
	}
}
