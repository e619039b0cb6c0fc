package main

import (
	"bytes"
	"context"
	"io"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestRunUnknownCommandExitsTwo(t *testing.T) {
	var out, errOut bytes.Buffer
	code := run(context.Background(), []string{"nope"}, &out, &errOut)
	assert.Equal(t, 2, code)
	assert.Contains(t, errOut.String(), `unknown command "nope"`)
}

func TestRunNoArgumentsPrintsUsage(t *testing.T) {
	var errOut bytes.Buffer
	assert.Equal(t, 2, run(context.Background(), nil, io.Discard, &errOut))
	assert.Contains(t, errOut.String(), "usage: crewtrace <command>")
}
