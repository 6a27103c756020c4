package flyclient

import (
	"strings"
	"unicode"
)

// macaroonPrefixes mark Fly macaroon tokens, sent with the FlyV1 scheme.
var macaroonPrefixes = []string{"fm1r_", "fm1a_", "fm2_"}

// AuthorizationHeader returns the Authorization header value Fly expects for
// token. Any scheme the token already carries ("FlyV1 ", "Bearer ", in any
// case, even nested as in "Bearer FlyV1 ...") is stripped first. If the token
// holds macaroons (fm1r_, fm1a_, fm2_, possibly several comma-joined), the
// result is "FlyV1 " and only the macaroons, comma-joined; otherwise it is
// "Bearer " and the token. An empty token gives "".
func AuthorizationHeader(token string) string {
	var macaroons, others []string
	for part := range strings.SplitSeq(stripScheme(token), ",") {
		part = stripScheme(part)
		switch {
		case part == "":
		case isMacaroon(part):
			macaroons = append(macaroons, part)
		default:
			others = append(others, part)
		}
	}

	switch {
	case len(macaroons) > 0:
		return "FlyV1 " + strings.Join(macaroons, ",")
	case len(others) > 0:
		return "Bearer " + strings.Join(others, ",")
	}

	return ""
}

// stripScheme removes leading "Bearer" and "FlyV1" words, case-insensitive,
// and surrounding space.
func stripScheme(s string) string {
	for {
		s = strings.TrimSpace(s)
		i := strings.IndexFunc(s, unicode.IsSpace)
		if i < 0 {
			return s
		}
		word := s[:i]
		if !strings.EqualFold(word, "Bearer") && !strings.EqualFold(word, "FlyV1") {
			return s
		}
		s = s[i:]
	}
}

func isMacaroon(tok string) bool {
	for _, p := range macaroonPrefixes {
		if strings.HasPrefix(tok, p) {
			return true
		}
	}

	return false
}
