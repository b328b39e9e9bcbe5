package config

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Duration is a length of time written as a Go duration ("720h", "90m") or
// with a day suffix ("30d", "1d12h"). Days are what people think in for
// certificate and secret lifetimes; Go durations stop at hours.
type Duration time.Duration

// Std returns the value as a time.Duration.
func (d Duration) Std() time.Duration { return time.Duration(d) }

// String renders whole days as "30d" and anything else as a Go duration, so
// a value read back from the file looks like what was written.
func (d Duration) String() string {
	td := time.Duration(d)
	if td != 0 && td%(24*time.Hour) == 0 {
		return strconv.FormatInt(int64(td/(24*time.Hour)), 10) + "d"
	}
	return td.String()
}

// maxDays is the largest day count a time.Duration holds (about 292 years).
const maxDays = int64(math.MaxInt64 / int64(24*time.Hour))

// ParseDuration parses a Go duration with an optional leading day count
// ("30d", "1d12h", "720h"). Negative values are accepted here and rejected by
// validation where they make no sense. A value too long for a
// time.Duration (about 292 years) is an error, never a wrapped-around
// number: "213504d" must not read as 25 minutes.
func ParseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, fmt.Errorf("empty duration")
	}
	invalid := fmt.Errorf("invalid duration %q: use a Go duration such as 720h or whole days such as 30d", s)
	tooLong := fmt.Errorf("duration %q is too long: at most %d days (about 292 years) can be expressed", s, maxDays)
	neg := false
	rest := s
	if rest[0] == '-' || rest[0] == '+' {
		neg = rest[0] == '-'
		rest = rest[1:]
	}
	var total time.Duration
	if i := strings.IndexByte(rest, 'd'); i >= 0 {
		if i == 0 || strings.IndexFunc(rest[:i], func(r rune) bool { return r < '0' || r > '9' }) >= 0 {
			return 0, invalid
		}
		days, err := strconv.ParseInt(rest[:i], 10, 64)
		if err != nil || days > maxDays {
			return 0, tooLong // only digits, so the one failure left is range
		}
		total = time.Duration(days) * 24 * time.Hour
		rest = rest[i+1:]
	}
	if rest != "" {
		if strings.HasPrefix(rest, "-") || strings.HasPrefix(rest, "+") {
			return 0, invalid
		}
		d, err := time.ParseDuration(rest)
		if err != nil {
			// time.ParseDuration refuses overflow too; tell it apart from
			// a typo so the message says what to fix.
			if strings.Contains(err.Error(), "invalid duration") && isDurationSyntax(rest) {
				return 0, tooLong
			}
			return 0, invalid
		}
		if d > math.MaxInt64-total {
			return 0, tooLong
		}
		total += d
	}
	if neg {
		total = -total
	}
	return total, nil
}

// isDurationSyntax says whether s is digits and Go duration units only, so
// that time.ParseDuration refusing it can only mean overflow.
func isDurationSyntax(s string) bool {
	for len(s) > 0 {
		n := 0
		for n < len(s) && (s[n] >= '0' && s[n] <= '9' || s[n] == '.') {
			n++
		}
		if n == 0 {
			return false
		}
		s = s[n:]
		u := 0
		for u < len(s) && !(s[u] >= '0' && s[u] <= '9' || s[u] == '.') {
			u++
		}
		switch s[:u] {
		case "ns", "us", "µs", "μs", "ms", "s", "m", "h":
		default:
			return false
		}
		s = s[u:]
	}
	return true
}

// UnmarshalYAML accepts a string such as "30d". A bad value is returned as a
// *yaml.TypeError so the decoder keeps going and every problem in the file
// is reported together.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: expected a duration such as 30d or 720h", n.Line)}}
	}
	v, err := ParseDuration(n.Value)
	if err != nil {
		return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: %v", n.Line, err)}}
	}
	*d = Duration(v)
	return nil
}

// MarshalYAML writes the String form.
func (d Duration) MarshalYAML() (any, error) { return d.String(), nil }

// MarshalJSON writes the String form.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(d.String()) }

// UnmarshalJSON accepts the String form (config files are decoded with the
// YAML decoder, JSON included; this is for values passed around as JSON).
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("duration must be a string such as \"30d\"")
	}
	v, err := ParseDuration(s)
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}
