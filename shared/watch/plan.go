package watch

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/idpkeeper/idpkeeper/shared/assess"
	"github.com/idpkeeper/idpkeeper/shared/config"
	"github.com/idpkeeper/idpkeeper/shared/inventory"
	"github.com/idpkeeper/idpkeeper/shared/report"
)

// Status is what an endpoint's history says at a moment.
type Status struct {
	Endpoint EndpointInfo `json:"endpoint"`
	// Last is the newest result; nil before the first check.
	Last *Result `json:"last"`
	// Availability is the share of successful checks over 1, 7 and 30 days.
	Availability report.Availability `json:"availability"`
	// Down is true while a confirmed outage is open; Outage is the open run
	// of failures (confirmed or not yet).
	Down   bool    `json:"down"`
	Outage *Outage `json:"outage,omitempty"`
	// Recovered is the last outage when it closed within Rules.RecoveredFor.
	Recovered *Outage `json:"recovered,omitempty"`
	// Checks24h and Failures24h count the last day's checks; P95Ms24h is
	// the 95th percentile latency of its successful ones.
	Checks24h   int   `json:"checks24h"`
	Failures24h int   `json:"failures24h"`
	P95Ms24h    int64 `json:"p95Ms24h"`
	// StrayFailures24h are the last day's failures outside confirmed
	// outages: an outage is reported as down (and then recovered), not
	// once more as degraded.
	StrayFailures24h int `json:"strayFailures24h"`
	// TLS is the last certificate seen.
	TLS *TLSInfo `json:"tls,omitempty"`
}

// StatusOf reads h at now under rules. It is pure.
func StatusOf(h *History, now time.Time, rules Rules) Status {
	s := Status{Endpoint: h.Endpoint, Last: h.At(now), TLS: h.TLS}
	s.Availability = report.Availability{
		Day1:  h.window(now, 24*time.Hour).share(),
		Day7:  h.window(now, 7*24*time.Hour).share(),
		Day30: h.window(now, 30*24*time.Hour).share(),
	}
	if h.Outage != nil && !h.Outage.Since.After(now) {
		o := *h.Outage
		s.Outage = &o
		s.Down = rules.Confirmed(o)
	}
	if n := len(h.Outages); n > 0 && s.Outage == nil {
		o := h.Outages[n-1]
		if o.Until != nil && !o.Until.After(now) && now.Sub(*o.Until) < rules.RecoveredFor {
			s.Recovered = &o
		}
	}
	var lat []int64
	from := now.Add(-24 * time.Hour)
	var outages []Outage
	outages = append(outages, h.Outages...)
	if h.Outage != nil && rules.Confirmed(*h.Outage) {
		outages = append(outages, *h.Outage)
	}
	inOutage := func(t time.Time) bool {
		for _, o := range outages {
			if !t.Before(o.Since) && !t.After(o.LastFailure) {
				return true
			}
		}
		return false
	}
	for _, r := range h.Results {
		if !r.At.After(from) || r.At.After(now) {
			continue
		}
		switch r.State {
		case Up:
			s.Checks24h++
			lat = append(lat, r.LatencyMs)
		case Down:
			s.Checks24h++
			s.Failures24h++
			if !inOutage(r.At) {
				s.StrayFailures24h++
			}
		}
	}
	if len(lat) > 0 {
		sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
		idx := (len(lat)*95 + 99) / 100
		s.P95Ms24h = lat[min(max(idx-1, 0), len(lat)-1)]
	}
	return s
}

// Degraded says why an endpoint that is not down is degraded: "errors"
// (failed checks at or above the rules' share over the last day) or
// "latency" (its 95th percentile over the budget), "" when it is not.
func (s Status) Degraded(rules Rules) string {
	if s.Down || s.Checks24h < max(rules.MinChecks, 1) {
		return ""
	}
	if rules.DegradedPercent > 0 && s.StrayFailures24h > 0 && s.StrayFailures24h*100 >= rules.DegradedPercent*s.Checks24h {
		return "errors"
	}
	if rules.LatencyBudget > 0 && time.Duration(s.P95Ms24h)*time.Millisecond > rules.LatencyBudget {
		return "latency"
	}
	return ""
}

// Finding kinds of the watch (also listed in assess.Kinds).
const (
	KindDown        = assess.KindEndpointDown
	KindDegraded    = assess.KindEndpointDegraded
	KindTLSExpiring = assess.KindEndpointTLSExpiring
	KindRecovered   = assess.KindEndpointRecovered
)

// SocialTLSLeadTime is the lead time for a social provider's TLS
// certificate: Google and Meta renew theirs weeks ahead and cannot be asked
// to, so only a certificate close to expiry is worth a word.
const SocialTLSLeadTime = assess.MinCriticalWindow

// Findings turns the statuses of the endpoints into findings. It is pure:
//
//   - endpoint-down, while a confirmed outage is open: critical; expired
//     when guests are known to be affected (the endpoint is on the sign-in
//     path and a guest domain or user flow depends on it); warning for a
//     metadata URL, which guests never use (IdP Keeper only loses sight of
//     the partner's certificate changes). Due is the outage's start, so
//     notices go out as overdue, daily while it lasts; a new outage is a
//     new finding.
//   - endpoint-degraded (warning, no date): not down, but over the last day
//     the failed checks reached the rules' share or the 95th percentile
//     latency passed the budget. One finding per endpoint, reason and ISO
//     week, so a flaky endpoint is mentioned at most weekly.
//   - endpoint-tls-expiring: the certificate last seen expires within the
//     lead time (the dependency's, like other certificates; for Google and
//     Facebook SocialTLSLeadTime), rated by assess.Classify; one finding
//     per dependency, host and certificate.
//   - endpoint-recovered (info): a confirmed outage closed within
//     Rules.RecoveredFor; its ID ties it to the outage it closes.
//
// Each names the endpoint, its role, and the domains and user flows that
// depend on it; the owner is the dependency's (config, else the fallback
// admin).
func Findings(inv inventory.Inventory, cfg *config.Config, eps []Endpoint, statuses map[string]Status, now time.Time, rules Rules) []assess.Finding {
	if cfg == nil {
		cfg = config.Default()
	}
	from := cfg.WatchSettings().ObservedFrom
	var out []assess.Finding
	tlsSeen := map[string]bool{}
	for _, ep := range eps {
		s, ok := statuses[ep.Key]
		if !ok {
			continue
		}
		base := assess.Finding{
			Dependency:        ep.Dependency,
			ImpactedDomains:   append([]string{}, ep.Domains...),
			ImpactedUserFlows: append([]string{}, ep.UserFlows...),
			Owner:             assess.OwnerOf(inv, cfg, ep.Dependency.Ref),
		}
		detail := func() map[string]string {
			d := map[string]string{"endpoint": ep.Display, "role": string(ep.Role)}
			if ep.Step != "" {
				d["step"] = string(ep.Step)
			}
			return d
		}
		what := describe(ep)
		impact := impactClause(ep, true)

		if s.Down && s.Outage != nil {
			o := s.Outage
			f := base
			f.Kind = KindDown
			f.ID = assess.NewID(f.Kind, ep.Key, o.Since.UTC().Format(time.RFC3339))
			since := o.Since.UTC()
			f.Due = &since
			switch {
			case ep.Role == RoleMetadata:
				f.Severity = assess.Warning
			case ep.Guests():
				f.Severity = assess.Expired
			default:
				f.Severity = assess.Critical
			}
			f.Detail = detail()
			f.Detail["outageSince"] = stamp(o.Since)
			f.Detail["lastFailure"] = stamp(o.LastFailure)
			f.Detail["consecutiveFailures"] = strconv.Itoa(o.Failures)
			f.Detail["lastError"] = o.Class
			if o.HTTP != 0 {
				f.Detail["lastHttpStatus"] = strconv.Itoa(o.HTTP)
			}
			if where := observedFrom(o.From, from); where != "" {
				f.Detail["observedFrom"] = where
			}
			f.Detail["guestsAffected"] = strconv.FormatBool(ep.Guests())
			f.Action = fmt.Sprintf("Get %s restored: it has failed every check since %s (%d in a row, last: %s)%s.",
				what, stampText(o.Since), o.Failures, failureText(o.Class, o.HTTP), impact)
			out = append(out, f)
		}

		if why := s.Degraded(rules); why != "" {
			f := base
			f.Kind, f.Severity = KindDegraded, assess.Warning
			y, w := now.UTC().ISOWeek()
			f.ID = assess.NewID(f.Kind, ep.Key, why, fmt.Sprintf("%d-W%02d", y, w))
			f.Detail = detail()
			f.Detail["reason"] = why
			f.Detail["checks24h"] = strconv.Itoa(s.Checks24h)
			f.Detail["failures24h"] = strconv.Itoa(s.StrayFailures24h)
			f.Detail["p95LatencyMs"] = strconv.FormatInt(s.P95Ms24h, 10)
			if why == "errors" {
				f.Action = fmt.Sprintf("Look into %s: %d of its last %d checks over the last day failed%s.", what, s.StrayFailures24h, s.Checks24h, impactClause(ep, false))
			} else {
				f.Action = fmt.Sprintf("Look into %s: its answers took %s at the 95th percentile over the last day, more than the %s budget%s.",
					what, (time.Duration(s.P95Ms24h) * time.Millisecond).Round(100*time.Millisecond), rules.LatencyBudget, impactClause(ep, false))
			}
			out = append(out, f)
		}

		if t := s.TLS; t != nil && !t.Expires().IsZero() {
			lead := cfg.LeadTime(assess.DependencyConfig(inv, cfg, ep.Dependency.Ref))
			if ep.Dependency.Kind == inventory.KindSocial {
				lead = SocialTLSLeadTime
			}
			host := ep.Host()
			key := strings.ToLower(ep.Dependency.Ref) + "\x00" + host + "\x00" + t.SHA256 + t.Expires().String()
			if sev, ok := assess.Classify(t.Expires(), now, lead); ok && !tlsSeen[key] {
				tlsSeen[key] = true
				f := base
				f.Kind, f.Severity = KindTLSExpiring, sev
				exp := t.Expires().UTC()
				f.Due = &exp
				f.ID = assess.NewID(f.Kind, ep.Dependency.Ref, host, t.SHA256, stamp(exp))
				f.Detail = detail()
				f.Detail["host"] = host
				f.Detail["tlsNotAfter"] = stamp(exp)
				f.Detail["tlsSubject"] = t.Subject
				if t.SHA256 != "" {
					f.Detail["tlsSha256"] = t.SHA256
				}
				if sev == assess.Expired {
					f.Action = fmt.Sprintf("Get the TLS certificate of %s renewed now: it expired on %s, so browsers and Entra refuse %s%s.", host, exp.Format(dateLayout), what, impact)
				} else {
					f.Action = fmt.Sprintf("Get the TLS certificate of %s renewed before %s, with its full chain, so that %s keeps working%s.", host, exp.Format(dateLayout), what, impactClause(ep, false))
				}
				out = append(out, f)
			}
		}

		if o := s.Recovered; o != nil && o.Until != nil {
			f := base
			f.Kind, f.Severity = KindRecovered, assess.Info
			f.ID = assess.NewID(f.Kind, ep.Key, o.Since.UTC().Format(time.RFC3339))
			f.Detail = detail()
			f.Detail["outageSince"] = stamp(o.Since)
			f.Detail["recoveredAt"] = stamp(*o.Until)
			f.Detail["outageDuration"] = o.Until.Sub(o.Since).Round(time.Minute).String()
			f.Detail["downFinding"] = assess.NewID(KindDown, ep.Key, o.Since.UTC().Format(time.RFC3339))
			f.Action = fmt.Sprintf("No action needed: %s answers again since %s, after an outage of %s that began %s.",
				what, stampText(*o.Until), o.Until.Sub(o.Since).Round(time.Minute), stampText(o.Since))
			out = append(out, f)
		}
	}
	for i := range out {
		if out[i].Detail == nil {
			out[i].Detail = map[string]string{}
		}
	}
	assess.SortFindings(out)
	return out
}

// describe names an endpoint in a sentence.
func describe(ep Endpoint) string {
	name := ep.Dependency.Name
	switch ep.Role {
	case RoleSignIn:
		return fmt.Sprintf("the sign-in endpoint of %s (%s)", name, ep.Display)
	case RoleMetadata:
		return fmt.Sprintf("the metadata URL of %s (%s)", name, ep.Display)
	case RoleAuthorization:
		return fmt.Sprintf("%s's authorization endpoint (%s)", name, ep.Display)
	case RoleToken:
		return fmt.Sprintf("%s's token endpoint (%s)", name, ep.Display)
	case RoleAPI:
		return fmt.Sprintf("the API behind connector %s (%s, %s)", name, ep.Display, ep.Step)
	}
	return ep.Display
}

// impactClause says who is hurt (down) or who depends on the endpoint, as
// the end of a sentence.
func impactClause(ep Endpoint, down bool) string {
	if ep.Role == RoleMetadata {
		if !down {
			return "; guests do not use it, IdP Keeper reads the partner's certificate changes there"
		}

		return "; guests are not affected, but IdP Keeper cannot see the partner's certificate changes meanwhile"
	}
	var parts []string
	if len(ep.Domains) > 0 {
		parts = append(parts, "guests from "+strings.Join(ep.Domains, ", "))
	}
	if len(ep.UserFlows) > 0 {
		parts = append(parts, "sign-up through "+strings.Join(ep.UserFlows, ", "))
	}
	if len(parts) == 0 {
		return ""
	}
	if !down {
		return "; it serves " + strings.Join(parts, " and ")
	}
	verb := "cannot sign in"
	if ep.Role == RoleAPI || len(ep.Domains) == 0 {
		verb = "fails"
		if len(ep.Domains) > 0 {
			verb = "fail"
		}
	}
	return "; " + strings.Join(parts, " and ") + " " + verb + " while it is down"
}

func failureText(class string, httpStatus int) string {
	if httpStatus != 0 {
		return fmt.Sprintf("%s, HTTP %d", class, httpStatus)
	}
	return class
}

func observedFrom(fromResult, fromConfig string) string {
	if fromResult != "" {
		return fromResult
	}
	return fromConfig
}

func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339) }

func stampText(t time.Time) string { return t.UTC().Format("2006-01-02 15:04 UTC") }

// Availability is the report's per-endpoint figures for the statuses.
func Availability(statuses []Status) []report.EndpointAvailability {
	out := make([]report.EndpointAvailability, 0, len(statuses))
	for _, s := range statuses {
		e := report.EndpointAvailability{Endpoint: s.Endpoint.Endpoint, Role: string(s.Endpoint.Role), Dependency: s.Endpoint.Dependency, Availability: s.Availability}
		if s.Down && s.Outage != nil {
			t := s.Outage.Since
			e.OutageSince = &t
		}
		if s.Last != nil {
			t := s.Last.At
			e.LastChecked = &t
		}
		out = append(out, e)
	}
	return out
}
