package llmhttp

// config holds the options of one Middleware.
type config struct {
	provider string
}

// Option configures a [Middleware]. Adapters re-export it (type Option =
// llmhttp.Option) so that their users configure them without importing this
// package.
type Option interface {
	apply(*config)
}

type optionFunc func(*config)

func (f optionFunc) apply(c *config) { f(c) }

// WithProviderName sets gen_ai.provider.name on the recorded spans, for a
// client that reaches the API's models through another provider; an empty
// name keeps the default, the API's name given to [NewMiddleware].
func WithProviderName(name string) Option {
	return optionFunc(func(c *config) {
		if name != "" {
			c.provider = name
		}
	})
}

func newConfig(name string, opts []Option) config {
	c := config{provider: name}
	for _, o := range opts {
		if o != nil {
			o.apply(&c)
		}
	}
	return c
}
