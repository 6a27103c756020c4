package sandstorm_test

import (
	"flag"
	"os"
	"testing"
)

// TestMain runs this package's tests eight at a time unless -parallel says
// otherwise: they spend their time waiting on local machines and injected
// faults, not on the CPU.
func TestMain(m *testing.M) {
	_ = flag.Set("test.parallel", "8")
	os.Exit(m.Run())
}
