package persona

import (
	"iter"
	"maps"
	"slices"
	"strings"
)

// escaped is what a literal "{{" is written as in a persona file.
const escaped = "{{{{"

// segment is a piece of file content: literal text, or a placeholder when key is set.
type segment struct {
	text string
	key  string
	line int // 1-based line where the segment starts
}

// segments splits content into literal text and placeholders, left to right. An escaped
// "{{{{" becomes a literal "{{", and braces that do not form a placeholder stay as text.
func segments(content string) iter.Seq[segment] {
	return func(yield func(segment) bool) {
		line, start, i := 1, 0, 0
		// emit yields content[start:end] as text, if any, and counts its newlines.
		emit := func(end int) bool {
			if end == start {
				return true
			}
			text := content[start:end]
			ok := yield(segment{text: text, line: line})
			line += strings.Count(text, "\n")

			return ok
		}

		for {
			j := strings.Index(content[i:], "{{")
			if j < 0 {
				break
			}
			j += i
			if strings.HasPrefix(content[j:], escaped) {
				// Keep the first pair as text and drop the second.
				if !emit(j + 2) {
					return
				}
				start, i = j+4, j+4

				continue
			}
			key, n := placeholder(content[j:])
			if n == 0 {
				i = j + 1

				continue
			}
			if !emit(j) || !yield(segment{key: key, line: line}) {
				return
			}
			start, i = j+n, j+n
		}
		emit(len(content))
	}
}

// placeholder reports the key of the placeholder at the start of s, which begins with
// "{{", and its length in bytes; the length is 0 if s does not start with one.
func placeholder(s string) (key string, n int) {
	i := skipBlanks(s, 2)
	k := i
	if k == len(s) || !isKeyStart(s[k]) {
		return "", 0
	}
	i++
	for i < len(s) && isKeyByte(s[i]) {
		i++
	}
	key = s[k:i]
	i = skipBlanks(s, i)
	if !strings.HasPrefix(s[i:], "}}") {
		return "", 0
	}

	return key, i + 2
}

func skipBlanks(s string, i int) int {
	for i < len(s) && (s[i] == ' ' || s[i] == '\t') {
		i++
	}

	return i
}

func isKeyStart(c byte) bool {
	return c == '_' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z'
}

func isKeyByte(c byte) bool {
	return isKeyStart(c) || '0' <= c && c <= '9' || c == '.' || c == '-'
}

// Keys returns the sorted, distinct placeholder keys used in the files' contents, or nil
// if there are none. Escaped braces do not count.
func Keys(files Files) []string {
	set := map[string]bool{}
	for _, content := range files {
		for seg := range segments(content) {
			if seg.key != "" {
				set[seg.key] = true
			}
		}
	}
	if len(set) == 0 {
		return nil
	}

	return slices.Sorted(maps.Keys(set))
}

// Escape returns s written so that Resolve reproduces it exactly: every "{{" becomes
// "{{{{". Use it to ship a file verbatim, such as a CI workflow full of ${{ }}
// expressions. The result can be up to twice as long as s.
func Escape(s string) string {
	return strings.ReplaceAll(s, "{{", escaped)
}
