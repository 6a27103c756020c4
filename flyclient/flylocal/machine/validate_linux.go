package machine

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// maxHostname is the kernel's limit on a hostname, which the machine id becomes.
const maxHostname = 64

// checkSpec validates spec and returns it with absolute, cleaned paths and mounts
// sorted so that a parent path is mounted before the paths inside it.
func checkSpec(spec Spec) (Spec, error) {
	switch {
	case spec.ID == "":
		return spec, errors.New("machine id is empty")
	case len(spec.ID) > maxHostname || strings.ContainsAny(spec.ID, "/\x00"):
		return spec, fmt.Errorf("machine id %q is not a valid hostname", spec.ID)
	case spec.RunDir == "":
		return spec, errors.New("run dir is empty")
	}
	runDir, err := filepath.Abs(spec.RunDir)
	if err != nil {
		return spec, fmt.Errorf("resolve run dir: %w", err)
	}
	spec.RunDir = runDir
	if err := checkArgv(spec.Argv); err != nil {
		return spec, err
	}
	if err := checkEnv(spec.Env); err != nil {
		return spec, err
	}

	mounts, err := checkMounts(spec.Mounts)
	if err != nil {
		return spec, err
	}
	spec.Mounts = mounts

	return spec, nil
}

// checkArgv rejects arguments the kernel cannot pass.
func checkArgv(argv []string) error {
	for _, a := range argv {
		if strings.Contains(a, "\x00") {
			return fmt.Errorf("argument %q contains a NUL byte", a)
		}
	}

	return nil
}

// checkEnv rejects variables the kernel cannot pass.
func checkEnv(env map[string]string) error {
	for k, v := range env {
		if k == "" || strings.ContainsAny(k, "=\x00") || strings.Contains(v, "\x00") {
			return fmt.Errorf("environment variable %q is not valid", k)
		}
	}

	return nil
}

// reservedPaths are built by the machine itself and cannot hold mounts.
var reservedPaths = []string{"/proc", "/sys", "/dev"}

// checkMounts validates mounts and returns a sorted copy with clean paths.
func checkMounts(mounts []Mount) ([]Mount, error) {
	out := make([]Mount, 0, len(mounts))
	for _, mt := range mounts {
		if !filepath.IsAbs(mt.Path) {
			return nil, fmt.Errorf("mount path %q is not absolute", mt.Path)
		}
		path := filepath.Clean(mt.Path)
		if path == "/" || slices.ContainsFunc(reservedPaths, func(r string) bool {
			return path == r || strings.HasPrefix(path, r+"/")
		}) {
			return nil, fmt.Errorf("mount path %s is reserved", path)
		}
		hostDir, err := filepath.Abs(mt.HostDir)
		if err != nil {
			return nil, fmt.Errorf("resolve mount dir %s: %w", mt.HostDir, err)
		}
		fi, err := os.Stat(hostDir)
		if err != nil {
			return nil, fmt.Errorf("mount dir for %s: %w", path, err)
		}
		if !fi.IsDir() {
			return nil, fmt.Errorf("mount dir %s for %s is not a directory", hostDir, path)
		}
		out = append(out, Mount{HostDir: hostDir, Path: path})
	}

	slices.SortFunc(out, func(a, b Mount) int { return strings.Compare(a.Path, b.Path) })
	for i := 1; i < len(out); i++ {
		if out[i].Path == out[i-1].Path {
			return nil, fmt.Errorf("mount path %s is used twice", out[i].Path)
		}
	}

	return out, nil
}
