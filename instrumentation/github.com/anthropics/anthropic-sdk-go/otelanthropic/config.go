package otelanthropic

// DefaultProviderName is the gen_ai.provider.name recorded when
// WithProviderName is not given.
const DefaultProviderName = "anthropic"

// config holds the options of one middleware.
type config struct {
	provider string
}

// Option configures the middleware returned by [Middleware].
type Option interface {
	apply(*config)
}

type optionFunc func(*config)

func (f optionFunc) apply(c *config) { f(c) }

// WithProviderName sets gen_ai.provider.name on the recorded spans, for a
// client that reaches Claude through another platform (for example
// "aws.bedrock" or "gcp.vertex_ai"). The default is [DefaultProviderName];
// an empty name keeps the default.
func WithProviderName(name string) Option {
	return optionFunc(func(c *config) {
		if name != "" {
			c.provider = name
		}
	})
}

func newConfig(opts []Option) config {
	c := config{provider: DefaultProviderName}
	for _, o := range opts {
		if o != nil {
			o.apply(&c)
		}
	}
	return c
}
