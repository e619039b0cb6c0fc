package e2e

import (
	"context"
	"net/url"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	"github.com/crewtrace/crewtrace/e2e/harness"
)

// kafkaProfile is the docker-compose.yml profile of the Kafka scale-out
// (docs/SCALE.md).
const kafkaProfile = "kafka"

// profiledService is a compose service with the keys the kafka profile's
// checks read.
type profiledService struct {
	Profiles    []string          `yaml:"profiles"`
	Image       string            `yaml:"image"`
	Build       *composeBuild     `yaml:"build"`
	Command     []string          `yaml:"command"`
	Environment map[string]string `yaml:"environment"`
	Ports       []string          `yaml:"ports"`
	Volumes     []string          `yaml:"volumes"`
}

// readProfiled parses a compose file (anchors and merge keys resolved, as
// compose does) after interpolating env.
func readProfiled(t *testing.T, path string, env map[string]string) (map[string]profiledService, map[string]any) {
	t.Helper()
	text, err := interpolate(readNoComments(t, path), env)
	require.NoError(t, err, path)
	var c struct {
		Services map[string]profiledService `yaml:"services"`
		Volumes  map[string]any             `yaml:"volumes"`
	}
	require.NoError(t, yaml.Unmarshal([]byte(text), &c), path)
	return c.Services, c.Volumes
}

// configArg returns the file a collector service's command runs (its
// single --config), "" when it has none.
func configArg(cmd []string) string {
	i := slices.Index(cmd, "--config")
	if i < 0 || i+1 >= len(cmd) {
		return ""
	}
	return cmd[i+1]
}

// kafkaConfigVars returns the variables a deploy/kafka configuration reads
// and the ones it reads by name (password_env).
func kafkaConfigVars(t *testing.T, root, name string) (map[string]string, map[string]bool) {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(root, "deploy", "kafka", name))
	require.NoError(t, err)
	vars := map[string]string{}
	for _, m := range envRef.FindAllStringSubmatch(string(raw), -1) {
		vars[m[1]] = m[2]
	}
	byName := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^\s*password_env:\s*(\S+)`).FindAllStringSubmatch(string(raw), -1) {
		byName[m[1]] = true
	}
	return vars, byName
}

// TestComposeKafkaProfile: docker-compose.yml's kafka profile runs a Kafka
// broker in KRaft mode, two gateways on deploy/kafka/gateway.yaml and three
// session collectors on deploy/kafka/session-collector.yaml, all inactive
// without the profile; every variable it sets is one the configuration
// reads; the session collectors share one consumer group and one
// PostgreSQL store (whose password deploy/compose.postgres.yml gives them,
// never a default) and each keeps its storage on a volume of its own; the
// collector image holds deploy/kafka where the commands read it; and the
// distribution's validate command accepts each configuration with the
// environment compose gives it.
func TestComposeKafkaProfile(t *testing.T) {
	root := repoRoot(t)
	services, volumes := readProfiled(t, filepath.Join(root, "docker-compose.yml"), map[string]string{})

	var gateways, sessions []string
	for name, s := range services {
		switch path.Base(configArg(s.Command)) {
		case "gateway.yaml":
			gateways = append(gateways, name)
		case "session-collector.yaml":
			sessions = append(sessions, name)
		}
	}
	slices.Sort(gateways)
	slices.Sort(sessions)
	require.Len(t, gateways, 2, "two gateway collectors")
	require.Len(t, sessions, 3, "three session collectors")
	require.Contains(t, services, "kafka")
	require.Contains(t, services, "crew-kafka")
	for name, s := range services {
		inKafka := slices.Contains(gateways, name) || slices.Contains(sessions, name) || name == "kafka" || name == "crew-kafka"
		assert.Equal(t, inKafka, slices.Contains(s.Profiles, kafkaProfile), "service %s in profile %s", name, kafkaProfile)
		if !inKafka {
			assert.Empty(t, s.Profiles, "service %s runs by default", name)
		}
	}

	// The broker: the official image, KRaft (broker and controller in one
	// node), more partitions than session collectors.
	kafka := services["kafka"]
	assert.True(t, strings.HasPrefix(kafka.Image, "apache/kafka:"), "the official Kafka image, got %s", kafka.Image)
	assert.True(t, pinned(kafka.Image), kafka.Image)
	ke := kafka.Environment
	roles := strings.Split(ke["KAFKA_PROCESS_ROLES"], ",")
	assert.ElementsMatch(t, []string{"broker", "controller"}, roles, "KRaft: no ZooKeeper")
	assert.Contains(t, ke["KAFKA_CONTROLLER_QUORUM_VOTERS"], "@kafka:", "the controller quorum is this node")
	parts, err := strconv.Atoi(ke["KAFKA_NUM_PARTITIONS"])
	require.NoError(t, err, "KAFKA_NUM_PARTITIONS")
	assert.Greater(t, parts, len(sessions), "more partitions than session collectors")
	adv, err := url.Parse(ke["KAFKA_ADVERTISED_LISTENERS"])
	require.NoError(t, err)
	assert.Equal(t, "kafka", adv.Hostname(), "advertised on the kafka service's name")

	// The image holds deploy/kafka where the commands read it.
	df := parseDockerfile(t, filepath.Join(root, "deploy", "collector.Dockerfile"))
	var kafkaDir string
	for _, cp := range df.copies {
		if cp.from == "" && slices.Contains(cp.sources, "deploy/kafka") {
			kafkaDir = strings.TrimSuffix(cp.dest, "/")
		}
	}
	require.NotEmpty(t, kafkaDir, "%s copies deploy/kafka", df.path)

	check := func(name, file string) map[string]string {
		s := services[name]
		assert.Equal(t, path.Join(kafkaDir, file), configArg(s.Command), "%s runs the image's %s", name, file)
		require.NotNil(t, s.Build, "%s is built from this repository", name)
		assert.Equal(t, "deploy/collector.Dockerfile", s.Build.Dockerfile, name)
		vars, byName := kafkaConfigVars(t, root, file)
		for k := range s.Environment {
			_, read := vars[k]
			assert.True(t, read || byName[k], "%s sets %s, which %s does not read", name, k, file)
		}
		env := s.Environment
		assert.Equal(t, adv.Host, env[harness.EnvKafkaBrokers], "%s bootstraps from the advertised listener", name)
		for _, p := range s.Ports {
			assert.True(t, strings.HasPrefix(p, "127.0.0.1:"), "%s: port %s on loopback", name, p)
		}
		for _, a := range []string{harness.EnvHealth, harness.EnvOTLPGRPC} {
			if v, ok := env[a]; ok {
				host, _ := port(t, v)
				assert.Equal(t, "0.0.0.0", host, "%s: %s on every container interface", name, a)
			}
		}
		return env
	}
	for _, g := range gateways {
		check(g, "gateway.yaml")
	}
	instances := map[string]bool{}
	mounts := map[string]bool{}
	var group, dsn string
	for i, name := range sessions {
		env := check(name, "session-collector.yaml")
		if i == 0 {
			group, dsn = env[harness.EnvKafkaGroup], env[harness.EnvStoreDSN]
		}
		assert.Equal(t, group, env[harness.EnvKafkaGroup], "%s: one consumer group", name)
		assert.Equal(t, dsn, env[harness.EnvStoreDSN], "%s: one shared store", name)
		assert.NotContains(t, env, harness.EnvPGPassword, "%s: the password comes from the PostgreSQL override", name)
		assert.False(t, instances[env[harness.EnvInstance]], "%s: instance name %q used twice", name, env[harness.EnvInstance])
		instances[env[harness.EnvInstance]] = true
		// Its storage directory is on a named volume of its own.
		var vol string
		for _, v := range services[name].Volumes {
			src, dst, _ := strings.Cut(v, ":")
			if strings.HasPrefix(env[harness.EnvStorageDir]+"/", strings.TrimSuffix(dst, "/")+"/") {
				vol = src
			}
		}
		require.NotEmpty(t, vol, "%s: %s is on a volume", name, env[harness.EnvStorageDir])
		assert.Contains(t, volumes, vol, "%s: %s is a named volume", name, vol)
		assert.False(t, mounts[vol], "%s: volume %s shared with another session collector", name, vol)
		mounts[vol] = true
	}
	require.NotEmpty(t, group)
	u, err := url.Parse(dsn)
	require.NoError(t, err)
	assert.Equal(t, "postgres", u.Hostname(), "the store is the PostgreSQL override's service")
	_, hasPw := u.User.Password()
	assert.False(t, hasPw, "no password in the DSN")

	crew := services["crew-kafka"].Environment
	cu, err := url.Parse(crew["OTEL_EXPORTER_OTLP_ENDPOINT"])
	require.NoError(t, err)
	assert.Equal(t, gateways[0], cu.Hostname(), "the crew sends to a gateway")
	_, gwPort := port(t, services[gateways[0]].Environment[harness.EnvOTLPGRPC])
	assert.Equal(t, gwPort, cu.Port())
	assert.Equal(t, "grpc", crew["OTEL_EXPORTER_OTLP_PROTOCOL"])

	// The PostgreSQL override gives each session collector the password,
	// required, never defaulted.
	over, _ := readProfiled(t, filepath.Join(root, pgOverride), map[string]string{"CREWTRACE_PG_PASSWORD": "s3cret-Ω"})
	for _, name := range sessions {
		assert.Equal(t, "s3cret-Ω", over[name].Environment[harness.EnvPGPassword], "%s gets the password from %s", name, pgOverride)
	}

	// validate, with each collector's environment as compose makes it.
	ctx, cancel := context.WithTimeout(context.Background(), testBudget(t))
	defer cancel()
	bin, err := harness.BuildCollector(ctx, root, harness.BuildDir(root), testWriter{t})
	require.NoError(t, err)
	for _, name := range append(gateways, sessions...) {
		t.Run("validate "+name, func(t *testing.T) {
			file := path.Base(configArg(services[name].Command))
			cmd := exec.CommandContext(ctx, bin, "validate", "--config", filepath.Join(root, "deploy", "kafka", file))
			cmd.Env = os.Environ()
			for k, v := range services[name].Environment {
				cmd.Env = append(cmd.Env, k+"="+v)
			}
			for k, v := range over[name].Environment {
				cmd.Env = append(cmd.Env, k+"="+v)
			}
			out, err := cmd.CombinedOutput()
			assert.NoError(t, err, string(out))
		})
	}
}
