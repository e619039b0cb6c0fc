package harness

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// Binaries are the programs the harness runs, as paths.
type Binaries struct {
	// Collector is the crewtrace collector distribution (cmd/otelcol-crewtrace).
	Collector string
	// Jaeger is Jaeger v2 built from the tools/jaeger module.
	Jaeger string
	// Crew is the example crew (examples/crew).
	Crew string
	// Telemetrygen is collector-contrib's telemetrygen, built from the
	// tools/telemetrygen module: unrelated traffic for load tests.
	Telemetrygen string
	// Crewtrace is the user's command (cmd/crewtrace): `crewtrace sessions`
	// and `crewtrace ui`.
	Crewtrace string
}

// BuildDir returns the directory binaries are built into: $CREWTRACE_BUILD_DIR
// if set, else <root>/.build (gitignored).
func BuildDir(root string) string {
	if d := os.Getenv("CREWTRACE_BUILD_DIR"); d != "" {
		return d
	}
	return filepath.Join(root, ".build")
}

// Build builds the collector, Jaeger and the crew into dir, reusing what is
// there: the collector and the crew go through `go build`, whose cache makes
// an unchanged rebuild a relink at most; Jaeger, a 120 MB binary that takes
// minutes to build cold, is rebuilt only when tools/jaeger's go.mod/go.sum or
// the Go version changed (a stamp file beside it records them). Progress goes
// to log (may be nil).
func Build(ctx context.Context, root, dir string, log io.Writer) (Binaries, error) {
	b, err := BuildFirstScreen(ctx, root, dir, log)
	if err != nil {
		return b, err
	}
	if b.Jaeger, err = BuildJaeger(ctx, root, dir, log); err != nil {
		return b, err
	}
	if b.Telemetrygen, err = BuildTelemetrygen(ctx, root, dir, log); err != nil {
		return b, err
	}
	return b, nil
}

// BuildFirstScreen builds what `make demo` needs before it can show a
// session — the collector, the example crew and the crewtrace command —
// and not Jaeger (see JaegerBuilt, BuildJaegerBackground). b.Jaeger is
// left empty.
func BuildFirstScreen(ctx context.Context, root, dir string, log io.Writer) (Binaries, error) {
	// One go build for the three: their packages compile once, in
	// parallel, and the three links overlap.
	b := Binaries{
		Collector: filepath.Join(dir, "otelcol-crewtrace"),
		Crew:      filepath.Join(dir, "crew"),
		Crewtrace: filepath.Join(dir, "crewtrace"),
	}
	err := goBuildNice(ctx, log, "collector, crew, crewtrace", root, workspaceEnv(root), dir+string(filepath.Separator), 0, true,
		"./cmd/otelcol-crewtrace", "./examples/crew", "./cmd/crewtrace")
	return b, err
}

// BuildCrewtrace builds cmd/crewtrace (the viewer and the terminal
// commands) into dir/crewtrace.
func BuildCrewtrace(ctx context.Context, root, dir string, log io.Writer) (string, error) {
	out := filepath.Join(dir, "crewtrace")
	return out, goBuildNice(ctx, log, "crewtrace", root, workspaceEnv(root), out, 0, true, "./cmd/crewtrace")
}

// JaegerBuilt reports whether dir/jaeger is up to date (BuildJaeger would
// reuse it), and returns its path.
func JaegerBuilt(root, dir string) (string, bool, error) {
	out := filepath.Join(dir, "jaeger")
	stamp, err := jaegerStamp(filepath.Join(root, "tools", "jaeger"))
	if err != nil {
		return out, false, err
	}
	have, err := os.ReadFile(out + ".stamp")
	return out, err == nil && string(have) == stamp && isFile(out), nil
}

// BuildCollector builds cmd/otelcol-crewtrace into dir/otelcol-crewtrace.
func BuildCollector(ctx context.Context, root, dir string, log io.Writer) (string, error) {
	out := filepath.Join(dir, "otelcol-crewtrace")
	return out, goBuildNice(ctx, log, "collector", root, workspaceEnv(root), out, 0, true, "./cmd/otelcol-crewtrace")
}

// BuildCrew builds examples/crew into dir/crew.
func BuildCrew(ctx context.Context, root, dir string, log io.Writer) (string, error) {
	out := filepath.Join(dir, "crew")
	return out, goBuildNice(ctx, log, "crew", root, workspaceEnv(root), out, 0, true, "./examples/crew")
}

// BuildExample builds the program examples/<name> into dir/<name> (the
// README's program is examples/readme).
func BuildExample(ctx context.Context, root, dir string, log io.Writer, name string) (string, error) {
	out := filepath.Join(dir, name)
	return out, goBuildNice(ctx, log, name, root, workspaceEnv(root), out, 0, true, "./examples/"+name)
}

// BuildJaeger builds Jaeger v2 (the go tool dependency of tools/jaeger,
// outside the workspace) into dir/jaeger, unless the binary there was built
// from the same tools/jaeger go.mod/go.sum with the same Go.
func BuildJaeger(ctx context.Context, root, dir string, log io.Writer) (string, error) {
	return buildJaeger(ctx, root, dir, log, 0)
}

// BuildJaegerBackground is BuildJaeger at a lower CPU priority (nice 10 on
// Linux): for a build that runs beside a demo already in use, so that the
// collector, the crew and the viewer stay responsive.
func BuildJaegerBackground(ctx context.Context, root, dir string, log io.Writer) (string, error) {
	return buildJaeger(ctx, root, dir, log, 10)
}

func buildJaeger(ctx context.Context, root, dir string, log io.Writer, nice int) (string, error) {
	out := filepath.Join(dir, "jaeger")
	mod := filepath.Join(root, "tools", "jaeger")
	stamp, err := jaegerStamp(mod)
	if err != nil {
		return "", err
	}
	stampPath := out + ".stamp"
	if have, err := os.ReadFile(stampPath); err == nil && string(have) == stamp && isFile(out) {
		logf(log, "jaeger: reusing %s\n", out)
		return out, nil
	}
	env := []string{"GOWORK=off"}
	// Built to a temporary name and renamed: a demo that checks for the
	// binary never sees half of it, and two builds never share a file.
	tmp := fmt.Sprintf("%s.building-%d", out, os.Getpid())
	if err := goBuildNice(ctx, log, "jaeger", mod, env, tmp, nice, false, "github.com/jaegertracing/jaeger/cmd/jaeger"); err != nil {
		os.Remove(tmp)
		return "", err
	}
	if err := os.Rename(tmp, out); err != nil {
		return "", fmt.Errorf("harness: jaeger: %w", err)
	}
	if err := os.WriteFile(stampPath, []byte(stamp), 0o644); err != nil {
		return "", fmt.Errorf("harness: jaeger stamp: %w", err)
	}
	return out, nil
}

func jaegerStamp(mod string) (string, error) {
	h := sha256.New()
	for _, f := range []string{"go.mod", "go.sum"} {
		b, err := os.ReadFile(filepath.Join(mod, f))
		if err != nil {
			return "", fmt.Errorf("harness: tools module: %w", err)
		}
		h.Write(b)
	}
	goVersion, err := exec.Command(goTool(), "env", "GOVERSION").Output()
	if err != nil {
		return "", fmt.Errorf("harness: go env GOVERSION: %w", err)
	}
	h.Write(goVersion)
	h.Write([]byte(runtime.GOOS + "/" + runtime.GOARCH))
	return hex.EncodeToString(h.Sum(nil)), nil
}

// workspaceEnv makes `go build` use the checkout's go.work even when the
// caller's environment says GOWORK=off.
func workspaceEnv(root string) []string {
	return []string{"GOWORK=" + filepath.Join(root, "go.work")}
}

func goBuild(ctx context.Context, log io.Writer, name, dir string, env []string, out, pkg string) error {
	return goBuildNice(ctx, log, name, dir, env, out, 0, false, pkg)
}

// goBuildNice runs go build of pkgs into out (a directory when it ends in
// a separator). A positive nice lowers its CPU priority (and that of the
// compilers it starts) where nice(1) exists. trimpath is for the checkout's
// own programs: without it, the build cache keys every package of the
// checkout by its directory, so a second clone would compile everything
// again; with it, the clone's build reuses the first one's packages.
func goBuildNice(ctx context.Context, log io.Writer, name, dir string, env []string, out string, nice int, trimpath bool, pkgs ...string) error {
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return fmt.Errorf("harness: build dir: %w", err)
	}
	start := time.Now()
	args := []string{"build"}
	if trimpath {
		args = append(args, "-trimpath")
	}
	args = append(append(args, "-o", out), pkgs...)
	logf(log, "%s: go %s\n", name, strings.Join(args, " "))
	cmd := exec.CommandContext(ctx, goTool(), args...)
	if nice > 0 {
		// nice(1) sets the priority before go starts, so every thread
		// and every compiler it runs inherits it.
		if n, err := exec.LookPath("nice"); err == nil {
			cmd = exec.CommandContext(ctx, n, append([]string{"-n", strconv.Itoa(nice), goTool()}, args...)...)
		}
	}
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	var stderr strings.Builder
	cmd.Stdout = &stderr
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("harness: build %s: %w\n%s", name, err, stderr.String())
	}
	logf(log, "%s: built in %s\n", name, time.Since(start).Round(100*time.Millisecond))
	return nil
}

// goTool returns the go command that runs this program's tests, falling back
// to the one on PATH.
func goTool() string {
	if p := filepath.Join(runtime.GOROOT(), "bin", "go"); isFile(p) {
		return p
	}
	return "go"
}

func logf(w io.Writer, format string, args ...any) {
	if w != nil {
		fmt.Fprintf(w, format, args...)
	}
}
