package sink

import (
	"strconv"
	"strings"
	"testing"
	"time"
)

// FuzzRetryAfter feeds arbitrary Retry-After header values to the http
// sink's parser: it must not panic, must never return a negative delay
// (overflow included), and must accept exactly the decimal second counts.
func FuzzRetryAfter(f *testing.F) {
	for _, s := range []string{"", "0", "3", "-1", "+5", " 7", "1.5", "Wed, 21 Oct 2015 07:28:00 GMT",
		"9223372036", "9223372037", "99999999999999999999", "0x10", "1e3"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		d, ok := retryAfter(v)
		if !ok {
			if d != 0 {
				t.Fatalf("retryAfter(%q) = %s, false: a delay without ok", v, d)
			}
			return
		}
		if d < 0 {
			t.Fatalf("retryAfter(%q) = %s: negative delay", v, d)
		}
		secs, err := strconv.Atoi(strings.TrimPrefix(v, "+"))
		if err != nil || secs < 0 {
			t.Fatalf("retryAfter(%q) accepted a value that is not a second count", v)
		}
		if want := time.Duration(secs) * time.Second; secs <= int(maxRetryAfter/time.Second) && d != want {
			t.Fatalf("retryAfter(%q) = %s, want %s", v, d, want)
		}
	})
}
