package sessionexporter // import "github.com/crewtrace/crewtrace/exporter/sessionexporter"

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/config/configretry"
	"go.opentelemetry.io/collector/exporter/exporterhelper"

	"github.com/crewtrace/crewtrace/exporter/sessionexporter/internal/assembler"
	"github.com/crewtrace/crewtrace/exporter/sessionexporter/internal/sink"
	"github.com/crewtrace/crewtrace/exporter/sessionexporter/internal/sink/storesink"
	"github.com/crewtrace/crewtrace/pricing"
)

// Config is the session exporter's configuration.
type Config struct {
	// GracePeriod is how long to wait, after the session root has arrived,
	// for late children: a session is emitted once no new span of it has
	// arrived for this long.
	GracePeriod time.Duration `mapstructure:"grace_period"`
	// SessionTimeout is how long a trace without a session root is kept after
	// its last span before it is emitted as incomplete (or ignored), and how
	// long an emitted session is kept so that a late span revises it.
	SessionTimeout time.Duration `mapstructure:"session_timeout"`
	// MaxSessions bounds the traces held in memory; beyond it the oldest is
	// emitted as partial.
	MaxSessions int `mapstructure:"max_sessions"`
	// MaxSpans bounds the spans held in memory over all traces; beyond it the
	// oldest session is emitted as partial.
	MaxSpans int `mapstructure:"max_spans"`
	// MaxBytes bounds the bytes of what the exporter holds for all buffered
	// traces, as it accounts them (span summaries, their strings and events,
	// resources); beyond it the oldest session is emitted as partial.
	MaxBytes int64 `mapstructure:"max_bytes"`
	// MaxAttributeBytes bounds every string kept from a span: attribute
	// values and keys, event fields, tags. Longer ones are cut (an ID keeps a
	// hash of the whole so that it stays distinct) and counted.
	MaxAttributeBytes int `mapstructure:"max_attribute_bytes"`
	// MaxEventsPerSpan bounds the session events kept per span; later ones
	// are dropped and counted.
	MaxEventsPerSpan int `mapstructure:"max_events_per_span"`
	// MaxRecordSpans is how many spans a record lists at most (its spans
	// field: what a viewer draws a waterfall from without a trace backend);
	// 0 lists none. Beyond it the root, agent, LLM and tool spans are kept
	// first and the others counted in truncated.spans.
	MaxRecordSpans int `mapstructure:"max_record_spans"`
	// IncludeRootless emits records (complete: false) for traces that have no
	// session root and no crewtrace attribute, instead of ignoring and
	// counting them.
	IncludeRootless bool `mapstructure:"include_rootless"`
	// TraceURLBase is the Jaeger UI base URL (http://localhost:16686); records
	// get trace_url = <base>/trace/<trace_id>. Empty leaves trace_url out.
	TraceURLBase string `mapstructure:"trace_url_base"`

	// Pricing prices every LLM call of every record (cost).
	Pricing PricingConfig `mapstructure:"pricing"`

	// StorageID names a storage extension (file_storage) in which the
	// exporter keeps the spans of the sessions it buffers, so that a crash
	// and a restart lose no session. Nil keeps them in memory only. The
	// records queue has its own setting, sending_queue.storage.
	StorageID *component.ID `mapstructure:"storage"`

	// ScaleOut, when set, makes this collector one of several that share
	// the traffic through a log partitioned by trace ID (the kafka receiver
	// in one consumer group): records name their fragment, and each
	// ConsumeTraces call returns once its traces' records are queued.
	ScaleOut configoptional.Optional[ScaleOutConfig] `mapstructure:"scale_out"`

	// The sinks, one section each: a section that is present configures its
	// sink (its keys default as documented), an absent one or one with
	// `enabled: false` leaves it off. At least one must be set; every record
	// goes to each sink that is.

	// File appends records to a JSONL file.
	File configoptional.Optional[sink.FileConfig] `mapstructure:"file"`
	// HTTP POSTs records to an endpoint.
	HTTP configoptional.Optional[sink.HTTPConfig] `mapstructure:"http"`
	// Postgres writes records to the session store on PostgreSQL.
	Postgres configoptional.Optional[storesink.PostgresConfig] `mapstructure:"postgres"`
	// SQLite writes records to the session store embedded in a file.
	SQLite configoptional.Optional[storesink.SQLiteConfig] `mapstructure:"sqlite"`

	// TimeoutConfig bounds each sink write (`timeout`).
	exporterhelper.TimeoutConfig `mapstructure:",squash"`
	// QueueConfig is the records queue in front of each sink (`sending_queue`):
	// every sink gets a queue of its own with these settings.
	QueueConfig configoptional.Optional[exporterhelper.QueueBatchConfig] `mapstructure:"sending_queue"`
	// BackOffConfig retries failed writes, per sink (`retry_on_failure`).
	BackOffConfig configretry.BackOffConfig `mapstructure:"retry_on_failure"`

	_ struct{}
}

// ScaleOutConfig is the scale_out section: how this collector works beside
// others that receive other partitions of the same traffic. When a
// partition moves between collectors (a rebalance, a crash) while a trace is
// being assembled, two collectors can each write a record of that trace;
// the store keeps both and counts the one with most spans (the store's
// README, "Fragments"), and the hold below makes that one the whole trace:
//
//   - every record carries fragment = "<instance>/<8 hex digits drawn at
//     start>", so two collectors, or two runs of one, never overwrite each
//     other's record of a trace;
//   - ConsumeTraces returns only when every trace it carried has its record
//     queued (or is ignored as no session), or when its context ends. With
//     the kafka receiver's message_marking.after, a message's offset is
//     committed only then, so whoever owns the partition next reads again
//     every message of every trace not yet written, and assembles it whole.
//
// The kafka receiver must let calls wait: partition_processing.independent
// with max_in_flight.records and bytes above what arrives during a trace's
// life (deploy/kafka/session-collector.yaml, docs/SCALE.md).
type ScaleOutConfig struct {
	// Instance names this collector in the records' fragment; default the
	// collector's service.instance.id, else the host name.
	Instance string `mapstructure:"instance"`

	_ struct{}
}

// maxInstanceBytes bounds scale_out.instance: it is part of every record.
const maxInstanceBytes = 128

// Validate checks the instance name's length.
func (c *ScaleOutConfig) Validate() error {
	if len(c.Instance) > maxInstanceBytes {
		return fmt.Errorf("scale_out.instance must be at most %d bytes, got %d", maxInstanceBytes, len(c.Instance))
	}
	return nil
}

// Validate checks the exporter's own keys and that at least one sink
// section is set. Each section (file, http, postgres, sqlite,
// sending_queue, retry_on_failure) validates itself when present, called by
// the collector's config machinery (confmap.Validate).
func (c *Config) Validate() error {
	var errs error
	if c.GracePeriod <= 0 {
		errs = errors.Join(errs, fmt.Errorf("grace_period must be positive, got %s", c.GracePeriod))
	}
	if c.SessionTimeout <= 0 {
		errs = errors.Join(errs, fmt.Errorf("session_timeout must be positive, got %s", c.SessionTimeout))
	} else if c.SessionTimeout < c.GracePeriod {
		errs = errors.Join(errs, fmt.Errorf("session_timeout (%s) must not be shorter than grace_period (%s)", c.SessionTimeout, c.GracePeriod))
	}
	if c.MaxSessions <= 0 {
		errs = errors.Join(errs, fmt.Errorf("max_sessions must be positive, got %d", c.MaxSessions))
	}
	if c.MaxSpans <= 0 {
		errs = errors.Join(errs, fmt.Errorf("max_spans must be positive, got %d", c.MaxSpans))
	}
	if c.MaxBytes <= 0 {
		errs = errors.Join(errs, fmt.Errorf("max_bytes must be positive, got %d", c.MaxBytes))
	}
	if c.MaxAttributeBytes < assembler.MinValueBytes {
		errs = errors.Join(errs, fmt.Errorf("max_attribute_bytes must be at least %d, got %d", assembler.MinValueBytes, c.MaxAttributeBytes))
	}
	if c.MaxEventsPerSpan <= 0 {
		errs = errors.Join(errs, fmt.Errorf("max_events_per_span must be positive, got %d", c.MaxEventsPerSpan))
	}
	if c.MaxRecordSpans < 0 {
		errs = errors.Join(errs, fmt.Errorf("max_record_spans must not be negative, got %d", c.MaxRecordSpans))
	}
	if c.TraceURLBase != "" {
		if u, err := url.Parse(c.TraceURLBase); err != nil || u.Scheme == "" || u.Host == "" {
			errs = errors.Join(errs, fmt.Errorf("trace_url_base must be an absolute URL, got %q", c.TraceURLBase))
		}
	}
	if len(c.sinks()) == 0 {
		errs = errors.Join(errs, fmt.Errorf("at least one sink section must be set (%s), got none",
			strings.Join(sinkKeys, ", ")))
	}
	return errs
}

// PricingConfig configures the price table the exporter prices LLM calls with.
type PricingConfig struct {
	// Enabled prices the calls (default true); false leaves records without cost.
	Enabled bool `mapstructure:"enabled"`
	// File names a price table document (the format of the default table,
	// pricing/default.json) whose entries add to the default table and
	// override its entries of the same provider, model and match. Read at
	// start: an invalid file fails the start with an error naming the entry.
	File string `mapstructure:"file"`
}

// Validate loads the price file, if any, so that a bad one fails the start.
func (p *PricingConfig) Validate() error {
	if !p.Enabled || p.File == "" {
		return nil
	}
	if _, err := pricing.Load(p.File); err != nil {
		return fmt.Errorf("pricing.file: %w", err)
	}
	return nil
}

// table returns the price table the configuration names: nil when pricing
// is off, the default table, or the default table with the file's entries.
func (p *PricingConfig) table() (*pricing.Table, error) {
	if !p.Enabled {
		return nil, nil
	}
	if p.File == "" {
		return pricing.Default(), nil
	}
	over, err := pricing.Load(p.File)
	if err != nil {
		return nil, fmt.Errorf("pricing.file: %w", err)
	}
	return pricing.Default().Merge(over), nil
}

// tickInterval is how often the exporter advances the assembler's clock:
// a quarter of the grace period, between 10ms and 1s.
func (c *Config) tickInterval() time.Duration {
	return min(max(c.GracePeriod/4, 10*time.Millisecond), time.Second)
}

// sinkKeys are the sink sections, in the order sinks lists them.
var sinkKeys = []string{"file", "http", "postgres", "sqlite"}

// sinkSection is one configured sink: its key and how to build it.
type sinkSection struct {
	key string
	new func(component.TelemetrySettings) sink.Sink
}

// sinks returns the sink sections that are set, in sinkKeys order.
func (c *Config) sinks() []sinkSection {
	var out []sinkSection
	if f := c.File.Get(); f != nil {
		out = append(out, sinkSection{"file", func(component.TelemetrySettings) sink.Sink { return sink.NewFile(*f) }})
	}
	if h := c.HTTP.Get(); h != nil {
		out = append(out, sinkSection{"http", func(set component.TelemetrySettings) sink.Sink {
			return sink.NewHTTP(*h, set, c.BackOffConfig.MaxInterval)
		}})
	}
	if p := c.Postgres.Get(); p != nil {
		out = append(out, sinkSection{"postgres", func(set component.TelemetrySettings) sink.Sink { return storesink.NewPostgres(*p, set.Logger) }})
	}
	if q := c.SQLite.Get(); q != nil {
		out = append(out, sinkSection{"sqlite", func(set component.TelemetrySettings) sink.Sink { return storesink.NewSQLite(*q, set.Logger) }})
	}
	return out
}
