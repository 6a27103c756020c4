package flylocal

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	mathrand "math/rand/v2"
	"time"
)

// Alphabets of the identifiers Fly hands out.
const (
	lowerAlnum = "abcdefghijklmnopqrstuvwxyz0123456789"
	base62     = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	crockford  = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
)

// randomString returns n characters drawn uniformly from alphabet.
func randomString(alphabet string, n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = alphabet[mathrand.IntN(len(alphabet))]
	}

	return string(b)
}

// newAppID returns an app id: 16 lower-case letters and digits.
func newAppID() string { return randomString(lowerAlnum, 16) }

// newMachineID returns a machine id: 14 hex digits, like 1857156b526dd8.
func newMachineID() string { return randomHex(7) }

// newVolumeID returns a volume id: "vol_" and 16 lower-case letters and digits.
func newVolumeID() string { return "vol_" + randomString(lowerAlnum, 16) }

// newSnapshotID returns a snapshot id: "vs_" and 23 base62 characters.
func newSnapshotID() string { return "vs_" + randomString(base62, 23) }

// newNonce returns a lease nonce. Nonces guard mutations, so they come from
// crypto/rand.
func newNonce() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)

	return hex.EncodeToString(b)
}

// randomHex returns 2n hex digits.
func randomHex(n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(mathrand.Uint32())
	}

	return hex.EncodeToString(b)
}

// newULID returns a 26-character ULID: 48 bits of Unix milliseconds followed by
// 80 random bits, in Crockford base32. Fly uses ULIDs for instance ids, event
// ids and lease versions.
func newULID(now time.Time) string {
	var raw [16]byte
	binary.BigEndian.PutUint64(raw[:8], uint64(now.UnixMilli())<<16)
	binary.BigEndian.PutUint64(raw[8:], mathrand.Uint64())
	raw[6], raw[7] = byte(mathrand.Uint32()), byte(mathrand.Uint32())

	// 128 bits as 26 base32 digits: the first digit carries the top 3 bits.
	hi := binary.BigEndian.Uint64(raw[:8])
	lo := binary.BigEndian.Uint64(raw[8:])
	out := make([]byte, 26)
	for i := 25; i >= 0; i-- {
		out[i] = crockford[lo&31]
		lo = lo>>5 | hi<<59
		hi >>= 5
	}

	return string(out)
}

// newRequestID returns the value of a fly-request-id header. Fly suffixes the
// ULID with the region that served the request; flylocal says "local".
func newRequestID(now time.Time) string { return newULID(now) + "-local" }

// Words for machine names like "aged-thunder-7371".
var (
	nameAdjectives = []string{
		"aged", "ancient", "autumn", "billowing", "bitter", "black", "blue", "bold",
		"broken", "calm", "cold", "cool", "crimson", "damp", "dark", "dawn",
		"delicate", "divine", "dry", "empty", "falling", "floral", "fragrant",
		"frosty", "green", "hidden", "holy", "icy", "late", "lingering", "little",
		"lively", "long", "misty", "morning", "muddy", "nameless", "old", "patient",
		"polished", "proud", "purple", "quiet", "red", "restless", "rough", "shy",
		"silent", "small", "snowy", "solitary", "sparkling", "spring", "still",
		"summer", "twilight", "wandering", "weathered", "white", "wild", "winter",
		"wispy", "withered", "young",
	}
	nameNouns = []string{
		"bird", "breeze", "brook", "bush", "butterfly", "cherry", "cloud", "darkness",
		"dawn", "dew", "dream", "dust", "feather", "field", "fire", "firefly",
		"flower", "fog", "forest", "frog", "frost", "glade", "glitter", "grass",
		"haze", "hill", "lake", "leaf", "meadow", "moon", "morning", "mountain",
		"night", "paper", "pine", "pond", "rain", "resonance", "river", "sea",
		"shadow", "shape", "silence", "sky", "smoke", "snow", "snowflake", "sound",
		"star", "sun", "sunset", "surf", "thunder", "tree", "violet", "voice",
		"water", "waterfall", "wave", "wildflower", "wind", "wood",
	}
)

// newMachineName returns a generated machine name, adjective-noun-NNNN.
func newMachineName() string {
	adj := nameAdjectives[mathrand.IntN(len(nameAdjectives))]
	noun := nameNouns[mathrand.IntN(len(nameNouns))]

	return fmt.Sprintf("%s-%s-%04d", adj, noun, mathrand.IntN(10000))
}

// privateIP returns a 6PN-style address for a machine, derived from its id so
// that it is stable across restarts of flylocal.
func privateIP(orgNumericID int64, machineID string) string {
	b, err := hex.DecodeString(machineID)
	if err != nil || len(b) < 6 {
		b = []byte{0, 0, 0, 0, 0, 0}
	}

	return fmt.Sprintf("fdaa:0:%x:a7b:%x:%x:%x:2", orgNumericID&0xffff,
		binary.BigEndian.Uint16(b[0:2]), binary.BigEndian.Uint16(b[2:4]),
		binary.BigEndian.Uint16(b[4:6]))
}
