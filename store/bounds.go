package store

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"unicode/utf8"
)

// MaxKeyBytes is the longest value an indexed text column holds as is.
// A longer value is stored in its bounded form (see Bounded), so that no
// client-chosen session ID, name, end state or agent name can exceed an
// index's entry size (PostgreSQL refuses B-tree entries over ~2.7 KB with
// SQLSTATE 54000, whatever the batch around them).
const MaxKeyBytes = 128

// boundedPrefix is how much of a long value its bounded form keeps: enough
// to read it in a list, short enough that the form stays small.
const boundedPrefix = 100

// Bounded returns the form of s that indexed columns store: s itself when
// it is at most MaxKeyBytes long, else its first ≤100 bytes (cut on a rune
// boundary), "…" and the first 16 bytes of its SHA-256 in hex. A bounded
// form is always longer than MaxKeyBytes, so it can never equal a short
// value, and two long values share one only if their digests collide.
// Queries that look a value up by key (a session ID) apply Bounded too.
func Bounded(s string) string {
	if len(s) <= MaxKeyBytes {
		return s
	}
	cut := boundedPrefix
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	sum := sha256.Sum256([]byte(s))
	return s[:cut] + "…" + hex.EncodeToString(sum[:16])
}

// clean replaces NUL bytes, which PostgreSQL refuses in text (SQLSTATE
// 22021), by U+FFFD. Strings decoded from a record are valid UTF-8 already.
func clean(s string) string {
	if strings.IndexByte(s, 0) < 0 {
		return s
	}
	return strings.ReplaceAll(s, "\x00", "\uFFFD")
}

// capBytes cuts s to at most n bytes on a rune boundary.
func capBytes(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// cleanJSON rewrites the escapes in a JSON document that PostgreSQL's jsonb
// refuses — \u0000 (SQLSTATE 22P05) and unpaired UTF-16 surrogates — as
// \ufffd, the replacement character, and leaves every other byte as it is.
// SQLite stores the same text, so both dialects keep the same document. The
// input must be valid JSON (the record decoded).
func cleanJSON(doc []byte) []byte {
	if !bytes.Contains(doc, []byte(`\u`)) {
		return doc
	}
	var out []byte // allocated at the first change
	inString := false
	for i := 0; i < len(doc); i++ {
		c := doc[i]
		if !inString {
			if c == '"' {
				inString = true
			}
			continue
		}
		switch c {
		case '"':
			inString = false
		case '\\':
			if i+1 >= len(doc) {
				continue
			}
			if doc[i+1] != 'u' || i+6 > len(doc) {
				i++ // skip the escaped character (it may be a quote)
				continue
			}
			r, ok := hex4(doc[i+2 : i+6])
			bad := false
			switch {
			case !ok:
			case r == 0:
				bad = true
			case r >= 0xD800 && r <= 0xDBFF: // high surrogate: a low one must follow
				if i+12 <= len(doc) && doc[i+6] == '\\' && doc[i+7] == 'u' {
					if lo, ok := hex4(doc[i+8 : i+12]); ok && lo >= 0xDC00 && lo <= 0xDFFF {
						i += 11 // a valid pair: keep both
						continue
					}
				}
				bad = true
			case r >= 0xDC00 && r <= 0xDFFF: // low surrogate without a high one
				bad = true
			}
			if bad {
				if out == nil {
					out = bytes.Clone(doc)
				}
				copy(out[i+2:i+6], "fffd")
			}
			i += 5
		}
	}
	if out == nil {
		return doc
	}
	return out
}

// hex4 parses four hex digits.
func hex4(b []byte) (rune, bool) {
	var r rune
	for _, c := range b {
		switch {
		case c >= '0' && c <= '9':
			r = r<<4 | rune(c-'0')
		case c >= 'a' && c <= 'f':
			r = r<<4 | rune(c-'a'+10)
		case c >= 'A' && c <= 'F':
			r = r<<4 | rune(c-'A'+10)
		default:
			return 0, false
		}
	}
	return r, true
}
