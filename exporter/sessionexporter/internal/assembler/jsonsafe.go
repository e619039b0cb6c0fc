package assembler

import "math"

// OTLP allows NaN and ±Inf doubles, JSON has no way to write them: a record
// holding one could not be encoded and the session would get no record at
// all. Such values are therefore kept as the strings "NaN", "+Inf" and "-Inf"
// (what strconv.FormatFloat writes), so the record is written and the value
// stays readable.

// jsonSafe replaces non-finite float64s, also inside the slices and maps
// AsRaw returns, in place. (reader.raw, which every kept value goes through,
// calls it on each double.)
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
