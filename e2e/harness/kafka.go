package harness

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// BuildKfake builds e2e/cmd/crewtrace-kfake (a Kafka-protocol broker on
// 127.0.0.1, franz-go's kfake) into dir/crewtrace-kfake.
func BuildKfake(ctx context.Context, root, dir string, log io.Writer) (string, error) {
	out := filepath.Join(dir, "crewtrace-kfake")
	return out, goBuild(ctx, log, "kfake", root, workspaceEnv(root), out, "./e2e/cmd/crewtrace-kfake")
}

// Variables the deploy/kafka configurations read, beside the Env* of
// collector-config.yaml they share (OTLP, health, metrics, grace period,
// session timeout, log level).
const (
	EnvKafkaBrokers        = "CREWTRACE_KAFKA_BROKERS"
	EnvKafkaTopic          = "CREWTRACE_KAFKA_TOPIC"
	EnvKafkaGroup          = "CREWTRACE_KAFKA_GROUP"
	EnvKafkaSessionTimeout = "CREWTRACE_KAFKA_SESSION_TIMEOUT"
	EnvInstance            = "CREWTRACE_INSTANCE"
	EnvStoreDSN            = "CREWTRACE_STORE_DSN"
	EnvPGPassword          = "CREWTRACE_PG_PASSWORD"
	EnvStorageDir          = "CREWTRACE_STORAGE_DIR"
)

// KafkaOptions configure a KafkaStack.
type KafkaOptions struct {
	// Root is the repository checkout (deploy/kafka's configurations).
	Root string
	// Collector and Kfake are the programs.
	Collector, Kfake string
	// LogDir receives every process's log, the broker's data and the
	// collectors' storage.
	LogDir string
	// Partitions of the spans topic.
	Partitions int
	// Gateways and Sessions are how many of each collector to start.
	Gateways, Sessions int
	// StoreDSN (without password) and StorePassword: the shared store.
	StoreDSN, StorePassword string
	// SessionEnv is added to every session collector's environment
	// (grace period, timeouts ...).
	SessionEnv []string
	// SessionConfigs are overlays merged after session-collector.yaml.
	SessionConfigs []string
}

// KafkaCollector is one collector process of a KafkaStack.
type KafkaCollector struct {
	Name string
	// Proc is the running process (replaced by Restart).
	Proc *Process
	// OTLP is the OTLP/gRPC address (gateways); Metrics the collector's own
	// metrics endpoint.
	OTLP, Metrics string
	health        string
	args, env     []string
	bin, logDir   string
}

// KafkaStack is a broker, gateway collectors and session collectors on
// 127.0.0.1, running the shipped deploy/kafka configurations.
type KafkaStack struct {
	o          KafkaOptions
	Broker     *Process
	BrokerAddr string
	brokerData string
	Gateways   []*KafkaCollector
	Sessions   []*KafkaCollector
}

// StartKafkaStack starts the broker, then the session collectors, then the
// gateways, each waited for (the broker accepting connections, each
// collector's health check).
func StartKafkaStack(ctx context.Context, o KafkaOptions) (*KafkaStack, error) {
	s := &KafkaStack{o: o, brokerData: filepath.Join(o.LogDir, "kafka-data")}
	addr, err := FreeAddr()
	if err != nil {
		return nil, err
	}
	s.BrokerAddr = addr
	if err := s.startBroker(ctx); err != nil {
		return nil, err
	}
	for range o.Sessions {
		if _, err := s.AddSessionCollector(ctx); err != nil {
			return s, err
		}
	}
	for i := range o.Gateways {
		addrs, err := FreeAddrs(4)
		if err != nil {
			return s, err
		}
		c := &KafkaCollector{
			Name: fmt.Sprintf("gateway-%d", i+1), OTLP: addrs[0], Metrics: addrs[3], health: addrs[2],
			bin: o.Collector, logDir: o.LogDir,
			args: []string{"--config", filepath.Join(o.Root, "deploy", "kafka", "gateway.yaml")},
			env: append(s.commonEnv(addrs[3]),
				EnvOTLPGRPC+"="+addrs[0], EnvOTLPHTTP+"="+addrs[1], EnvHealth+"="+addrs[2]),
		}
		s.Gateways = append(s.Gateways, c)
		if err := c.start(ctx); err != nil {
			return s, err
		}
	}
	return s, nil
}

func (s *KafkaStack) commonEnv(metrics string) []string {
	host, port, _ := net.SplitHostPort(metrics)
	return []string{
		EnvKafkaBrokers + "=" + s.BrokerAddr,
		EnvMetricsHost + "=" + host, EnvMetricsPort + "=" + port,
	}
}

// AddSessionCollector starts one more session collector (storage of its
// own) in the group and returns it.
func (s *KafkaStack) AddSessionCollector(ctx context.Context) (*KafkaCollector, error) {
	i := len(s.Sessions) + 1
	addrs, err := FreeAddrs(2)
	if err != nil {
		return nil, err
	}
	name := fmt.Sprintf("session-%d", i)
	args := []string{"--config", filepath.Join(s.o.Root, "deploy", "kafka", "session-collector.yaml")}
	for _, c := range s.o.SessionConfigs {
		args = append(args, "--config", c)
	}
	c := &KafkaCollector{
		Name: name, Metrics: addrs[1], health: addrs[0], bin: s.o.Collector, logDir: s.o.LogDir, args: args,
		env: append(append(s.commonEnv(addrs[1]),
			EnvHealth+"="+addrs[0],
			EnvInstance+"="+name,
			EnvStoreDSN+"="+s.o.StoreDSN,
			EnvPGPassword+"="+s.o.StorePassword,
			EnvStorageDir+"="+filepath.Join(s.o.LogDir, "storage-"+name),
			EnvKafkaSessionTimeout+"=3s",
		), s.o.SessionEnv...),
	}
	s.Sessions = append(s.Sessions, c)
	return c, c.start(ctx)
}

func (c *KafkaCollector) start(ctx context.Context) error {
	p, err := Start(c.Name, c.logDir, c.env, c.bin, c.args...)
	if err != nil {
		return err
	}
	c.Proc = p
	if err := WaitHTTP(ctx, "http://"+c.health+"/", p); err != nil {
		return fmt.Errorf("%s: %w\n%s", c.Name, err, p.LogTail(20))
	}
	return nil
}

// Kill ends the collector with SIGKILL.
func (c *KafkaCollector) Kill() error { return c.Proc.Kill() }

// Stop stops the collector (SIGTERM, then SIGKILL after 20 s).
func (c *KafkaCollector) Stop() error { return c.Proc.Stop(20 * time.Second) }

// Restart starts the collector again with the same configuration and
// storage; its previous process must have exited.
func (c *KafkaCollector) Restart(ctx context.Context) error {
	if c.Proc != nil && c.Proc.Running() {
		return errors.New(c.Name + ": still running")
	}
	return c.start(ctx)
}

func (s *KafkaStack) startBroker(ctx context.Context) error {
	_, port, _ := net.SplitHostPort(s.BrokerAddr)
	p, err := Start("kafka", s.o.LogDir, nil, s.o.Kfake, "-port", port, "-data", s.brokerData,
		"-topic", "otlp_spans", "-partitions", fmt.Sprint(s.o.Partitions))
	if err != nil {
		return err
	}
	s.Broker = p
	return Poll(ctx, "kafka broker on "+s.BrokerAddr, func(ctx context.Context) (bool, string, error) {
		if !p.Running() {
			return false, "", fmt.Errorf("kfake exited:\n%s", p.LogTail(20))
		}
		return strings.Contains(p.Log(), "listening on"), "not listening yet", nil
	})
}

// RestartBroker stops the broker (SIGTERM: it saves its state), waits down
// for down, and starts it again on the same port and data.
func (s *KafkaStack) RestartBroker(ctx context.Context, down time.Duration) error {
	if err := s.Broker.Stop(20 * time.Second); err != nil {
		return fmt.Errorf("stop broker: %w", err)
	}
	select {
	case <-time.After(down):
	case <-ctx.Done():
		return ctx.Err()
	}
	return s.startBroker(ctx)
}

// CrewEnv is the OTLP environment of a crew sending its traces to gateway
// i (gateways take traces only: the crew's metrics are off).
func (s *KafkaStack) CrewEnv(i int) []string {
	return []string{
		"OTEL_EXPORTER_OTLP_ENDPOINT=http://" + s.Gateways[i].OTLP,
		"OTEL_EXPORTER_OTLP_PROTOCOL=grpc",
		"OTEL_EXPORTER_OTLP_INSECURE=true",
		"OTEL_METRICS_EXPORTER=none",
	}
}

// Processes returns every process of the stack, broker first.
func (s *KafkaStack) Processes() []*Process {
	out := []*Process{s.Broker}
	for _, c := range append(append([]*KafkaCollector{}, s.Gateways...), s.Sessions...) {
		out = append(out, c.Proc)
	}
	return out
}

// Stop stops the gateways (they flush to Kafka), then the session
// collectors, then the broker.
func (s *KafkaStack) Stop() error {
	var errs []error
	for _, c := range append(append([]*KafkaCollector{}, s.Gateways...), s.Sessions...) {
		if c.Proc != nil && c.Proc.Running() {
			errs = append(errs, c.Stop())
		}
	}
	if s.Broker != nil {
		errs = append(errs, s.Broker.Stop(20*time.Second))
	}
	return errors.Join(errs...)
}

// WriteFile writes an overlay configuration into dir and returns its path.
func WriteFile(dir, name, content string) (string, error) {
	p := filepath.Join(dir, name)
	return p, os.WriteFile(p, []byte(content), 0o644)
}
