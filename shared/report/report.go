// Package report renders assessment findings for people (an aligned text
// table sorted by due date) and for programs (JSON with the stable schema in
// docs/report.schema.json), and turns them into a process exit status for
// scripts (`--fail-on`). docs/report-schema.md is the reference.
package report

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/idpkeeper/idpkeeper/shared/assess"
	"github.com/idpkeeper/idpkeeper/shared/inventory"
)

// SchemaVersion is the version of the JSON report. Within a version fields
// are only ever added, never renamed, removed or given another meaning.
const SchemaVersion = "1"

// Exit statuses of `idpkeeper scan`. The CLI owns 2 and 3; they are listed
// here so the whole contract is in one place.
const (
	ExitOK = 0
	// ExitFindings: at least one finding at or above --fail-on.
	ExitFindings = 1
	// ExitUsage: bad flags or an invalid config file.
	ExitUsage = 2
	// ExitInventory: the tenant or snapshot could not be read at all.
	ExitInventory = 3
)

// Report is one scan's result.
type Report struct {
	SchemaVersion string `json:"schemaVersion"`
	// GeneratedAt is when the report was built (wall clock).
	GeneratedAt time.Time `json:"generatedAt"`
	// EvaluatedAt is the "now" findings were assessed against (--now).
	EvaluatedAt time.Time `json:"evaluatedAt"`
	// CapturedAt is when the inventory was read; for a snapshot, when it
	// was recorded. Nil when unknown.
	CapturedAt *time.Time `json:"capturedAt"`
	// Source says where the inventory came from: "snapshot:DIR" or
	// "tenant:ID".
	Source   string           `json:"source"`
	TenantID string           `json:"tenantId"`
	Summary  Summary          `json:"summary"`
	Findings []assess.Finding `json:"findings"`
	// Gaps are the parts of the tenant that could not be read.
	Gaps []inventory.Gap `json:"gaps"`

	// The fields below were added for the HTML report; reports stored by
	// earlier releases lack them and still render (without those parts).

	// NoticeDays are the days before a due date at which owners are told
	// (config defaults.escalationDays), largest first.
	NoticeDays []int `json:"noticeDays,omitempty"`
	// Map is the dependency graph: user flows, the identity providers and
	// API connectors they use, the Key Vault secrets behind those, and
	// owners.
	Map *DependencyMap `json:"map,omitempty"`
	// Partners has one entry per SAML/WS-Fed federation.
	Partners []Partner `json:"partners"`
	// Endpoints is the availability the endpoint watch measured; absent
	// when the watch has no data.
	Endpoints []EndpointAvailability `json:"endpoints,omitempty"`
	// Read is what reading a live tenant cost (time, requests, 429s);
	// absent for a snapshot.
	Read *ReadCost `json:"read,omitempty"`
}

// ReadCost is what reading the tenant cost: how long it took and what each
// service (Graph, each Key Vault) answered.
type ReadCost struct {
	Seconds float64 `json:"seconds"`
	// Throttled counts 429 answers of all services; each was waited out
	// (its Retry-After) and sent again.
	Throttled int           `json:"throttled"`
	Services  []ServiceCost `json:"services"`
}

// ServiceCost is one service's share of a read.
type ServiceCost struct {
	// Service is "graph" or "keyvault:<vault host>".
	Service string `json:"service"`
	// HTTPRequests were sent; Requests were carried by them (a Graph
	// $batch carries up to 20).
	HTTPRequests int `json:"httpRequests"`
	Requests     int `json:"requests"`
	Throttled    int `json:"throttled"`
	// Retries are requests sent again after a 429 or a 503/504.
	Retries int `json:"retries"`
	// HeldSeconds is how long Retry-After held the service.
	HeldSeconds float64 `json:"heldSeconds"`
}

// Summary counts findings and dependencies.
type Summary struct {
	Findings   int            `json:"findings"`
	BySeverity SeverityCounts `json:"bySeverity"`
	// WorstSeverity is the most urgent severity present; nil with no findings.
	WorstSeverity *assess.Severity `json:"worstSeverity"`
	Dependencies  DependencyCounts `json:"dependencies"`
}

// SeverityCounts counts findings per severity.
type SeverityCounts struct {
	Info     int `json:"info"`
	Warning  int `json:"warning"`
	Critical int `json:"critical"`
	Expired  int `json:"expired"`
}

// DependencyCounts counts what the inventory holds, so a report with no
// findings still shows what was checked.
type DependencyCounts struct {
	Social     int `json:"social"`
	Federation int `json:"federation"`
	Connector  int `json:"connector"`
	UserFlow   int `json:"userflow"`
	// EmailOTP is 1 when the email OTP configuration was read.
	EmailOTP int `json:"emailotp"`
	Secrets  int `json:"secrets"`
}

// Build assembles a report. Findings are copied, sorted with
// assess.SortFindings and normalised (UTC times to the second, empty lists
// instead of null) so the JSON has one shape. Options add what the
// dependency map and the partner table need beyond the inventory: the
// config (owners, secrets named there, notice days), the partners'
// metadata checks and the endpoint watch's availability.
func Build(inv inventory.Inventory, findings []assess.Finding, now time.Time, source string, opts ...Option) Report {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	r := Report{
		SchemaVersion: SchemaVersion,
		GeneratedAt:   utc(time.Now()),
		EvaluatedAt:   utc(now),
		Source:        source,
		TenantID:      inv.TenantID,
		Findings:      make([]assess.Finding, 0, len(findings)),
		Gaps:          append([]inventory.Gap{}, inv.Gaps...),
	}
	if !inv.CapturedAt.IsZero() {
		t := utc(inv.CapturedAt)
		r.CapturedAt = &t
	}
	for _, f := range findings {
		f.ImpactedUserFlows = nonNil(f.ImpactedUserFlows)
		f.ImpactedDomains = nonNil(f.ImpactedDomains)
		detail := make(map[string]string, len(f.Detail))
		for k, v := range f.Detail {
			detail[k] = v
		}
		f.Detail = detail
		if f.Due != nil {
			d := utc(*f.Due)
			f.Due = &d
		}
		if f.Owner != nil {
			o := *f.Owner
			f.Owner = &o
		}
		r.Findings = append(r.Findings, f)
	}
	assess.SortFindings(r.Findings)

	s := &r.Summary
	s.Findings = len(r.Findings)
	for _, f := range r.Findings {
		switch f.Severity {
		case assess.Info:
			s.BySeverity.Info++
		case assess.Warning:
			s.BySeverity.Warning++
		case assess.Critical:
			s.BySeverity.Critical++
		case assess.Expired:
			s.BySeverity.Expired++
		}
		if s.WorstSeverity == nil || f.Severity > *s.WorstSeverity {
			sev := f.Severity
			s.WorstSeverity = &sev
		}
	}
	s.Dependencies = DependencyCounts{
		Social:     len(inv.SocialIdentityProviders),
		Federation: len(inv.Federations),
		Connector:  len(inv.APIConnectors),
		UserFlow:   len(inv.UserFlows),
		Secrets:    len(inv.Secrets),
	}
	if inv.EmailOTP != nil {
		s.Dependencies.EmailOTP = 1
	}
	r.NoticeDays = noticeDays(o.config)
	links := assess.NewLinks(inv, o.config)
	r.Map = buildMap(inv, o.config, r.Findings, links)
	r.Partners = buildPartners(inv, o.config, o.metadata, r.Findings, r.EvaluatedAt, links)
	r.Endpoints = normaliseEndpoints(o.endpoints)
	return r
}

func utc(t time.Time) time.Time { return t.UTC().Truncate(time.Second) }

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return append([]string{}, s...)
}

// Formats accepted by Write.
const (
	FormatTable = "table"
	FormatJSON  = "json"
	FormatHTML  = "html"
)

// Formats lists the formats Write accepts, for flag help and errors.
var Formats = []string{FormatTable, FormatJSON, FormatHTML}

// Write renders r as "table" (the default when format is ""), "json" or
// "html" (one self-contained page, see WriteHTML).
func Write(w io.Writer, r Report, format string) error {
	switch strings.ToLower(format) {
	case "", FormatTable:
		return writeTable(w, r)
	case FormatHTML:
		return WriteHTML(w, r)
	case FormatJSON:
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		// Actions and details are prose; "<" and "&" stay readable.
		enc.SetEscapeHTML(false)
		return enc.Encode(r)
	default:
		return fmt.Errorf("unknown report format %q (use table, json or html)", format)
	}
}

// ExitCode is the exit status for --fail-on: 0 when failOn is "" or "never"
// or no finding reaches it, ExitFindings (1) when one does. An unknown
// severity is a usage error (ExitUsage, with the error).
func ExitCode(r Report, failOn string) (int, error) {
	f := strings.ToLower(strings.TrimSpace(failOn))
	if f == "" || f == "never" {
		return ExitOK, nil
	}
	threshold, err := assess.ParseSeverity(f)
	if err != nil {
		return ExitUsage, fmt.Errorf("unknown severity %q (use info, warning, critical, expired or never)", failOn)
	}
	for _, fd := range r.Findings {
		if fd.Severity >= threshold {
			return ExitFindings, nil
		}
	}
	return ExitOK, nil
}
