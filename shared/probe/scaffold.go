package probe

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"unicode"

	"gopkg.in/yaml.v3"
)

// ScaffoldUse is one user flow step that calls a connector, with what the
// flow's attribute page collects.
type ScaffoldUse struct {
	UserFlow string
	Step     Step
	// Attributes are the flow's userAttributeAssignments, in Graph's
	// order; they count only when AttributesKnown (the assignments were
	// read). Otherwise the scenarios carry the claims Entra's
	// documentation shows for the step, and the file says so.
	Attributes      []ScaffoldAttribute
	AttributesKnown bool
}

// ScaffoldAttribute is one attribute a user flow collects
// (identityUserFlowAttributeAssignment with its userAttribute).
type ScaffoldAttribute struct {
	// ID is the attribute's id as Graph spells it: "City" for a built-in
	// one, "extension_<appId>_<Name>" for a custom one.
	ID          string
	DisplayName string
	Optional    bool
	// InputType is userInputType (textBox, emailBox, radioSingleSelect,
	// dropdownSingleSelect, checkboxMultiSelect, dateTimeDropdown).
	InputType string
	// DataType is the attribute's dataType (string, boolean, int64,
	// stringCollection, dateTime).
	DataType string
	// Custom is userFlowAttributeType custom.
	Custom bool
	// Options are the values of a choice (userAttributeValues' value), the
	// default first.
	Options []string
}

// The claims of a connector request (entra-docs
// docs/external-id/self-service-sign-up-add-api-connector.md, "The request
// sent to your API" and each step's "Example request sent to the API at
// this step"): attributes are serialised as Microsoft Graph user
// properties, custom ones as extension_<extensions-app-id>_AttributeName;
// a claim without a value is not sent.

// documentedClaims are the built-in claims of the request examples, with a
// placeholder each; the lookup is what turns Graph's built-in attribute id
// ("City", "PostalCode") into the claim Entra sends ("city", "postalCode").
var documentedClaims = []struct{ name, value string }{
	{"email", "someone@partner.example"}, {"displayName", "Someone Example"}, {"givenName", "Someone"}, {"surname", "Example"},
	{"jobTitle", "Supplier"}, {"streetAddress", "1 Example Way"}, {"city", "Example City"}, {"postalCode", "12345"},
	{"state", "Example State"}, {"country", "Example Country"},
}

// federationClaims are what the identity provider gives, as the
// postFederationSignup example shows them: email is always sent, the rest
// when the provider has them. The example names the family name lastName
// (the attribute page's claim is surname).
var federationClaims = []string{"email", "displayName", "givenName", "lastName"}

// stepOutcomes are the answers Entra takes at each step: a validation error
// needs the attribute page, so only before creating the user.
var stepOutcomes = map[Step][]Outcome{
	StepPostFederationSignup:    {Continue, Block},
	StepPostAttributeCollection: {Continue, ValidationError, Block},
}

// extensionWithHyphens matches a custom attribute named with the
// extensions app's appId as a GUID; the directory names it without the
// hyphens (entra-docs docs/identity-platform/includes/native-auth-api/
// custom-attributes-note.md: extension_{appId-without-hyphens}_{name}).
var extensionWithHyphens = regexp.MustCompile(`^extension_([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})_(.+)$`)

// ClaimName is the claim Entra sends for a user flow attribute: a custom
// attribute as extension_<appId without hyphens>_<Name> (Graph's custom
// attribute ids already have that form: identityuserflowattribute-post.md,
// extension_d09380e2b4c642b9a203fb816a04a7ad_Hobby), a built-in one as the
// Graph user property (Graph's attribute id "City" → "city").
func ClaimName(a ScaffoldAttribute) string {
	if m := extensionWithHyphens.FindStringSubmatch(a.ID); m != nil {
		return "extension_" + strings.ReplaceAll(m[1], "-", "") + "_" + m[2]
	}
	if a.Custom || strings.HasPrefix(a.ID, "extension_") {
		return a.ID
	}
	for _, c := range documentedClaims {
		if strings.EqualFold(c.name, a.ID) {
			return c.name
		}
	}
	if a.ID == "" {
		return ""
	}
	return strings.ToLower(a.ID[:1]) + a.ID[1:]
}

// placeholder is a value of the attribute's type for the API team to
// replace: the documented example's for a built-in claim, else by data and
// input type.
func placeholder(a ScaffoldAttribute, claim string) any {
	switch a.DataType {
	case "boolean":
		return true
	case "int64":
		return 42
	case "dateTime":
		return "2000-01-01T00:00:00Z"
	case "stringCollection":
		if len(a.Options) > 0 {
			return a.Options
		}
		return []string{"example"}
	}
	for _, c := range documentedClaims {
		if c.name == claim {
			return c.value
		}
	}
	switch a.InputType {
	case "emailBox":
		return "someone@partner.example"
	case "radioSingleSelect", "dropdownSingleSelect":
		if len(a.Options) > 0 {
			return a.Options[0]
		}
	case "checkboxMultiSelect":
		if len(a.Options) > 0 {
			return strings.Join(a.Options, ",")
		}
	case "dateTimeDropdown":
		return "2000-01-01T00:00:00Z"
	}
	name := a.DisplayName
	if name == "" {
		name = claim
	}
	return "example " + strings.ToLower(name)
}

// scaffoldClaim is one line of a scenario's claims.
type scaffoldClaim struct {
	name    string
	value   any
	comment string
}

// claimsFor are the claims of use's step: documented ones when the flow's
// attributes are unknown; else, after federation, what the identity
// provider gives; before creating the user, email (always sent), every
// attribute the page collects, and what the provider gives that the page
// does not ask for.
// maxClaimName bounds the claim names written as YAML keys (YAML 1.2
// section 7.4.3: an implicit key is limited to 1024 Unicode characters,
// counted as written, escapes included).
const maxClaimName = 512

// plausibleClaim: a name a directory attribute can have — no control
// characters (which YAML would escape, lengthening the key) and not over
// maxClaimName bytes (extension property names are at most 120).
func plausibleClaim(name string) bool {
	if name == "" || len(name) > maxClaimName {
		return false
	}
	for _, r := range name {
		if unicode.IsControl(r) || !unicode.IsPrint(r) && r != ' ' {
			return false
		}
	}
	return true
}

func claimsFor(u ScaffoldUse) (out []scaffoldClaim, leftOut int) {
	seen := map[string]bool{}
	add := func(c scaffoldClaim) {
		// A YAML key is at most 1024 characters on one line; no
		// directory attribute name comes near (extension properties: 120).
		if !plausibleClaim(c.name) {
			leftOut++
			return
		}
		if seen[strings.ToLower(c.name)] {
			return
		}
		seen[strings.ToLower(c.name)] = true
		out = append(out, c)
	}
	documented := func(name string) any {
		for _, c := range documentedClaims {
			if c.name == name {
				return c.value
			}
		}
		if name == "lastName" {
			return "Example"
		}
		return "example"
	}
	switch {
	case u.Step == StepPostFederationSignup:
		for _, n := range federationClaims {
			c := scaffoldClaim{name: n, value: documented(n)}
			switch n {
			case "email":
				c.comment = "always sent"
			case "lastName":
				c.comment = "as this step's documented example names it"
			default:
				c.comment = "when the identity provider gives it"
			}
			add(c)
		}
	case !u.AttributesKnown:
		for _, c := range documentedClaims {
			add(scaffoldClaim{name: c.name, value: c.value})
		}
	default:
		add(scaffoldClaim{name: "email", value: documented("email")})
		for _, a := range u.Attributes {
			name := ClaimName(a)
			var notes []string
			if a.Custom || strings.HasPrefix(name, "extension_") {
				notes = append(notes, "custom attribute "+strconvQuote(a.DisplayName))
			}
			if a.Optional {
				notes = append(notes, "optional: not sent when left empty")
			}
			if len(a.Options) > 0 && a.DataType != "stringCollection" {
				notes = append(notes, "one of "+strings.Join(a.Options, ", "))
			}
			if seen[strings.ToLower(name)] {
				continue
			}
			add(scaffoldClaim{name: name, value: placeholder(a, name), comment: strings.Join(notes, "; ")})
		}
		for _, n := range []string{"displayName", "givenName", "surname"} {
			add(scaffoldClaim{name: n, value: documented(n), comment: "from the identity provider, when it gives it"})
		}
	}
	return out, leftOut
}

// commentText keeps text from the tenant (names, display names, choice
// values) on its comment line: a line break in it would start a line of
// YAML of its own in the file.
func commentText(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || r == '\u2028' || r == '\u2029' || r == '\u0085' {
			return ' '
		}
		return r
	}, s)
}

func strconvQuote(s string) string {
	if s == "" {
		return "(no display name)"
	}
	b, _ := json.Marshal(s)
	return string(b)
}

// Scaffold writes a starting scenario file for a connector: for each user
// flow step that calls it, one scenario per answer Entra takes there, with
// the claims Entra sends at that step — the attributes the flow collects
// when they could be read, else those Entra's documentation shows — for
// the API team to fill in with data that leads their API to each answer.
// It parses with ParseScenarios as it is. run is the `probe api` command
// line to put in its header.
func Scaffold(connector string, uses []ScaffoldUse, run string) []byte {
	var b strings.Builder
	q := func(v any) string {
		if s, ok := v.(string); ok {
			out, _ := yaml.Marshal(s)
			if t := strings.TrimSuffix(string(out), "\n"); !strings.Contains(t, "\n") && !strings.HasPrefix(t, "|") && !strings.HasPrefix(t, ">") {
				return t
			}
			// A block scalar would need the entry's indentation: a
			// double-quoted scalar (JSON's escapes) stays on its line.
			out, _ = json.Marshal(s)
			return string(out)
		}
		// JSON is YAML's flow style: numbers, booleans, lists on one line.
		out, _ := json.Marshal(v)
		return string(out)
	}
	fmt.Fprintf(&b, "# Contract scenarios for API connector %s.\n", commentText(connector))
	if len(uses) == 0 {
		fmt.Fprintf(&b, "# No user flow calls it yet: the scenarios are for the first step Entra calls a connector at,\n")
		fmt.Fprintf(&b, "# with the claims Entra's documentation shows there.\n")
		uses = []ScaffoldUse{{Step: StepPostFederationSignup}}
	}
	fallback := false
	for _, u := range uses {
		if _, n := claimsFor(u); n > 0 {
			fmt.Fprintf(&b, "# Left out: %d attribute name(s) no directory attribute can have (control characters, or over %d bytes).\n", n, maxClaimName)
		}
		if u.UserFlow == "" {
			continue
		}
		fmt.Fprintf(&b, "# Called by user flow %s at %s.\n", commentText(u.UserFlow), u.Step)
		switch {
		case !u.AttributesKnown && u.Step == StepPostFederationSignup:
			fmt.Fprintf(&b, "#   Its attributes could not be read (see the scan's gaps): what the attribute page after\n")
			fmt.Fprintf(&b, "#   this step collects, and a continuation may prefill, is unknown.\n")
		case !u.AttributesKnown:
			fallback = true
			fmt.Fprintf(&b, "#   Its attributes could not be read (see the scan's gaps): the claims are those Entra's\n")
			fmt.Fprintf(&b, "#   documentation shows for this step; replace them with the ones your user flow collects.\n")
		case u.Step == StepPostFederationSignup && len(u.Attributes) > 0:
			var names []string
			for _, a := range u.Attributes {
				names = append(names, ClaimName(a))
			}
			fmt.Fprintf(&b, "#   The attribute page that follows collects %s;\n", commentText(strings.Join(names, ", ")))
			fmt.Fprintf(&b, "#   a continuation may return any of them to prefill it.\n")
		case u.Step == StepPostAttributeCollection:
			fmt.Fprintf(&b, "#   The claims are the attributes the flow collects (userAttributeAssignments).\n")
		}
	}
	b.WriteString("# Replace the claims with data that leads your API to each answer (set a claim to null to leave\n")
	if fallback || (len(uses) == 1 && uses[0].UserFlow == "") {
		b.WriteString("# it out; add your user flow's custom attributes as extension_<appId>_<Name>), then run:\n")
	} else {
		b.WriteString("# it out, as Entra does for an attribute without a value), then run:\n")
	}
	fmt.Fprintf(&b, "#   %s\n", commentText(run))
	b.WriteString("scenarios:\n")
	label := map[Outcome]string{Continue: "continues", Block: "is blocked", ValidationError: "gets a validation error"}
	seen := map[string]bool{}
	for _, u := range uses {
		claims, _ := claimsFor(u)
		for _, o := range stepOutcomes[u.Step] {
			name := string(u.Step) + ": " + label[o]
			if u.UserFlow != "" {
				name = u.UserFlow + ", " + name
			}
			if seen[name] {
				continue
			}
			seen[name] = true
			fmt.Fprintf(&b, "  - name: %s\n    step: %s\n    claims:\n", q(name), u.Step)
			for _, c := range claims {
				fmt.Fprintf(&b, "      %s: %s", q(c.name), q(c.value))
				if c.comment != "" {
					fmt.Fprintf(&b, "  # %s", commentText(c.comment))
				}
				b.WriteString("\n")
			}
			fmt.Fprintf(&b, "    expect: %s\n", o)
			if o != Continue {
				b.WriteString("    userMessage: \".+\"          # the message users see; make it a pattern of yours\n")
			}
			b.WriteString("    maxLatency: 5s\n")
		}
	}
	return []byte(b.String())
}
