package otelsession

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestParamKeyCache(t *testing.T) {
	for round := range 2 {
		for i := range 1000 { // far more names than slots: collisions
			name := fmt.Sprintf("p%d", i)
			assert.Equal(t, "crewtrace.event.param."+name, string(paramKey(name)), "round %d", round)
		}
	}
	assert.Equal(t, "crewtrace.event.param.", string(paramKey("")))
}

func TestNameCache(t *testing.T) {
	for round := range 2 {
		for i := range 2000 {
			s := fmt.Sprintf("n%d", i)
			assert.Equal(t, "invoke_agent "+s, names.get(nameAgentSpan, "", s), "round %d", round)
			assert.Equal(t, "execute_tool "+s, names.get(nameToolSpan, "", s))
			assert.Equal(t, "chat "+s, names.get(nameLLMSpan, "chat", s))
			assert.Equal(t, "embeddings "+s, names.get(nameLLMSpan, "embeddings", s))
		}
	}
	assert.Equal(t, "chat", names.get(nameLLMSpan, "chat", ""))
	assert.Equal(t, "invoke_agent", names.get(nameAgentSpan, "", ""))
	// Same parts, different kinds, never mixed up.
	assert.Equal(t, "crewtrace.event.param.x", names.get(nameParamKey, "", "x"))
	assert.Equal(t, "execute_tool x", names.get(nameToolSpan, "", "x"))
}

func TestTruncate(t *testing.T) {
	assert.Equal(t, "abc", truncate("abc", 5))
	assert.Equal(t, "ab", truncate("abc", 2))
	assert.Equal(t, "", truncate("é", 1), "never half a rune")
	assert.Equal(t, "a", truncate("aé", 2))
}
