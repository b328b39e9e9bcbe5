package metadata

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// Output formats of WritePlan and the inspect command.
const (
	FormatText = "text"
	FormatJSON = "json"
)

// WritePlan renders a plan as text for a person or as JSON (the ChangePlan
// field names) for a program.
func WritePlan(w io.Writer, p ChangePlan, format string) error {
	switch format {
	case FormatJSON:
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(p)
	case FormatText, "":
	default:
		return fmt.Errorf("unknown format %q (text or json)", format)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "Plan\t%s\n", p.ID)
	fmt.Fprintf(tw, "Partner\t%s\n", p.PartnerID)
	fmt.Fprintf(tw, "Outcome\t%s\n", p.Outcome)
	fmt.Fprintf(tw, "Action\t%s\n", p.Action)
	fmt.Fprintf(tw, "Reason\t%s\n", p.Reason)
	if c := p.CurrentCertificate; c != nil {
		fmt.Fprintf(tw, "Entra certificate\t%s (%s, expires %s)\n", c.SHA256, c.Subject, c.NotAfter.Format(time.DateOnly))
	}
	if c := p.Successor; c != nil {
		fmt.Fprintf(tw, "Partner's next certificate\t%s (%s, expires %s)\n", c.SHA256, c.Subject, c.NotAfter.Format(time.DateOnly))
	}
	if p.LastGoodFetchedAt != nil {
		fmt.Fprintf(tw, "Last good metadata\t%s\n", p.LastGoodFetchedAt.UTC().Format(time.RFC3339))
	}
	if p.WatchMoreOften {
		fmt.Fprintf(tw, "Watch\tmore often\n")
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(p.Changes) > 0 {
		fmt.Fprintln(w, "Changes:")
		tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		for _, c := range p.Changes {
			fmt.Fprintf(tw, "  %s\t%s\t→ %s\n", c.Field, orNone(c.From), orNone(c.To))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	for _, n := range p.Notes {
		fmt.Fprintf(w, "Note: %s\n", n)
	}
	return nil
}

// writeInspectText prints an inspect report as a table.
func writeInspectText(w io.Writer, r InspectReport, now time.Time) error {
	if r.Error != nil && r.Document != nil {
		fmt.Fprintf(w, "REFUSED (%s): what follows is what the document says; none of it is used.\n\n", r.Error.Kind)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "Source\t%s\n", r.Source)
	expired := func(t *time.Time) string {
		if t != nil && !now.Before(*t) {
			return " (EXPIRED)"
		}
		return ""
	}
	var e *Entity
	var s *SignatureStatus
	if d := r.Document; d != nil {
		fmt.Fprintf(tw, "Document\t%s, %d bytes, %d entities (%d IdPs), sha256 %s\n", d.Root, d.Size, d.EntityCount, d.IdPCount, d.SHA256)
		e, s = &d.Entity, &d.Signature
	}
	if e != nil {
		fmt.Fprintf(tw, "Entity\t%s\n", e.EntityID)
		if e.ValidUntil != nil {
			fmt.Fprintf(tw, "Valid until\t%s%s\n", e.ValidUntil.UTC().Format(time.RFC3339), expired(e.ValidUntil))
		}
		if e.CacheDuration != "" {
			fmt.Fprintf(tw, "Cache duration\t%s\n", e.CacheDuration)
		}
	}
	if s != nil {
		fmt.Fprintf(tw, "Signature\t%s\n", r.SignatureStatus)
		if s.Signed {
			fmt.Fprintf(tw, "  method\t%s / %s\n", s.SignatureMethod, s.DigestMethod)
		}
		for _, c := range s.KeyInfoCertificates {
			fmt.Fprintf(tw, "  KeyInfo certificate\t%s %s (expires %s)\n", c.SHA256, c.Subject, c.NotAfter.Format(time.DateOnly))
		}
		if c := s.Signer; c != nil {
			fmt.Fprintf(tw, "  verified with\t%s %s (expires %s)\n", c.SHA256, c.Subject, c.NotAfter.Format(time.DateOnly))
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if e != nil {
		for _, role := range []struct {
			name string
			r    *Role
		}{{"SAML 2.0 IdP", e.SAML}, {"WS-Federation STS", e.WSFed}} {
			if role.r == nil {
				continue
			}
			fmt.Fprintf(w, "\n%s\n", role.name)
			tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
			if vu := role.r.ValidUntil; vu != nil {
				fmt.Fprintf(tw, "  valid until\t%s%s\t\n", vu.UTC().Format(time.RFC3339), expired(vu))
			}
			fmt.Fprintf(tw, "  SIGNING CERTIFICATE SHA-256\tNOT AFTER\tSUBJECT\n")
			for _, c := range role.r.SigningCertificates {
				fmt.Fprintf(tw, "  %s\t%s\t%s\n", c.SHA256, c.NotAfter.Format(time.DateOnly), c.Subject)
			}
			for _, ep := range role.r.SingleSignOnServices {
				fmt.Fprintf(tw, "  SSO %s\t%s\t\n", strings.TrimPrefix(ep.Binding, "urn:oasis:names:tc:SAML:2.0:bindings:"), ep.Location)
			}
			for _, ep := range role.r.PassiveRequestorEndpoints {
				fmt.Fprintf(tw, "  WS-Fed passive\t%s\t\n", ep)
			}
			if err := tw.Flush(); err != nil {
				return err
			}
		}
		for _, p := range e.Problems {
			fmt.Fprintf(w, "Problem: %s\n", p)
		}
	}
	if r.Error != nil {
		fmt.Fprintf(w, "\nFAILED (%s): %s\n", r.Error.Kind, r.Error.Message)
	} else {
		fmt.Fprintf(w, "\nOK\n")
	}
	return nil
}
