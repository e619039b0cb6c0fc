package main

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// clean makes a string from a record safe to print on a terminal. Every
// string in a record is untrusted (any OTLP client writes it): an escape
// sequence could move the cursor, rewrite earlier lines, change the window
// title or hide text, and a newline or tab would break a table. So control
// characters (C0, DEL, C1), line and paragraph separators and the
// bidirectional overrides ("Trojan source") are shown as Go escapes (\x1b,
// \u202e) and invalid UTF-8 as \xNN: what is printed is always visible
// text, and nothing of the value is hidden.
func clean(s string) string {
	if safe(s) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && n <= 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, `\x%02x`, r)
		case unsafeRune(r):
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteString(s[i : i+n])
		}
		i += n
	}
	return b.String()
}

// safe reports whether s needs no escaping (the common case, checked
// without allocating).
func safe(s string) bool {
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c < 0x20 || c == 0x7f {
				return false
			}
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		if (r == utf8.RuneError && n <= 1) || unsafeRune(r) {
			return false
		}
		i += n
	}
	return true
}

// unsafeRune: C1 controls, line/paragraph separators, and the
// bidirectional marks, embeddings, overrides and isolates.
func unsafeRune(r rune) bool {
	switch {
	case r >= 0x80 && r <= 0x9f:
		return true
	case r == 0x061c, r == 0x200e, r == 0x200f, r == 0x2028, r == 0x2029:
		return true
	case r >= 0x202a && r <= 0x202e, r >= 0x2066 && r <= 0x2069:
		return true
	}
	return false
}

// cut shortens s to at most n runes, marking the cut with "…".
func cut(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	if n < 1 {
		return ""
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

// text is a record string as a table cell: cleaned, then cut to n runes.
func text(s string, n int) string { return cut(clean(s), n) }
