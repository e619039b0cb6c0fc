package assembler

import (
	"math"

	"go.opentelemetry.io/collector/pdata/pcommon"
)

// OTLP allows NaN and ±Inf doubles, JSON has no way to write them: a record
// holding one could not be encoded and the session would get no record at
// all. Such values are therefore kept as the strings "NaN", "+Inf" and "-Inf"
// (what strconv.FormatFloat writes), so the record is written and the value
// stays readable.

// rawValue is v.AsRaw() with non-finite doubles made JSON-safe.
func rawValue(v pcommon.Value) any {
	return jsonSafe(v.AsRaw())
}

// rawMap is m.AsRaw() with non-finite doubles made JSON-safe.
func rawMap(m pcommon.Map) map[string]any {
	raw := m.AsRaw()
	for k, v := range raw {
		raw[k] = jsonSafe(v)
	}
	return raw
}

// jsonSafe replaces non-finite float64s, also inside the slices and maps
// AsRaw returns, in place.
func jsonSafe(v any) any {
	switch x := v.(type) {
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return nonFinite(x)
		}
	case []any:
		for i := range x {
			x[i] = jsonSafe(x[i])
		}
	case map[string]any:
		for k := range x {
			x[k] = jsonSafe(x[k])
		}
	}
	return v
}

func nonFinite(f float64) string {
	switch {
	case math.IsNaN(f):
		return "NaN"
	case f > 0:
		return "+Inf"
	default:
		return "-Inf"
	}
}
