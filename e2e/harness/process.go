package harness

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// DefaultStopTimeout is how long Process.Stop waits after SIGTERM before it
// sends SIGKILL.
const DefaultStopTimeout = 15 * time.Second

// Process is a program started by Start: its own process group, its combined
// stdout and stderr in a log file.
type Process struct {
	// Name names the process in errors and in its log file name.
	Name string

	cmd     *exec.Cmd
	logPath string
	logFile *os.File
	done    chan struct{}
	exitErr error

	stopOnce sync.Once
	stopErr  error
	killed   atomic.Bool
}

// Start starts bin with args in a new process group, with env added to the
// current environment, its output written to logDir/<name>.log. The process
// is not tied to ctx's lifetime beyond the start; stop it with Stop (or Kill).
// On Linux the process also gets SIGKILL if the calling thread dies, so a
// test binary killed by its timeout leaves no collector behind.
func Start(name, logDir string, env []string, bin string, args ...string) (*Process, error) {
	if err := os.MkdirAll(logDir, 0o755); err != nil {
		return nil, fmt.Errorf("harness: log dir: %w", err)
	}
	logPath := filepath.Join(logDir, name+".log")
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("harness: log file: %w", err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	cmd.SysProcAttr = sysProcAttr()
	fmt.Fprintf(logFile, "# %s: %s %s\n", time.Now().UTC().Format(time.RFC3339Nano), bin, strings.Join(args, " "))
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("harness: start %s: %w", name, err)
	}
	p := &Process{Name: name, cmd: cmd, logPath: logPath, logFile: logFile, done: make(chan struct{})}
	go func() {
		p.exitErr = cmd.Wait()
		logFile.Close()
		close(p.done)
	}()
	return p, nil
}

// Pid returns the process ID (also the process group ID).
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Done is closed when the process has exited.
func (p *Process) Done() <-chan struct{} { return p.done }

// ExitErr returns how the process exited (nil for status 0). Valid after Done.
func (p *Process) ExitErr() error {
	select {
	case <-p.done:
		return p.exitErr
	default:
		return nil
	}
}

// Running reports whether the process has not exited yet.
func (p *Process) Running() bool {
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// Wait waits for the process to exit on its own, or for ctx.
func (p *Process) Wait(ctx context.Context) error {
	select {
	case <-p.done:
		return p.exitErr
	case <-ctx.Done():
		return fmt.Errorf("harness: wait for %s: %w", p.Name, ctx.Err())
	}
}

// LogPath returns the file holding the process's output.
func (p *Process) LogPath() string { return p.logPath }

// Log returns the process's output so far.
func (p *Process) Log() string {
	b, err := os.ReadFile(p.logPath)
	if err != nil {
		return fmt.Sprintf("(cannot read %s: %v)", p.logPath, err)
	}
	return string(b)
}

// LogTail returns the last n lines of the process's output.
func (p *Process) LogTail(n int) string {
	lines := bytes.Split(bytes.TrimRight([]byte(p.Log()), "\n"), []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return string(bytes.Join(lines, []byte("\n")))
}

// Signal sends sig to the process's whole group.
func (p *Process) Signal(sig syscall.Signal) error {
	if !p.Running() {
		return nil
	}
	if err := syscall.Kill(-p.Pid(), sig); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("harness: signal %s to %s: %w", sig, p.Name, err)
	}
	return nil
}

// Kill sends SIGKILL to the process group and waits for the exit: a crash,
// for tests that need one.
func (p *Process) Kill() error {
	p.killed.Store(true)
	if err := p.Signal(syscall.SIGKILL); err != nil {
		return err
	}
	<-p.done
	return nil
}

// Stop asks the process group to exit (SIGTERM), waits up to timeout (0 means
// DefaultStopTimeout), then kills the group. It returns an error when the
// process had to be killed, exited with a failure other than the SIGTERM it
// was sent, or had already exited with a failure on its own (not by Kill).
// It is safe to call more than once and after the process exited.
func (p *Process) Stop(timeout time.Duration) error {
	p.stopOnce.Do(func() { p.stopErr = p.stop(timeout) })
	return p.stopErr
}

func (p *Process) stop(timeout time.Duration) error {
	if timeout <= 0 {
		timeout = DefaultStopTimeout
	}
	if !p.Running() {
		// Exited on its own; make sure nothing it started lingers.
		_ = syscall.Kill(-p.Pid(), syscall.SIGKILL)
		if err := p.exitErr; err != nil && !p.killed.Load() {
			return fmt.Errorf("harness: %s had exited: %w", p.Name, err)
		}
		return nil
	}
	if err := p.Signal(syscall.SIGTERM); err != nil {
		return err
	}
	select {
	case <-p.done:
		_ = syscall.Kill(-p.Pid(), syscall.SIGKILL)
		if err := p.exitErr; err != nil && !terminatedBy(err, syscall.SIGTERM) {
			return fmt.Errorf("harness: %s exited badly on SIGTERM: %w", p.Name, err)
		}
		return nil
	case <-time.After(timeout):
		_ = p.Kill()
		return fmt.Errorf("harness: %s did not exit within %s of SIGTERM; killed", p.Name, timeout)
	}
}

func terminatedBy(err error, sig syscall.Signal) bool {
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		return false
	}
	ws, ok := ee.Sys().(syscall.WaitStatus)
	return ok && ws.Signaled() && ws.Signal() == sig
}
