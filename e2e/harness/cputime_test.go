package harness

import (
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func rusageCPU(t *testing.T) time.Duration {
	t.Helper()
	var ru syscall.Rusage
	require.NoError(t, syscall.Getrusage(syscall.RUSAGE_SELF, &ru))
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// CPUTime agrees with getrusage for this process (to /proc's 10 ms
// resolution), after it has burnt some CPU, and names a process that does
// not exist in its error.
func TestCPUTime(t *testing.T) {
	x := 0
	for rusageCPU(t) < 100*time.Millisecond {
		x++
	}
	lo := rusageCPU(t)
	got, err := CPUTime(os.Getpid())
	require.NoError(t, err)
	hi := rusageCPU(t)
	const tick = time.Second / clockTicks
	assert.GreaterOrEqual(t, got, lo-2*tick, "x=%d", x)
	assert.LessOrEqual(t, got, hi+tick)
	_, err = CPUTime(1 << 30)
	assert.ErrorContains(t, err, "harness: CPU time")
}
