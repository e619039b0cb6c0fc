package otellangchaingo

// config holds the options of one handler.
type config struct {
	provider string
	model    string
	toolName string
}

// DefaultToolName names a tool span when the tool's name is unknown: a tool
// called outside an agent executor, which announces the tool by name in
// HandleAgentAction before calling it.
const DefaultToolName = "tool"

// Option configures a [Handler].
type Option interface {
	apply(*config)
}

type optionFunc func(*config)

func (f optionFunc) apply(c *config) { f(c) }

// WithProviderName sets gen_ai.provider.name on LLM spans (openai,
// anthropic ...). langchaingo's callbacks do not say which provider an LLM
// talks to; without this option the attribute is not recorded.
func WithProviderName(name string) Option {
	return optionFunc(func(c *config) { c.provider = name })
}

// WithModel sets gen_ai.request.model on LLM spans and names them
// "chat <model>". langchaingo's callbacks do not say which model is called;
// give the handler of each LLM its model. Without this option spans are
// named "chat".
func WithModel(model string) Option {
	return optionFunc(func(c *config) { c.model = model })
}

// WithDefaultToolName sets the name of tool spans whose tool is unknown
// (see [DefaultToolName]); an empty name keeps the default.
func WithDefaultToolName(name string) Option {
	return optionFunc(func(c *config) {
		if name != "" {
			c.toolName = name
		}
	})
}

func newConfig(opts []Option) config {
	c := config{toolName: DefaultToolName}
	for _, o := range opts {
		if o != nil {
			o.apply(&c)
		}
	}
	return c
}
