package funchost

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Time is a time.Time that decodes the host's DateTime renderings leniently.
// The zero value means "never/unknown"; it encodes as JSON null.
type Time struct {
	time.Time
}

// timeLayouts are tried in order by ParseTime.
var timeLayouts = []string{
	// DateTimeOffset: "2024-11-30T14:45:51+00:00", "…43:50.403838+00:00",
	// "…Z". Go accepts any number of fractional digits after the seconds.
	time.RFC3339Nano,
	// DateTime with Kind Unspecified/Utc rendered without a zone:
	// ScheduleStatus.Last "0001-01-01T00:00:00" (azure-webjobs-sdk-extensions
	// PR #825; host issue #7391) and Service Bus "EnqueuedTimeUtc":
	// "2023-10-12T20:13:49" (KarlGW/azfunc trigger/service_bus_test.go; host
	// issue #6997). Interpreted as UTC.
	"2006-01-02T15:04:05.999999999",
	// Same with a space separator (some .NET "s"/"u"-like renderings).
	"2006-01-02 15:04:05.999999999Z07:00",
	"2006-01-02 15:04:05.999999999",
	// Defensive: invariant-culture DateTime.ToString(). The exact malformed
	// shape behind host issue #7391 is not visible in text (screenshots);
	// UNCONFIRMED that it is this one.
	"1/2/2006 3:04:05 PM",
	"01/02/2006 15:04:05",
}

// ParseTime parses s leniently: RFC 3339 (any fraction), no-zone ISO 8601
// (taken as UTC), and a few .NET renderings. Empty strings and the .NET
// DateTime.MinValue ("0001-01-01T00:00:00", any zone) yield the zero time,
// meaning "never" (e.g. a timer's first run). Results are in UTC.
func ParseTime(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, nil
	}
	for _, layout := range timeLayouts {
		t, err := time.Parse(layout, s)
		if err != nil {
			continue
		}
		if t.Year() <= 1 {
			// DateTime.MinValue (with or without offset): "never".
			return time.Time{}, nil
		}
		return t.UTC(), nil
	}
	return time.Time{}, fmt.Errorf("funchost: unrecognised time %q", s)
}

// UnmarshalJSON accepts null, a (possibly JSON-quoted) string in any layout
// ParseTime knows, or a number of Unix seconds.
func (t *Time) UnmarshalJSON(b []byte) error {
	levels := unwrapLevels(b)
	deep := levels[len(levels)-1]
	switch {
	case len(deep) == 0 || string(deep) == "null":
		t.Time = time.Time{}
		return nil
	case deep[0] == '"':
		var s string
		if err := json.Unmarshal(deep, &s); err != nil {
			return err
		}
		// A quoted number is taken as Unix seconds (Key Vault NBF/EXP style).
		if n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64); err == nil {
			t.Time = time.Unix(n, 0).UTC()
			return nil
		}
		v, err := ParseTime(s)
		if err != nil {
			return err
		}
		t.Time = v
		return nil
	default:
		var f float64
		if err := json.Unmarshal(deep, &f); err != nil {
			return fmt.Errorf("funchost: time must be a string or Unix seconds, got %s", deep)
		}
		sec := int64(f)
		t.Time = time.Unix(sec, int64((f-float64(sec))*1e9)).UTC()
		return nil
	}
}

// MarshalJSON writes RFC 3339 with nanoseconds, or null for the zero time.
func (t Time) MarshalJSON() ([]byte, error) {
	if t.IsZero() {
		return []byte("null"), nil
	}
	return json.Marshal(t.UTC().Format(time.RFC3339Nano))
}
