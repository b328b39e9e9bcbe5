package watch

import (
	"bytes"
	"encoding/json"
	"reflect"
	"sort"
	"strings"
	"time"

	"github.com/idpkeeper/idpkeeper/shared/config"
)

// HistoryVersion is the version of the history document this build writes.
const HistoryVersion = 1

// KeepDays is how many compacted days a history keeps: the 30-day figure
// plus two months to look back on.
const KeepDays = 90

// KeepOutages is how many closed outages a history keeps.
const KeepOutages = 20

// History is one endpoint's record: the raw results of today and yesterday
// (UTC), one summary per older day, the failures running now and the last
// outages. It is one document in the state store, written after every
// check (History.Record), and small however long the watch runs: a raw
// result older than the start of yesterday is folded into its day's
// summary as the next result is recorded, and days older than KeepDays are
// dropped.
type History struct {
	Version  int          `json:"version"`
	Endpoint EndpointInfo `json:"endpoint"`
	// Results are the raw results since the start of the previous UTC day,
	// oldest first.
	Results []Result `json:"results"`
	// Days summarise older days, oldest first.
	Days []Day `json:"days"`
	// Outage is the run of failed checks going on now (nil while the last
	// check succeeded). It is an outage once Rules.Confirmed says so.
	Outage *Outage `json:"outage,omitempty"`
	// Outages are the last closed outages (confirmed ones), oldest first.
	Outages []Outage `json:"outages,omitempty"`
	// TLS is the last certificate seen, and when. A raw result carries the
	// certificate only when it differs from the one before.
	TLS   *TLSInfo   `json:"tls,omitempty"`
	TLSAt *time.Time `json:"tlsAt,omitempty"`
}

// EndpointInfo describes the endpoint a history is about (no URL query).
type EndpointInfo struct {
	Key        string `json:"key"`
	Dependency string `json:"dependency"`
	Name       string `json:"name,omitempty"`
	Role       Role   `json:"role"`
	Endpoint   string `json:"endpoint"`
	Step       string `json:"step,omitempty"`
}

// InfoOf is ep's EndpointInfo.
func InfoOf(ep Endpoint) EndpointInfo {
	return EndpointInfo{Key: ep.Key, Dependency: ep.Dependency.Ref, Name: ep.Dependency.Name, Role: ep.Role, Endpoint: ep.Display, Step: string(ep.Step)}
}

// Day summarises one UTC day of checks.
type Day struct {
	Date    string `json:"date"`
	Up      int    `json:"up"`
	Down    int    `json:"down"`
	Skipped int    `json:"skipped,omitempty"`
	// LatencyMsSum and LatencyMsMax are over the successful checks.
	LatencyMsSum int64 `json:"latencyMsSum"`
	LatencyMsMax int64 `json:"latencyMsMax"`
}

// Outage is a run of consecutive failed checks.
type Outage struct {
	// Since is the first failed check: the outage's start.
	Since       time.Time `json:"since"`
	LastFailure time.Time `json:"lastFailure"`
	Failures    int       `json:"failures"`
	// Class, HTTP and Detail are the last failure's.
	Class  string `json:"class"`
	HTTP   int    `json:"http,omitempty"`
	Detail string `json:"detail,omitempty"`
	From   string `json:"from,omitempty"`
	// ConfirmedAt is when the run met the rules (N failures spanning M):
	// from then on it is an outage. Nil for a blip.
	ConfirmedAt *time.Time `json:"confirmedAt,omitempty"`
	// Until is the first successful check after it (closed outages).
	Until *time.Time `json:"until,omitempty"`
}

// Span is how long the failed checks stretch.
func (o Outage) Span() time.Duration { return o.LastFailure.Sub(o.Since) }

// Rules decide when failures are an outage and an endpoint degraded.
type Rules struct {
	// Failures (N) and DownAfter (M): an endpoint is down after N
	// consecutive failed checks spanning at least M.
	Failures  int
	DownAfter time.Duration
	// LatencyBudget: answers slower than this at the 95th percentile over
	// the last day make the endpoint degraded.
	LatencyBudget time.Duration
	// DegradedPercent: failed checks over the last day at or above this
	// share make it degraded (when not down).
	DegradedPercent int
	// MinChecks is how many checks in the last day degradation needs.
	MinChecks int
	// RecoveredFor is how long a closed outage is reported as recovered.
	RecoveredFor time.Duration
}

// RulesFrom reads the config's watch section (defaults filled in).
func RulesFrom(cfg *config.Config) Rules {
	w := cfg.WatchSettings()
	return Rules{
		Failures: w.Failures, DownAfter: w.DownAfter.Std(), LatencyBudget: w.LatencyBudget.Std(),
		DegradedPercent: w.DegradedPercent, MinChecks: 3, RecoveredFor: 24 * time.Hour,
	}
}

// Confirmed says whether a run of failed checks is an outage.
func (r Rules) Confirmed(o Outage) bool {
	n := r.Failures
	if n <= 0 {
		n = config.DefaultWatchFailures
	}
	return o.Failures >= n && o.Span() >= r.DownAfter
}

// Record adds a result: to the raw results, to the running failures (an
// outage opens at the first failed check, is confirmed when the rules say
// so, and closes at the next successful check — kept in Outages if it was
// confirmed), and folds what has aged into day summaries. A result not
// newer than the last one recorded (a repeat, a replay) changes nothing;
// Record says whether it was taken.
func (h *History) Record(r Result, rules Rules) bool {
	if r.State == "" || r.At.IsZero() {
		return false
	}
	if n := len(h.Results); n > 0 && !r.At.After(h.Results[n-1].At) {
		return false
	}
	r.At = r.At.UTC()
	if h.Version == 0 {
		h.Version = HistoryVersion
	}
	if r.TLS != nil {
		t := *r.TLS
		at := r.At
		same := h.TLS != nil && sameCertificate(*h.TLS, t)
		h.TLS, h.TLSAt = &t, &at
		if same {
			// The certificate is kept once, in TLS; a result carries it
			// only when it changed.
			r.TLS = nil
		}
	}
	h.Results = append(h.Results, r)
	switch r.State {
	case Down:
		if h.Outage == nil {
			h.Outage = &Outage{Since: r.At}
		}
		o := h.Outage
		o.Failures++
		o.LastFailure = r.At
		o.Class, o.HTTP, o.Detail, o.From = r.Class, r.HTTP, r.Detail, r.From
		if o.ConfirmedAt == nil && rules.Confirmed(*o) {
			t := r.At
			o.ConfirmedAt = &t
		}
	case Up:
		if o := h.Outage; o != nil {
			if o.ConfirmedAt != nil {
				until := r.At
				o.Until = &until
				h.Outages = append(h.Outages, *o)
				if len(h.Outages) > KeepOutages {
					h.Outages = h.Outages[len(h.Outages)-KeepOutages:]
				}
			}
			h.Outage = nil
		}
	}
	h.compact(r.At)
	return true
}

func sameCertificate(a, b TLSInfo) bool {
	return a.SHA256 == b.SHA256 && a.NotAfter.Equal(b.NotAfter) && a.Verified == b.Verified && a.Subject == b.Subject &&
		((a.ChainNotAfter == nil) == (b.ChainNotAfter == nil)) && (a.ChainNotAfter == nil || a.ChainNotAfter.Equal(*b.ChainNotAfter))
}

func dayStart(t time.Time) time.Time {
	y, m, d := t.UTC().Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

// compact folds raw results from before the start of yesterday (UTC) into
// day summaries and drops days older than KeepDays.
func (h *History) compact(now time.Time) {
	cutoff := dayStart(now).AddDate(0, 0, -1)
	n := 0
	for n < len(h.Results) && h.Results[n].At.Before(cutoff) {
		n++
	}
	if n > 0 {
		for _, r := range h.Results[:n] {
			h.addToDay(r)
		}
		h.Results = append([]Result(nil), h.Results[n:]...)
		sort.Slice(h.Days, func(i, j int) bool { return h.Days[i].Date < h.Days[j].Date })
	}
	oldest := dayStart(now).AddDate(0, 0, -KeepDays).Format(dateLayout)
	k := 0
	for k < len(h.Days) && h.Days[k].Date < oldest {
		k++
	}
	if k > 0 {
		h.Days = append([]Day(nil), h.Days[k:]...)
	}
}

const dateLayout = "2006-01-02"

func (h *History) addToDay(r Result) {
	date := r.At.UTC().Format(dateLayout)
	var d *Day
	for i := range h.Days {
		if h.Days[i].Date == date {
			d = &h.Days[i]
		}
	}
	if d == nil {
		h.Days = append(h.Days, Day{Date: date})
		d = &h.Days[len(h.Days)-1]
	}
	switch r.State {
	case Up:
		d.Up++
		d.LatencyMsSum += r.LatencyMs
		if r.LatencyMs > d.LatencyMsMax {
			d.LatencyMsMax = r.LatencyMs
		}
	case Down:
		d.Down++
	default:
		d.Skipped++
	}
}

// counts are up and down checks in a window.
type counts struct{ up, down int }

func (c counts) share() *float64 {
	if c.up+c.down == 0 {
		return nil
	}
	v := float64(c.up) / float64(c.up+c.down)
	return &v
}

// window counts the checks within d before now: raw results exactly, day
// summaries by whole UTC days (a day counts when it starts within the
// window, so the 7-day figure covers the 7 calendar days up to today).
func (h *History) window(now time.Time, d time.Duration) counts {
	var c counts
	from := now.Add(-d)
	for _, r := range h.Results {
		if r.At.After(from) && !r.At.After(now) {
			switch r.State {
			case Up:
				c.up++
			case Down:
				c.down++
			}
		}
	}
	if d > 24*time.Hour {
		first := dayStart(from).Format(dateLayout)
		last := now.UTC().Format(dateLayout)
		for _, day := range h.Days {
			if day.Date >= first && day.Date <= last {
				c.up += day.Up
				c.down += day.Down
			}
		}
	}
	return c
}

// Last is the newest result, or nil.
func (h *History) Last() *Result {
	if len(h.Results) == 0 {
		return nil
	}
	r := h.Results[len(h.Results)-1]
	return &r
}

// At returns the newest result at or before t, or nil.
func (h *History) At(t time.Time) *Result {
	for i := len(h.Results) - 1; i >= 0; i-- {
		if !h.Results[i].At.After(t) {
			r := h.Results[i]
			return &r
		}
	}
	return nil
}

// MarshalReadable writes h as JSON for people and diffs (a snapshot's
// recorded history): one line per field, and one line per raw result, day
// and outage. The store writes compact JSON; both read the same.
func (h *History) MarshalReadable() ([]byte, error) {
	compact, err := json.Marshal(h)
	if err != nil {
		return nil, err
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(compact, &fields); err != nil {
		return nil, err
	}
	var b bytes.Buffer
	b.WriteString("{")
	first := true
	rt := reflect.TypeOf(History{})
	for i := 0; i < rt.NumField(); i++ {
		name, _, _ := strings.Cut(rt.Field(i).Tag.Get("json"), ",")
		v, ok := fields[name]
		if !ok {
			continue
		}
		if !first {
			b.WriteString(",")
		}
		first = false
		b.WriteString("\n  ")
		k, _ := json.Marshal(name)
		b.Write(k)
		b.WriteString(": ")
		var list []json.RawMessage
		if v[0] == '[' && json.Unmarshal(v, &list) == nil && len(list) > 0 {
			b.WriteString("[")
			for j, e := range list {
				if j > 0 {
					b.WriteString(",")
				}
				b.WriteString("\n    ")
				b.Write(e)
			}
			b.WriteString("\n  ]")
			continue
		}
		b.Write(v)
	}
	b.WriteString("\n}\n")
	return b.Bytes(), nil
}
