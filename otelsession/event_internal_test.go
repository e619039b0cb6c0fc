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

func TestTruncate(t *testing.T) {
	assert.Equal(t, "abc", truncate("abc", 5))
	assert.Equal(t, "ab", truncate("abc", 2))
	assert.Equal(t, "", truncate("é", 1), "never half a rune")
	assert.Equal(t, "a", truncate("aé", 2))
}
