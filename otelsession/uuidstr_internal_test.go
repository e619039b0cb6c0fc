package otelsession

import (
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
)

func TestUUIDFormat(t *testing.T) {
	for range 100 {
		u := uuid.New()
		var b uuidBuf
		assert.Equal(t, u.String(), b.format(u))
	}
	var b uuidBuf
	assert.Equal(t, "00000000-0000-0000-0000-000000000000", b.format(uuid.Nil))
	assert.Equal(t, "ffffffff-ffff-ffff-ffff-ffffffffffff", b.format(uuid.Max))
}
