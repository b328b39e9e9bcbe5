package assess

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sort"
	"strings"
	"time"
)

// Severity orders how urgent a finding is: Info < Warning < Critical < Expired.
type Severity int

// Severities, in increasing order of urgency.
const (
	Info Severity = iota
	Warning
	Critical
	Expired
)

var severityNames = [...]string{"info", "warning", "critical", "expired"}

func (s Severity) String() string {
	if s >= 0 && int(s) < len(severityNames) {
		return severityNames[s]
	}
	return fmt.Sprintf("severity(%d)", int(s))
}

// MarshalText writes the lower-case name, so JSON carries "critical", not 2.
func (s Severity) MarshalText() ([]byte, error) {
	if s < Info || s > Expired {
		return nil, fmt.Errorf("invalid severity %d", int(s))
	}
	return []byte(s.String()), nil
}

// UnmarshalText accepts the names ParseSeverity accepts.
func (s *Severity) UnmarshalText(b []byte) error {
	v, err := ParseSeverity(string(b))
	if err != nil {
		return err
	}
	*s = v
	return nil
}

// ParseSeverity parses "info", "warning", "critical" or "expired" (any case).
func ParseSeverity(s string) (Severity, error) {
	for i, n := range severityNames {
		if strings.EqualFold(strings.TrimSpace(s), n) {
			return Severity(i), nil
		}
	}
	return 0, fmt.Errorf("unknown severity %q (use info, warning, critical or expired)", s)
}

// Finding is one thing an owner should know or do. Other packages (the
// metadata planner, the probe) produce findings too, so it is a plain struct
// that they fill in; use NewID for the ID and SortFindings for the order.
type Finding struct {
	// ID is stable across scans for the same problem (see NewID), so a
	// ledger can remember what was already notified.
	ID       string   `json:"id"`
	Kind     string   `json:"kind"`
	Severity Severity `json:"severity"`
	// Dependency is what the finding is about.
	Dependency Dependency `json:"dependency"`
	// Due is when the problem starts to hurt (an expiry) or should be fixed
	// by; nil when there is no date (for example an untracked secret).
	Due               *time.Time `json:"due"`
	ImpactedUserFlows []string   `json:"impactedUserFlows"`
	ImpactedDomains   []string   `json:"impactedDomains"`
	// Owner is who is told; nil when no owner is configured and there is no
	// fallback admin.
	Owner *Owner `json:"owner"`
	// Action is one sentence: what to do, by when.
	Action string `json:"action"`
	// Detail holds facts backing the finding: thumbprints, secret names and
	// versions, dates. Never a secret value, never a URL that may carry a
	// token.
	Detail map[string]string `json:"detail"`
}

// Dependency identifies what a finding is about.
type Dependency struct {
	// Ref is "kind/id", e.g. "social/Google-OAUTH" or "federation/<id>".
	Ref  string `json:"ref"`
	Kind string `json:"kind"`
	ID   string `json:"id"`
	Name string `json:"name,omitempty"`
}

// Owner is who should act on a finding.
type Owner struct {
	Name         string `json:"name,omitempty"`
	Email        string `json:"email"`
	Organisation string `json:"organisation,omitempty"`
	Internal     bool   `json:"internal"`
	// Fallback is true when nobody owns the dependency in the config and the
	// notice goes to the fallback admin instead.
	Fallback bool `json:"fallback"`
}

// NewID derives a finding ID from its kind and the facts that make the
// problem what it is (dependency reference, secret identity and version,
// certificate thumbprint …): "F-" and the first 12 hex digits of a SHA-256.
// Parts compare case-insensitively (Graph and Key Vault are not consistent
// about case), and the same inputs always give the same ID; a new
// certificate or secret version gives a new one, which is a new problem.
func NewID(kind string, parts ...string) string {
	h := sha256.New()
	h.Write([]byte(strings.ToLower(kind)))
	for _, p := range parts {
		// A separator that cannot appear in refs keeps ("a/b","c") and
		// ("a","b/c") apart.
		h.Write([]byte{0})
		h.Write([]byte(strings.ToLower(p)))
	}
	return "F-" + hex.EncodeToString(h.Sum(nil))[:12]
}

// SortFindings orders findings by due date (earliest first, no date last),
// then by severity (most urgent first), then by ID, so a report reads as a
// to-do list and the order is the same on every run.
func SortFindings(fs []Finding) {
	sort.SliceStable(fs, func(i, j int) bool {
		a, b := fs[i], fs[j]
		switch {
		case a.Due != nil && b.Due == nil:
			return true
		case a.Due == nil && b.Due != nil:
			return false
		case a.Due != nil && b.Due != nil && !a.Due.Equal(*b.Due):
			return a.Due.Before(*b.Due)
		}
		if a.Severity != b.Severity {
			return a.Severity > b.Severity
		}
		return a.ID < b.ID
	})
}

// MinCriticalWindow is the shortest time before a due date that is always
// critical: a week leaves little room for a partner or change board.
const MinCriticalWindow = 7 * 24 * time.Hour

// CriticalWindow is how long before a due date a finding becomes critical for
// a given lead time: a third of the lead time, at least MinCriticalWindow,
// at most the lead time itself.
func CriticalWindow(lead time.Duration) time.Duration {
	w := lead / 3
	if w < MinCriticalWindow {
		w = MinCriticalWindow
	}
	if w > lead {
		w = lead
	}
	return w
}

// Classify returns the severity of something due at due, evaluated at now,
// and whether it is within the lead time at all (ok is false when it is
// further away, and then nothing needs to be said):
//
//	now ≥ due                        → Expired (at the instant of expiry there is nothing left to do in time)
//	due − now ≤ CriticalWindow(lead) → Critical
//	due − now ≤ lead                 → Warning (exactly at the lead time counts)
//	otherwise                        → ok = false
func Classify(due, now time.Time, lead time.Duration) (sev Severity, ok bool) {
	if !now.Before(due) {
		return Expired, true
	}
	left := due.Sub(now)
	switch {
	case left <= CriticalWindow(lead):
		return Critical, true
	case left <= lead:
		return Warning, true
	}
	return Info, false
}
