package report

import (
	"bufio"
	"fmt"
	"io"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/idpkeeper/idpkeeper/shared/assess"
)

// Width is the line width the table is laid out for.
const Width = 120

// Column caps. With the two-space gaps they add up to Width, so the widest
// possible row still fits; the action goes on its own wrapped line below the
// row because a sentence does not fit in what is left.
var tableColumns = []struct {
	title string
	max   int
}{
	{"DUE", 25},
	{"SEVERITY", 8},
	{"KIND", 34}, // the longest kind, connector-basic-password-untracked
	{"DEPENDENCY", 26},
	{"OWNER", 19},
}

const actionIndent = "    "

func writeTable(w io.Writer, r Report) error {
	bw := bufio.NewWriter(w)
	head := "IdP Keeper report"
	if r.TenantID != "" {
		head += " for tenant " + r.TenantID
	}
	fmt.Fprintf(bw, "%s\nSource: %s; evaluated at %s", head, orDash(r.Source), r.EvaluatedAt.UTC().Format("2006-01-02 15:04 UTC"))
	if r.CapturedAt != nil {
		fmt.Fprintf(bw, "; inventory captured %s", r.CapturedAt.UTC().Format("2006-01-02 15:04 UTC"))
	}
	fmt.Fprint(bw, "\n\n")

	if len(r.Findings) == 0 {
		fmt.Fprint(bw, "No findings.\n")
	} else {
		rows := make([][]string, 0, len(r.Findings))
		for _, f := range r.Findings {
			rows = append(rows, []string{
				dueCell(f.Due, r.EvaluatedAt),
				f.Severity.String(),
				f.Kind,
				dependencyCell(f.Dependency),
				ownerCell(f.Owner),
			})
		}
		widths := make([]int, len(tableColumns))
		for i, c := range tableColumns {
			widths[i] = utf8.RuneCountInString(c.title)
		}
		for _, row := range rows {
			for i, cell := range row {
				if n := utf8.RuneCountInString(cell); n > widths[i] {
					widths[i] = min(n, tableColumns[i].max)
				}
			}
		}
		header := make([]string, len(tableColumns))
		for i, c := range tableColumns {
			header[i] = c.title
		}
		writeRow(bw, header, widths)
		fmt.Fprintf(bw, "%sACTION\n", actionIndent)
		for i, row := range rows {
			writeRow(bw, row, widths)
			for _, line := range wrap(r.Findings[i].Action, Width-len(actionIndent)) {
				fmt.Fprintf(bw, "%s%s\n", actionIndent, line)
			}
		}
	}

	s := r.Summary
	fmt.Fprintf(bw, "\n%d finding%s: %d expired, %d critical, %d warning, %d info.\n",
		s.Findings, plural(s.Findings), s.BySeverity.Expired, s.BySeverity.Critical, s.BySeverity.Warning, s.BySeverity.Info)
	d := s.Dependencies
	otp := "email OTP not read"
	if d.EmailOTP > 0 {
		otp = "email OTP read"
	}
	fmt.Fprintf(bw, "Checked %d social IdP%s, %d federation%s, %d API connector%s, %d user flow%s, %d Key Vault secret%s; %s.\n",
		d.Social, plural(d.Social), d.Federation, plural(d.Federation), d.Connector, plural(d.Connector),
		d.UserFlow, plural(d.UserFlow), d.Secrets, plural(d.Secrets), otp)
	for _, f := range r.Findings {
		if f.Owner != nil && f.Owner.Fallback {
			fmt.Fprintf(bw, "\"fallback admin\" is %s: name owners in the config to reach the right people.\n", f.Owner.Email)
			break
		}
	}
	if len(r.Gaps) > 0 {
		fmt.Fprint(bw, "INCOMPLETE: these could not be read, so their findings are missing:\n")
		for _, g := range r.Gaps {
			for i, line := range wrap(g.Source+": "+g.Reason, Width-4) {
				prefix := "  - "
				if i > 0 {
					prefix = "    "
				}
				fmt.Fprintf(bw, "%s%s\n", prefix, line)
			}
		}
	}
	return bw.Flush()
}

func writeRow(w io.Writer, cells []string, widths []int) {
	var b strings.Builder
	for i, c := range cells {
		c = truncate(c, widths[i])
		if i == len(cells)-1 {
			b.WriteString(c) // no trailing spaces
			break
		}
		b.WriteString(c)
		b.WriteString(strings.Repeat(" ", widths[i]-utf8.RuneCountInString(c)+2))
	}
	fmt.Fprintln(w, b.String())
}

// dueCell is "2026-12-24 (in 30 days)", relative to the evaluation time in
// calendar days (UTC), which is how people read dates.
func dueCell(due *time.Time, now time.Time) string {
	if due == nil {
		return "-"
	}
	d := due.UTC()
	day := func(t time.Time) time.Time { return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC) }
	n := int(day(d).Sub(day(now.UTC())).Hours() / 24)
	var rel string
	switch {
	case n == 0:
		rel = "today"
	case n == 1:
		rel = "in 1 day"
	case n > 1:
		rel = fmt.Sprintf("in %d days", n)
	case n == -1:
		rel = "1 day ago"
	default:
		rel = fmt.Sprintf("%d days ago", -n)
	}
	return d.Format("2006-01-02") + " (" + rel + ")"
}

func dependencyCell(d assess.Dependency) string {
	if d.Name != "" && d.Name != d.ID {
		return d.Name + " (" + d.Kind + ")"
	}
	return d.Ref
}

func ownerCell(o *assess.Owner) string {
	switch {
	case o == nil:
		return "-"
	case o.Fallback:
		// The address is in the footer; an email would be cut here.
		return "fallback admin"
	case o.Name != "":
		return o.Name
	}
	return orDash(o.Email)
}

// truncate shortens s to n runes, marking the cut with "…".
func truncate(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	if n <= 1 {
		return "…"
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

// wrap breaks s into lines of at most width runes at spaces; a word longer
// than a line is cut.
func wrap(s string, width int) []string {
	var lines []string
	var cur []rune
	for _, word := range strings.Fields(s) {
		wr := []rune(word)
		for len(wr) > width {
			if len(cur) > 0 {
				lines = append(lines, string(cur))
				cur = nil
			}
			lines = append(lines, string(wr[:width]))
			wr = wr[width:]
		}
		switch {
		case len(cur) == 0:
			cur = wr
		case len(cur)+1+len(wr) <= width:
			cur = append(append(cur, ' '), wr...)
		default:
			lines = append(lines, string(cur))
			cur = wr
		}
	}
	if len(cur) > 0 {
		lines = append(lines, string(cur))
	}
	return lines
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
