package machine

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
)

var (
	supportedOnce sync.Once
	supportedErr  error
)

// Supported reports nil when this host can run machines, or an error saying what is
// missing. It checks the kernel settings that commonly forbid user namespaces, then
// starts and kills a probe machine, so anything else that stops Start shows here too.
// The answer is computed once and cached.
func Supported() error {
	supportedOnce.Do(func() { supportedErr = probe() })

	return supportedErr
}

func probe() error {
	if err := checkUserNamespaceSettings(); err != nil {
		return fmt.Errorf("flylocal machines are not supported here: %w", err)
	}
	dir, err := os.MkdirTemp("", "flylocal-probe-")
	if err != nil {
		return fmt.Errorf("flylocal machines are not supported here: %w", err)
	}
	defer os.RemoveAll(dir)

	m, err := Start(Spec{ID: "probe", RunDir: filepath.Join(dir, "run")})
	if err != nil {
		return fmt.Errorf("flylocal machines are not supported here: %w", err)
	}

	return m.Kill()
}

// checkUserNamespaceSettings reads the sysctls that disable user namespaces.
func checkUserNamespaceSettings() error {
	if readSysctl("user/max_user_namespaces") == "0" {
		return errors.New("user namespaces are disabled (user.max_user_namespaces is 0)")
	}
	if os.Geteuid() == 0 {
		return nil
	}
	if readSysctl("kernel/unprivileged_userns_clone") == "0" {
		return errors.New("unprivileged user namespaces are disabled " +
			"(kernel.unprivileged_userns_clone is 0)")
	}
	if readSysctl("kernel/apparmor_restrict_unprivileged_userns") == "1" {
		return errors.New("AppArmor restricts unprivileged user namespaces " +
			"(kernel.apparmor_restrict_unprivileged_userns is 1)")
	}

	return nil
}

// readSysctl returns the trimmed value of /proc/sys/<name>, or "" when unreadable.
func readSysctl(name string) string {
	b, err := os.ReadFile("/proc/sys/" + name)
	if err != nil {
		return ""
	}

	return strings.TrimSpace(string(b))
}
