package e2e

import (
	"bufio"
	"context"
	"errors"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	"github.com/crewtrace/crewtrace/e2e/harness"
)

// There is no Docker engine where these tests run: they check what can be
// checked without one — that docker-compose.yml, the Dockerfiles and
// collector-config.yaml agree, that every referenced file exists, that every
// image is pinned, and that the modules the Dockerfiles build are buildable
// on their own.

type composeFile struct {
	Services map[string]composeService `yaml:"services"`
	Volumes  map[string]any            `yaml:"volumes"`
}

type composeService struct {
	Image       string            `yaml:"image"`
	Build       *composeBuild     `yaml:"build"`
	Command     []string          `yaml:"command"`
	Environment map[string]string `yaml:"environment"`
	Ports       []string          `yaml:"ports"`
	Volumes     []string          `yaml:"volumes"`
}

type composeBuild struct {
	Context    string `yaml:"context"`
	Dockerfile string `yaml:"dockerfile"`
}

func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := harness.RepoRoot()
	require.NoError(t, err)
	return root
}

func readCompose(t *testing.T, root string) composeFile {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(root, "docker-compose.yml"))
	require.NoError(t, err)
	var c composeFile
	require.NoError(t, yaml.Unmarshal(raw, &c))
	for _, name := range []string{"jaeger", "collector", "crew", "prometheus"} {
		require.Contains(t, c.Services, name, "docker-compose.yml service")
	}
	return c
}

// dockerfile is a parsed Dockerfile: its stages' base images and COPY sources.
type dockerfile struct {
	path   string
	froms  []fromLine
	copies []copyLine
	cmd    string
}

type fromLine struct{ image, alias string }

type copyLine struct {
	from    string // --from stage, "" for the build context
	sources []string
	dest    string
}

func parseDockerfile(t *testing.T, path string) dockerfile {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	d := dockerfile{path: path}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fields := strings.Fields(line)
		switch strings.ToUpper(fields[0]) {
		case "FROM":
			fl := fromLine{image: fields[1]}
			if len(fields) >= 4 && strings.EqualFold(fields[2], "AS") {
				fl.alias = fields[3]
			}
			d.froms = append(d.froms, fl)
		case "COPY":
			cl := copyLine{}
			args := fields[1:]
			for len(args) > 0 && strings.HasPrefix(args[0], "--") {
				if v, ok := strings.CutPrefix(args[0], "--from="); ok {
					cl.from = v
				}
				args = args[1:]
			}
			require.GreaterOrEqual(t, len(args), 2, "%s: %s", path, line)
			cl.sources, cl.dest = args[:len(args)-1], args[len(args)-1]
			d.copies = append(d.copies, cl)
		case "CMD":
			d.cmd = strings.TrimSpace(line[len(fields[0]):])
		}
	}
	require.NoError(t, sc.Err())
	require.NotEmpty(t, d.froms, "%s has no FROM", path)
	return d
}

// pinned reports whether an image reference names a version: a digest, or a
// tag other than latest.
func pinned(ref string) bool {
	if strings.Contains(ref, "@sha256:") {
		return true
	}
	name := ref[strings.LastIndex(ref, "/")+1:]
	_, tag, ok := strings.Cut(name, ":")
	return ok && tag != "" && tag != "latest"
}

func TestPinnedHelper(t *testing.T) {
	for ref, want := range map[string]bool{
		"golang:1.26": true, "alpine:3.22": true, "jaegertracing/jaeger:2.13.0": true,
		"localhost:5000/x:1": true, "img@sha256:0123": true,
		"alpine": false, "alpine:latest": false, "jaegertracing/jaeger": false, "localhost:5000/x": false,
	} {
		assert.Equal(t, want, pinned(ref), ref)
	}
}

func composeDockerfiles(t *testing.T, root string, c composeFile) map[string]dockerfile {
	t.Helper()
	out := map[string]dockerfile{}
	for name, s := range c.Services {
		if s.Build == nil {
			continue
		}
		ctxDir := filepath.Join(root, s.Build.Context)
		st, err := os.Stat(ctxDir)
		require.NoError(t, err, "service %s: build context", name)
		require.True(t, st.IsDir(), "service %s: build context %s is a directory", name, ctxDir)
		df := s.Build.Dockerfile
		if df == "" {
			df = "Dockerfile"
		}
		out[name] = parseDockerfile(t, filepath.Join(ctxDir, df))
	}
	return out
}

func TestComposeBuildContextsAndDockerfiles(t *testing.T) {
	root := repoRoot(t)
	c := readCompose(t, root)
	dfs := composeDockerfiles(t, root, c)
	assert.Contains(t, dfs, "collector", "the collector is built from this repository")
	assert.Contains(t, dfs, "crew", "the example crew is built from this repository")
	assert.NotContains(t, dfs, "jaeger", "Jaeger comes from its image, with the UI")

	for name, d := range dfs {
		ctxDir := filepath.Join(root, c.Services[name].Build.Context)
		// Multi-stage: a Go build stage, then a small runtime image.
		assert.GreaterOrEqual(t, len(d.froms), 2, "%s: multi-stage", d.path)
		assert.True(t, strings.HasPrefix(d.froms[0].image, "golang:1.26"), "%s: builds with golang:1.26, got %s", d.path, d.froms[0].image)
		assert.False(t, strings.HasPrefix(d.froms[len(d.froms)-1].image, "golang"), "%s: the runtime image is not the Go toolchain", d.path)

		stages := map[string]bool{}
		for _, f := range d.froms {
			if !stages[f.image] {
				assert.True(t, pinned(f.image), "%s: FROM %s is not pinned to a version", d.path, f.image)
			}
			if f.alias != "" {
				stages[f.alias] = true
			}
		}
		for _, cp := range d.copies {
			if cp.from != "" {
				assert.True(t, stages[cp.from], "%s: COPY --from=%s names no earlier stage", d.path, cp.from)
				continue
			}
			for _, src := range cp.sources {
				_, err := os.Stat(filepath.Join(ctxDir, src))
				assert.NoError(t, err, "%s: COPY source %s", d.path, src)
			}
		}
	}
	// The collector image holds the repository's collector-config.yaml where the command reads it.
	col := dfs["collector"]
	var configDest string
	for _, cp := range col.copies {
		if cp.from == "" && slices.Contains(cp.sources, "collector-config.yaml") {
			configDest = cp.dest
		}
	}
	require.NotEmpty(t, configDest, "%s copies collector-config.yaml", col.path)
	cmd := c.Services["collector"].Command
	i := slices.Index(cmd, "--config")
	require.True(t, i >= 0 && i+1 < len(cmd), "collector command has --config: %v", cmd)
	assert.Equal(t, configDest, cmd[i+1], "the collector runs the collector-config.yaml its image holds")
	assert.Contains(t, col.cmd, configDest, "the image's own CMD runs it too")
}

func TestComposeImagesPinned(t *testing.T) {
	root := repoRoot(t)
	c := readCompose(t, root)
	for name, s := range c.Services {
		if s.Build == nil {
			require.NotEmpty(t, s.Image, "service %s has neither image nor build", name)
		}
		if s.Image != "" {
			assert.True(t, pinned(s.Image), "service %s: image %q is not pinned to a version", name, s.Image)
		}
	}
	assert.True(t, strings.HasPrefix(c.Services["jaeger"].Image, "jaegertracing/jaeger:2."), "Jaeger v2 image, got %s", c.Services["jaeger"].Image)
}

var envRef = regexp.MustCompile(`\$\{env:([A-Za-z0-9_]+)(?::-([^}]*))?\}`)

// configVars returns the variables collector-config.yaml reads, with their defaults.
func configVars(t *testing.T, root string) map[string]string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(root, "collector-config.yaml"))
	require.NoError(t, err)
	vars := map[string]string{}
	for _, m := range envRef.FindAllStringSubmatch(string(raw), -1) {
		vars[m[1]] = m[2]
	}
	return vars
}

// sinkVar selects the collector's sink overlay in docker-compose.yml.
const sinkVar = "${CREWTRACE_SESSION_SINK:-file}"

// sinkOverlays returns the sink overlays in deploy/sinks by name (file,
// postgres ...): the files docker-compose.yml's second --config can name.
func sinkOverlays(t *testing.T, root string) map[string]string {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(root, "deploy", "sinks", "*.yaml"))
	require.NoError(t, err)
	out := map[string]string{}
	for _, p := range paths {
		out[strings.TrimSuffix(filepath.Base(p), ".yaml")] = p
	}
	require.Contains(t, out, "file", "the default sink overlay")
	return out
}

// passwordEnvs returns the variables the sink overlays name in password_env:
// secrets read by name, never written into a configuration.
func passwordEnvs(t *testing.T, root string) map[string]bool {
	t.Helper()
	out := map[string]bool{}
	for _, p := range sinkOverlays(t, root) {
		raw, err := os.ReadFile(p)
		require.NoError(t, err)
		for _, m := range regexp.MustCompile(`(?m)^\s*password_env:\s*(\S+)`).FindAllStringSubmatch(string(raw), -1) {
			out[m[1]] = true
		}
	}
	return out
}

// The collector's second --config names a sink overlay by
// CREWTRACE_SESSION_SINK; the image holds every overlay there.
func TestComposeSinkOverlays(t *testing.T) {
	root := repoRoot(t)
	c := readCompose(t, root)
	cmd := c.Services["collector"].Command
	var overlay string
	for i, arg := range cmd {
		if arg == "--config" && i+1 < len(cmd) && strings.Contains(cmd[i+1], sinkVar) {
			overlay = cmd[i+1]
		}
	}
	require.NotEmpty(t, overlay, "the collector command adds a sink overlay named by %s: %v", sinkVar, cmd)
	dir := filepath.Dir(overlay)
	col := composeDockerfiles(t, root, c)["collector"]
	var copied bool
	for _, cp := range col.copies {
		if cp.from == "" && slices.Contains(cp.sources, "deploy/sinks") && strings.TrimSuffix(cp.dest, "/") == dir {
			copied = true
		}
	}
	assert.True(t, copied, "%s copies deploy/sinks to %s", col.path, dir)
	for name := range sinkOverlays(t, root) {
		assert.Equal(t, filepath.Join(dir, name+".yaml"), strings.ReplaceAll(overlay, sinkVar, name))
	}
}

// published returns container port -> host binding ("127.0.0.1:16686") of a service.
func published(t *testing.T, s composeService) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, p := range s.Ports {
		parts := strings.Split(p, ":")
		require.Len(t, parts, 3, "port %q is published as host_ip:host_port:container_port", p)
		assert.Equal(t, "127.0.0.1", parts[0], "port %q is bound to loopback on the host", p)
		out[parts[2]] = parts[0] + ":" + parts[1]
	}
	return out
}

func port(t *testing.T, hostport string) (string, string) {
	t.Helper()
	host, p, err := net.SplitHostPort(hostport)
	require.NoError(t, err, hostport)
	return host, p
}

func TestComposeAgreesWithCollectorConfig(t *testing.T) {
	root := repoRoot(t)
	c := readCompose(t, root)
	vars := configVars(t, root)
	collector, jaeger, crew := c.Services["collector"], c.Services["jaeger"], c.Services["crew"]
	env := collector.Environment

	// Secrets are read by name (the postgres sink's password_env), so they
	// never appear on the command line; a variable named that way is read too.
	byName := passwordEnvs(t, root)
	require.NotEmpty(t, byName, "the postgres sink overlay reads its password by name")
	for k := range env {
		if byName[k] {
			continue
		}
		assert.Contains(t, vars, k, "docker-compose.yml sets %s, which collector-config.yaml does not read", k)
	}
	for _, arg := range collector.Command {
		assert.NotRegexp(t, `://[^/@:]+:[^/@]+@`, arg, "no password in a DSN on the collector's command line")
	}
	for _, k := range []string{harness.EnvOTLPGRPC, harness.EnvOTLPHTTP, harness.EnvJaegerOTLP, harness.EnvJaegerUI, harness.EnvSessionsDir, harness.EnvHealth} {
		assert.Contains(t, vars, k, "collector-config.yaml reads %s", k)
		require.Contains(t, env, k, "docker-compose.yml sets %s for the collector", k)
	}
	// The harness's defaults are collector-config.yaml's.
	def := harness.DefaultAddrs()
	assert.Equal(t, def.OTLPGRPC, vars[harness.EnvOTLPGRPC])
	assert.Equal(t, def.OTLPHTTP, vars[harness.EnvOTLPHTTP])
	assert.Equal(t, def.Health, vars[harness.EnvHealth])
	assert.Equal(t, def.JaegerOTLPGRPC, vars[harness.EnvJaegerOTLP])
	assert.Equal(t, "http://"+def.JaegerQueryHTTP, vars[harness.EnvJaegerUI])

	// The collector listens where its ports are published, on all container interfaces.
	colPorts := published(t, collector)
	for _, k := range []string{harness.EnvOTLPGRPC, harness.EnvOTLPHTTP, harness.EnvHealth} {
		host, p := port(t, env[k])
		assert.Equal(t, "0.0.0.0", host, "%s listens on every container interface", k)
		assert.Contains(t, colPorts, p, "%s=%s: port %s is published", k, env[k], p)
	}

	// It exports to the jaeger service's OTLP/gRPC port (4317 in the image's default config).
	host, p := port(t, env[harness.EnvJaegerOTLP])
	assert.Equal(t, "jaeger", host, "%s names the jaeger service", harness.EnvJaegerOTLP)
	assert.Equal(t, "4317", p, "Jaeger's image receives OTLP/gRPC on 4317")

	// trace_url points where the host reaches Jaeger's UI.
	ui, err := url.Parse(env[harness.EnvJaegerUI])
	require.NoError(t, err)
	jaegerPorts := published(t, jaeger)
	require.Contains(t, jaegerPorts, "16686", "Jaeger's UI is published")
	_, uiHostPort := port(t, jaegerPorts["16686"])
	assert.Equal(t, uiHostPort, ui.Port(), "%s uses the UI's published port", harness.EnvJaegerUI)
	assert.Contains(t, []string{"localhost", "127.0.0.1"}, ui.Hostname(), "%s is reachable from the host", harness.EnvJaegerUI)

	// Session records land on a named volume.
	dir := env[harness.EnvSessionsDir]
	var mounted string
	for _, v := range collector.Volumes {
		src, dst, _ := strings.Cut(v, ":")
		if strings.TrimSuffix(dst, ":rw") == dir {
			mounted = src
		}
	}
	require.NotEmpty(t, mounted, "a volume is mounted at %s", dir)
	assert.Contains(t, c.Volumes, mounted, "%s is a named volume", mounted)

	// The crew sends OTLP to the collector service, on the port of the protocol
	// it uses (the OTel SDK default is http/protobuf).
	crewURL, err := url.Parse(crew.Environment["OTEL_EXPORTER_OTLP_ENDPOINT"])
	require.NoError(t, err)
	assert.Equal(t, "collector", crewURL.Hostname(), "the crew exports to the collector service")
	endpointVar := harness.EnvOTLPHTTP
	if crew.Environment["OTEL_EXPORTER_OTLP_PROTOCOL"] == "grpc" {
		endpointVar = harness.EnvOTLPGRPC
	}
	_, otlpPort := port(t, env[endpointVar])
	assert.Equal(t, otlpPort, crewURL.Port(), "the crew exports to the collector's port for its protocol (%s)", endpointVar)
}

// composeVar is a variable reference in a compose file: ${NAME}, ${NAME:-default},
// ${NAME-default}, ${NAME:?message}, ${NAME?message}.
var composeVar = regexp.MustCompile(`\$\{([A-Za-z0-9_]+)(?:(:?[-?])([^}]*))?\}`)

// interpolate substitutes compose variables in text from env as compose
// does, and fails as compose does when a required variable (:? unset or
// empty, ? unset) is missing, with the file's message.
func interpolate(text string, env map[string]string) (string, error) {
	var errs []string
	out := composeVar.ReplaceAllStringFunc(text, func(ref string) string {
		m := composeVar.FindStringSubmatch(ref)
		name, op, arg := m[1], m[2], m[3]
		v, set := env[name]
		switch op {
		case ":-":
			if v == "" {
				return arg
			}
		case "-":
			if !set {
				return arg
			}
		case ":?":
			if v == "" {
				errs = append(errs, "required variable "+name+" is missing a value: "+arg)
			}
		case "?":
			if !set {
				errs = append(errs, "required variable "+name+" is missing a value: "+arg)
			}
		}
		return v
	})
	if len(errs) > 0 {
		return "", errors.New(strings.Join(errs, "; "))
	}
	return out, nil
}

// pgOverride is the compose override that adds PostgreSQL.
const pgOverride = "deploy/compose.postgres.yml"

// readNoComments reads a YAML file without its comment lines (compose does
// not interpolate comments).
func readNoComments(t *testing.T, path string) string {
	t.Helper()
	raw, err := os.ReadFile(path)
	require.NoError(t, err)
	var b strings.Builder
	for _, line := range strings.Split(string(raw), "\n") {
		if !strings.HasPrefix(strings.TrimSpace(line), "#") {
			b.WriteString(line + "\n")
		}
	}
	return b.String()
}

// The default `docker compose up` needs no variable at all; the PostgreSQL
// override has no default password: compose refuses to start without
// CREWTRACE_PG_PASSWORD, and with it the database and the collector get
// exactly that value. (A required variable in a profile of
// docker-compose.yml would stop every `docker compose up`: compose checks
// the whole file, inactive profiles included.)
func TestComposePostgresPasswordRequired(t *testing.T) {
	root := repoRoot(t)
	base := readNoComments(t, filepath.Join(root, "docker-compose.yml"))
	_, err := interpolate(base, map[string]string{})
	require.NoError(t, err, "docker-compose.yml needs no variable")
	assert.False(t, strings.Contains(base, "CREWTRACE_PG_PASSWORD"), "no password, and no default one, in the base file")

	raw := readNoComments(t, filepath.Join(root, pgOverride))
	for _, m := range composeVar.FindAllStringSubmatch(raw, -1) {
		if strings.Contains(m[1], "PASSWORD") {
			assert.Equal(t, ":?", m[2], "%s: %s is required, never defaulted", pgOverride, m[0])
			assert.NotEmpty(t, strings.TrimSpace(m[3]), "%s: %s says what to set", pgOverride, m[0])
		}
	}
	_, err = interpolate(raw, map[string]string{})
	require.Error(t, err, "compose refuses to start without a password")
	assert.Contains(t, err.Error(), "CREWTRACE_PG_PASSWORD")
	_, err = interpolate(raw, map[string]string{"CREWTRACE_PG_PASSWORD": ""})
	require.Error(t, err, "an empty password is refused too")

	out, err := interpolate(raw, map[string]string{"CREWTRACE_PG_PASSWORD": "s3cret-Ω"})
	require.NoError(t, err)
	var c composeFile
	require.NoError(t, yaml.Unmarshal([]byte(out), &c))
	assert.Equal(t, "s3cret-Ω", c.Services["postgres"].Environment["POSTGRES_PASSWORD"])
	assert.Equal(t, "s3cret-Ω", c.Services["collector"].Environment["CREWTRACE_PG_PASSWORD"])
	assert.True(t, passwordEnvs(t, root)["CREWTRACE_PG_PASSWORD"], "the postgres sink overlay reads it by name")
	assert.True(t, pinned(c.Services["postgres"].Image))
	for _, p := range c.Services["postgres"].Ports {
		assert.True(t, strings.HasPrefix(p, "127.0.0.1:"), "the database is published on loopback only: %s", p)
	}
	cmd := c.Services["collector"].Command
	assert.Equal(t, "/etc/crewtrace/sinks/postgres.yaml", cmd[len(cmd)-1], "the override selects the postgres sink overlay")
}

// TestComposeCollectorEnvValidates runs the distribution's validate command on
// collector-config.yaml, alone and with each sink overlay, with the
// environment docker-compose.yml gives it.
func TestComposeCollectorEnvValidates(t *testing.T) {
	root := repoRoot(t)
	c := readCompose(t, root)
	ctx, cancel := context.WithTimeout(context.Background(), testBudget(t))
	defer cancel()
	bin, err := harness.BuildCollector(ctx, root, harness.BuildDir(root), testWriter{t})
	require.NoError(t, err)
	runs := map[string][]string{"collector-config.yaml": nil}
	for name, p := range sinkOverlays(t, root) {
		runs["sink "+name] = []string{"--config", p}
	}
	// The collector's environment as the PostgreSQL override makes it.
	out, err := interpolate(readNoComments(t, filepath.Join(root, pgOverride)), map[string]string{"CREWTRACE_PG_PASSWORD": "x"})
	require.NoError(t, err)
	var override composeFile
	require.NoError(t, yaml.Unmarshal([]byte(out), &override))
	for name, extra := range runs {
		t.Run(name, func(t *testing.T) {
			args := append([]string{"validate", "--config", filepath.Join(root, "collector-config.yaml")}, extra...)
			cmd := exec.CommandContext(ctx, bin, args...)
			cmd.Env = os.Environ()
			for k, v := range c.Services["collector"].Environment {
				cmd.Env = append(cmd.Env, k+"="+v)
			}
			for k, v := range override.Services["collector"].Environment {
				cmd.Env = append(cmd.Env, k+"="+v)
			}
			out, err := cmd.CombinedOutput()
			assert.NoError(t, err, string(out))
		})
	}
}

// The sinks are the sections that are set: an overlay that turns off both
// of collector-config.yaml's leaves none, which validate refuses, naming
// the sections.
func TestNoSinkSectionRefused(t *testing.T) {
	root := repoRoot(t)
	ctx, cancel := context.WithTimeout(context.Background(), testBudget(t))
	defer cancel()
	bin, err := harness.BuildCollector(ctx, root, harness.BuildDir(root), testWriter{t})
	require.NoError(t, err)
	overlay := filepath.Join(t.TempDir(), "no-sinks.yaml")
	require.NoError(t, os.WriteFile(overlay, []byte("exporters:\n  session:\n    file: {enabled: false}\n    sqlite: {enabled: false}\n"), 0o600))
	out, err := exec.CommandContext(ctx, bin, "validate", "--config", filepath.Join(root, "collector-config.yaml"), "--config", overlay).CombinedOutput()
	require.Error(t, err)
	assert.Contains(t, string(out), "at least one sink section must be set (file, http, postgres, sqlite), got none")
}

// TestDockerModulesBuildAlone checks that the modules the Dockerfiles build
// with GOWORK=off resolve every package from their own go.mod/go.sum (and
// replace directives), as they must inside the image.
func TestDockerModulesBuildAlone(t *testing.T) {
	root := repoRoot(t)
	for _, dir := range []string{"cmd/otelcol-crewtrace", "examples"} {
		t.Run(dir, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			cmd := exec.CommandContext(ctx, "go", "list", "-mod=readonly", "-deps", "./...")
			cmd.Dir = filepath.Join(root, dir)
			cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=readonly")
			out, err := cmd.CombinedOutput()
			assert.NoError(t, err, "GOWORK=off go list -deps ./... in %s:\n%s", dir, out)
		})
	}
}

// targetsIn reads a Prometheus file_sd targets file: its targets, in order.
func targetsIn(t *testing.T, path string) []string {
	t.Helper()
	raw, err := os.ReadFile(path)
	require.NoError(t, err)
	var groups []struct {
		Targets []string `yaml:"targets"`
	}
	require.NoError(t, yaml.Unmarshal(raw, &groups), path)
	var out []string
	for _, g := range groups {
		out = append(out, g.Targets...)
	}
	return out
}

// TestComposePrometheus: the prometheus service runs deploy/prometheus (the
// scrape configuration and rule file the tests run) with compose-targets/
// over targets/, naming the collector service at the ports collector-config.yaml
// listens on there; targets/ names collector-config.yaml's loopback defaults;
// promtool accepts the configuration as compose lays it out.
func TestComposePrometheus(t *testing.T) {
	root := repoRoot(t)
	c := readCompose(t, root)
	vars := configVars(t, root)
	prom, collector := c.Services["prometheus"], c.Services["collector"]

	assert.True(t, strings.HasPrefix(prom.Image, "prom/prometheus:v2."), "Prometheus 2 (as Debian's, which the tests run), got %s", prom.Image)
	assert.Contains(t, prom.Command, "--config.file=/etc/prometheus/prometheus.yml")
	mounts := map[string]string{} // container path -> host path
	for _, v := range prom.Volumes {
		parts := strings.Split(v, ":")
		require.GreaterOrEqual(t, len(parts), 2, "volume %q", v)
		mounts[parts[1]] = parts[0]
	}
	assert.Equal(t, "./"+harness.PrometheusDir, mounts["/etc/prometheus"], "the repository's Prometheus configuration and rules")
	assert.Equal(t, "./"+harness.PrometheusDir+"/compose-targets", mounts["/etc/prometheus/targets"], "compose's targets over targets/")
	assert.Contains(t, published(t, prom), "9090", "Prometheus's UI and API are published (on loopback)")

	// The collector's two metrics endpoints, inside compose and by default.
	env := collector.Environment
	host, crewPort := port(t, env[harness.EnvPrometheus])
	assert.Equal(t, "0.0.0.0", host, "%s listens on every container interface", harness.EnvPrometheus)
	assert.Equal(t, "0.0.0.0", env[harness.EnvMetricsHost])
	def := harness.DefaultAddrs()
	assert.Equal(t, def.CrewMetrics, vars[harness.EnvPrometheus], "collector-config.yaml's default is the harness's")
	assert.Equal(t, def.Metrics, vars[harness.EnvMetricsHost]+":"+vars[harness.EnvMetricsPort])

	files, err := harness.PrometheusTargetFiles(root)
	require.NoError(t, err)
	require.Contains(t, files, harness.JobCrewtrace)
	require.Contains(t, files, harness.JobOtelcol)
	dir := filepath.Join(root, harness.PrometheusDir)
	for job, want := range map[string][2]string{
		harness.JobCrewtrace: {"collector:" + crewPort, def.CrewMetrics},
		harness.JobOtelcol:   {"collector:" + env[harness.EnvMetricsPort], def.Metrics},
	} {
		rel, ok := strings.CutPrefix(files[job], "targets/")
		require.True(t, ok, "job %s reads its targets from targets/: %s", job, files[job])
		assert.Equal(t, []string{want[0]}, targetsIn(t, filepath.Join(dir, "compose-targets", rel)), "compose: job %s scrapes the collector service", job)
		assert.Equal(t, []string{want[1]}, targetsIn(t, filepath.Join(dir, files[job])), "local: job %s scrapes collector-config.yaml's default", job)
	}

	// promtool on the configuration as the container sees it.
	tmp := t.TempDir()
	require.NoError(t, os.CopyFS(filepath.Join(tmp, "prometheus"), os.DirFS(dir)))
	require.NoError(t, os.RemoveAll(filepath.Join(tmp, "prometheus", "targets")))
	require.NoError(t, os.CopyFS(filepath.Join(tmp, "prometheus", "targets"), os.DirFS(filepath.Join(dir, "compose-targets"))))
	out, err := exec.Command("promtool", "check", "config", filepath.Join(tmp, "prometheus", "prometheus.yml")).CombinedOutput()
	assert.NoError(t, err, string(out))
}
