package otelsession_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"

	"github.com/crewtrace/crewtrace/otelsession"
)

func TestTypedParamsMatchMapParams(t *testing.T) {
	e := newEnv(t)
	ctx, sess := otelsession.Start(context.Background(), e.opts()...)
	require.NoError(t, otelsession.RecordEvent(ctx, otelsession.Event{Type: "m", Returns: "r", Params: map[string]any{
		"s": "x", "b": true, "i": 3, "i64": int64(4), "f": 0.5,
		"ss": []string{"a"}, "bs": []bool{false}, "is": []int{1}, "i64s": []int64{2}, "fs": []float64{1.5},
	}}))
	require.NoError(t, otelsession.RecordEventParams(ctx, otelsession.Event{Type: "m", Returns: "r"},
		otelsession.StringParam("s", "x"), otelsession.BoolParam("b", true), otelsession.IntParam("i", 3),
		otelsession.Int64Param("i64", 4), otelsession.Float64Param("f", 0.5),
		otelsession.StringSliceParam("ss", []string{"a"}), otelsession.BoolSliceParam("bs", []bool{false}),
		otelsession.IntSliceParam("is", []int{1}), otelsession.Int64SliceParam("i64s", []int64{2}),
		otelsession.Float64SliceParam("fs", []float64{1.5})))
	require.NoError(t, otelsession.RecordAction(ctx, "a", map[string]any{"q": "otel"}))
	require.NoError(t, otelsession.RecordActionParams(ctx, "a", otelsession.StringParam("q", "otel")))
	require.NoError(t, sess.End(otelsession.Success, ""))

	evs := e.rec.Ended()[0].Events()
	require.Len(t, evs, 4)
	assert.Equal(t, evs[0].Name, evs[1].Name)
	assert.Equal(t, evs[0].Attributes, evs[1].Attributes, "same attributes in the same (sorted) order")
	assert.Equal(t, evs[2].Name, evs[3].Name)
	assert.Equal(t, evs[2].Attributes, evs[3].Attributes)
	assert.Len(t, evs[0].Attributes, 13)
}

func TestTypedParamsRepeatedNameLastWins(t *testing.T) {
	e := newEnv(t)
	ctx, sess := otelsession.Start(context.Background(), e.opts()...)
	require.NoError(t, otelsession.RecordEventParams(ctx, otelsession.Event{Type: "e", Params: map[string]any{"a": 1, "z": 1}},
		otelsession.IntParam("z", 2), otelsession.IntParam("b", 1), otelsession.IntParam("b", 2), otelsession.IntParam("a", 3)))
	require.NoError(t, sess.End(otelsession.Success, ""))
	ev := e.rec.Ended()[0].Events()[0]
	assert.Equal(t, []attribute.KeyValue{
		attribute.String("crewtrace.event.kind", "event"), attribute.String("crewtrace.event.type", "e"),
		attribute.Int("crewtrace.event.param.a", 3), attribute.Int("crewtrace.event.param.b", 2),
		attribute.Int("crewtrace.event.param.z", 2),
	}, ev.Attributes)
}

func TestTypedParamsManyAndErrors(t *testing.T) {
	e := newEnv(t)
	ctx, sess := otelsession.Start(context.Background(), e.opts()...)
	var ps []otelsession.Param
	for i := 30; i > 0; i-- { // more than a scratch buffer holds, unsorted
		ps = append(ps, otelsession.IntParam(string(rune('a'+i%26))+string(rune('a'+i/26)), i))
	}
	require.NoError(t, otelsession.RecordEventParams(ctx, otelsession.Event{Type: "many"}, ps...))
	err := otelsession.RecordActionParams(ctx, "bad", otelsession.IntParam("ok", 1), otelsession.Param{})
	require.ErrorIs(t, err, otelsession.ErrInvalidEvent)
	require.ErrorIs(t, otelsession.RecordActionParams(context.Background(), "x"), otelsession.ErrNoSession)
	require.NoError(t, sess.End(otelsession.Success, ""))
	require.ErrorIs(t, otelsession.RecordActionParams(ctx, "late", otelsession.IntParam("x", 1)), otelsession.ErrSessionEnded)

	evs := e.rec.Ended()[0].Events()
	require.Len(t, evs, 1, "the invalid event is not recorded")
	kv := evs[0].Attributes
	require.Len(t, kv, 32)
	for i := 3; i < len(kv); i++ {
		assert.Less(t, kv[i-1].Key, kv[i].Key, "sorted by name")
	}
	assert.Equal(t, int64(1), e.metrics(t)["crewtrace.events.rejected"]["error.type=invalid_param"])
	assert.Equal(t, "ok", otelsession.IntParam("ok", 1).Name())
	assert.Equal(t, attribute.IntValue(1), otelsession.IntParam("ok", 1).Value())
}
