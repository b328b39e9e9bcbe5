package probe

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"regexp"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// A scenario file (`probe api URL --scenarios FILE`, YAML or JSON) lists
// the answers an API team promises for given sign-up data:
//
//	scenarios:
//	  - name: partner employee continues
//	    step: postAttributeCollection      # or postFederationSignup (default postAttributeCollection)
//	    claims: {email: ann@fabrikam.example, givenName: Ann, postalCode: "98052"}   # merged into the request body
//	    expect: continue                   # continue | validation-error | block
//	    userMessage: "(?i)postal"          # optional: a regexp the answer's userMessage must match
//	    maxLatency: 2s                     # optional
//
// Each scenario is sent as Entra sends a connector request: the documented
// body (email, identities, displayName, givenName and surname once
// collected, ui_locales, and step and client_id as the page's source lists
// them) with the claims merged over it; a claim set to null is left out, as
// Entra leaves out a claim without a value.

// Limits of a scenario file: far above a real suite, far below trouble.
const (
	MaxScenarioFileBytes = 1 << 20
	MaxScenarios         = 200
	maxClaimBytes        = 64 << 10
)

// Scenario is one request and the answer it must get.
type Scenario struct {
	Name   string         `json:"name"`
	Step   Step           `json:"step"`
	Claims map[string]any `json:"claims,omitempty"`
	Expect Outcome        `json:"expect"`
	// UserMessage is a regular expression the answer's userMessage must
	// match ("" for none).
	UserMessage string        `json:"userMessage,omitempty"`
	MaxLatency  time.Duration `json:"maxLatency,omitempty"`

	message *regexp.Regexp
}

// scenarioFile is the file's shape; fields are read strictly.
type scenarioFile struct {
	Scenarios []struct {
		Name        string         `yaml:"name"`
		Step        string         `yaml:"step"`
		Claims      map[string]any `yaml:"claims"`
		Expect      string         `yaml:"expect"`
		UserMessage string         `yaml:"userMessage"`
		MaxLatency  string         `yaml:"maxLatency"`
	} `yaml:"scenarios"`
}

// ParseScenarios reads a scenario file (YAML, or JSON, which is YAML).
// Every problem is reported at once, as "FILE: scenarios[i] (name): …";
// nothing of the file's content beyond names and field names is quoted.
func ParseScenarios(file string, data []byte) ([]Scenario, error) {
	if len(data) > MaxScenarioFileBytes {
		return nil, fmt.Errorf("%s: %d bytes: a scenario file may be at most %d", file, len(data), MaxScenarioFileBytes)
	}
	var f scenarioFile
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil {
		msg := err.Error()
		if len(msg) > 200 {
			msg = msg[:200] + "…"
		}
		return nil, fmt.Errorf("%s: not a scenario file: %s", file, strings.TrimPrefix(msg, "yaml: "))
	}
	if len(f.Scenarios) == 0 {
		return nil, fmt.Errorf("%s: no scenarios (the file needs a top-level \"scenarios:\" list)", file)
	}
	if len(f.Scenarios) > MaxScenarios {
		return nil, fmt.Errorf("%s: %d scenarios, at most %d", file, len(f.Scenarios), MaxScenarios)
	}
	var problems []string
	seen := map[string]bool{}
	var out []Scenario
	for i, raw := range f.Scenarios {
		where := fmt.Sprintf("scenarios[%d]", i)
		if raw.Name != "" {
			where += fmt.Sprintf(" (%s)", clip(raw.Name, 60))
		}
		bad := func(format string, args ...any) { problems = append(problems, where+": "+fmt.Sprintf(format, args...)) }
		sc := Scenario{Name: strings.TrimSpace(raw.Name), Step: Step(raw.Step), Expect: Outcome(raw.Expect), UserMessage: raw.UserMessage}
		switch {
		case sc.Name == "":
			bad("name is required")
		case seen[strings.ToLower(sc.Name)]:
			bad("name is used twice")
		}
		seen[strings.ToLower(sc.Name)] = true
		switch sc.Step {
		case "":
			sc.Step = StepPostAttributeCollection
		case StepPostAttributeCollection, StepPostFederationSignup:
		default:
			bad("step must be postAttributeCollection or postFederationSignup")
		}
		switch sc.Expect {
		case Continue, ValidationError, Block:
		case "":
			bad("expect is required: continue, validation-error or block")
		default:
			bad("expect must be continue, validation-error or block")
		}
		if sc.Expect == ValidationError && sc.Step == StepPostFederationSignup {
			bad("expect validation-error is not an answer Entra takes after federation: only before creating the user (postAttributeCollection)")
		}
		if raw.UserMessage != "" {
			re, err := regexp.Compile(raw.UserMessage)
			if err != nil {
				bad("userMessage is not a regular expression: %v", err)
			}
			sc.message = re
		}
		if raw.MaxLatency != "" {
			d, err := time.ParseDuration(raw.MaxLatency)
			if err != nil || d <= 0 {
				bad("maxLatency must be a positive duration such as 2s or 500ms")
			}
			sc.MaxLatency = d
		}
		claims, err := jsonClaims(raw.Claims)
		if err != nil {
			bad("claims: %v", err)
		}
		sc.Claims = claims
		out = append(out, sc)
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("%s:\n  %s", file, strings.Join(problems, "\n  "))
	}
	return out, nil
}

// jsonClaims makes YAML's values JSON's: mappings with string keys only.
func jsonClaims(in map[string]any) (map[string]any, error) {
	if in == nil {
		return nil, nil
	}
	var conv func(v any, depth int) (any, error)
	conv = func(v any, depth int) (any, error) {
		if depth > 16 {
			return nil, errors.New("nested too deeply")
		}
		switch t := v.(type) {
		case map[string]any:
			out := make(map[string]any, len(t))
			for k, x := range t {
				c, err := conv(x, depth+1)
				if err != nil {
					return nil, err
				}
				out[k] = c
			}
			return out, nil
		case map[any]any:
			out := make(map[string]any, len(t))
			for k, x := range t {
				ks, ok := k.(string)
				if !ok {
					return nil, errors.New("keys must be names")
				}
				c, err := conv(x, depth+1)
				if err != nil {
					return nil, err
				}
				out[ks] = c
			}
			return out, nil
		case []any:
			out := make([]any, len(t))
			for i, x := range t {
				c, err := conv(x, depth+1)
				if err != nil {
					return nil, err
				}
				out[i] = c
			}
			return out, nil
		case nil, string, bool, int, int64, uint64, float64:
			return t, nil
		case time.Time:
			return t.UTC().Format(time.RFC3339), nil
		default:
			return nil, fmt.Errorf("a value of type %T cannot be sent as JSON", v)
		}
	}
	c, err := conv(in, 0)
	if err != nil {
		return nil, err
	}
	out := c.(map[string]any)
	b, err := json.Marshal(out)
	if err != nil {
		return nil, errors.New("a value cannot be sent as JSON (a number that is not finite?)")
	}
	if len(b) > maxClaimBytes {
		return nil, fmt.Errorf("more than %d bytes of claims", maxClaimBytes)
	}
	return out, nil
}

// EntraClientID is the client_id the scenario runner sends: the appId of
// the application a user signs up to, made up (the nil GUID) unless the
// scenario's claims set one.
const EntraClientID = "00000000-0000-0000-0000-000000000000"

// RequestBody is the body Entra sends a connector at step, with claims
// merged over the documented defaults (a null claim removes a default).
// The defaults are obviously synthetic (example.invalid).
func RequestBody(step Step, claims map[string]any) []byte {
	body := map[string]any{
		"email": "idpkeeper-probe@example.invalid",
		"identities": []map[string]string{{
			"signInType": "federated", "issuer": "idpkeeper-probe.example.invalid", "issuerAssignedId": "idpkeeper-probe-0001",
		}},
		"displayName": "IdP Keeper probe",
		"ui_locales":  "en-US",
		"client_id":   EntraClientID,
	}
	// The page's source names the step values PostFederationSignup and
	// PostAttributeCollection.
	switch step {
	case StepPostFederationSignup:
		body["step"] = "PostFederationSignup"
	default:
		body["step"] = "PostAttributeCollection"
		body["givenName"] = "IdP Keeper"
		body["surname"] = "Probe"
	}
	for k, v := range claims {
		if v == nil {
			delete(body, k)
			continue
		}
		body[k] = v
	}
	b, _ := json.Marshal(body)
	return b
}

// ScenarioResult is one scenario's verdict, as `--format json` prints it.
type ScenarioResult struct {
	Name        string  `json:"name"`
	Expect      Outcome `json:"expect"`
	Outcome     Outcome `json:"outcome"`
	Pass        bool    `json:"pass"`
	Status      int     `json:"status"`
	LatencyMs   int64   `json:"latencyMs"`
	UserMessage string  `json:"userMessage"`
	// Reason says why it failed, or what to look at although it passed
	// ("" when there is nothing to say).
	Reason string `json:"reason"`
}

// ScenarioReport is the run of a scenario file.
type ScenarioReport struct {
	URL       string           `json:"url"`
	Passed    int              `json:"passed"`
	Failed    int              `json:"failed"`
	Scenarios []ScenarioResult `json:"scenarios"`
}

// RunScenarios sends each scenario to the API in turn, as Entra would, and
// judges the answer: the outcome must be the expected one; the answer must
// be one Entra can act on — JSON (Content-Type application/json) in one of
// the documented shapes (200 Continue or ShowBlockPage, 400 ValidationError
// with status 400, a userMessage for both), not a 401/403 or another 4xx/5xx
// that Entra turns into a generic error; it must come within Entra's
// 20-second connector timeout (DefaultTimeout) and the scenario's
// maxLatency; and its userMessage must match the scenario's pattern.
// Everything the API sends back goes through the credential's redaction
// (Auth.Redact) before it is kept. It is safe to run against production
// data only if the API is: the claims are the file's.
func RunScenarios(ctx context.Context, req Request, scs []Scenario) ScenarioReport {
	rep := ScenarioReport{URL: redactURL(req.URL), Scenarios: []ScenarioResult{}}
	entraTimeout := DefaultTimeout
	if req.Timeout <= 0 {
		req.Timeout = DefaultTimeout
	}
	for _, sc := range scs {
		r := req
		r.Step = sc.Step
		res := runScenario(ctx, r, sc, entraTimeout)
		if res.Pass {
			rep.Passed++
		} else {
			rep.Failed++
		}
		rep.Scenarios = append(rep.Scenarios, res)
	}
	return rep
}

func runScenario(ctx context.Context, req Request, sc Scenario, entraTimeout time.Duration) ScenarioResult {
	ex := send(ctx, req, RequestBody(sc.Step, sc.Claims))
	pr := ex.result
	out := ScenarioResult{Name: sc.Name, Expect: sc.Expect, Status: pr.Status, LatencyMs: pr.Latency.Milliseconds()}
	var problems, notes []string
	if ex.err != nil || pr.Outcome != "" {
		out.Outcome = pr.Outcome
		problems = append(problems, "no answer Entra could use: "+req.Auth.Redact(pr.Detail))
	} else {
		outcome, msg, detail := classify(pr.Status, ex.body, req.Auth.Redact)
		out.Outcome, out.UserMessage = outcome, req.Auth.Redact(msg)
		if detail != "" {
			problems = append(problems, detail)
		}
		if outcome == AuthFailed {
			problems = append(problems, "Entra would get the same refusal: check the connector's credential and the API's authentication")
		}
		problems = append(problems, gracefulProblems(sc.Step, outcome, pr.Status, ex.contentType, ex.body)...)
	}
	if out.Outcome != sc.Expect {
		problems = append([]string{fmt.Sprintf("expected %s, got %s", sc.Expect, out.Outcome)}, problems...)
	}
	if sc.message != nil && out.Outcome.isAnswer() && !sc.message.MatchString(out.UserMessage) {
		problems = append(problems, fmt.Sprintf("userMessage %q does not match %q", clip(out.UserMessage, 80), sc.UserMessage))
	}
	if pr.Latency > entraTimeout {
		problems = append(problems, fmt.Sprintf("took %s: Entra waits %s, then calls once more, and fails the sign-up", pr.Latency.Round(time.Millisecond), entraTimeout))
	} else if pr.Latency > entraTimeout/2 {
		notes = append(notes, fmt.Sprintf("took %s, more than half of Entra's %s timeout", pr.Latency.Round(time.Millisecond), entraTimeout))
	}
	if sc.MaxLatency > 0 && pr.Latency > sc.MaxLatency {
		problems = append(problems, fmt.Sprintf("took %s, more than maxLatency %s", pr.Latency.Round(time.Millisecond), sc.MaxLatency))
	}
	out.Pass = len(problems) == 0
	out.Reason = req.Auth.Redact(strings.Join(append(problems, notes...), "; "))
	return out
}

func (o Outcome) isAnswer() bool { return o == Continue || o == Block || o == ValidationError }

// gracefulProblems are what make an answer one Entra cannot act on
// although it may classify: the wrong content type, a validation error
// where the step has no form, a validation error without its status.
func gracefulProblems(step Step, outcome Outcome, status int, contentType string, body []byte) []string {
	var out []string
	if status != http.StatusUnauthorized && status != http.StatusForbidden {
		mt, _, err := mime.ParseMediaType(contentType)
		if err != nil || mt != "application/json" {
			ct := contentType
			if ct == "" {
				ct = "none"
			}
			out = append(out, fmt.Sprintf("Content-Type is %s, not application/json", clip(ct, 60)))
		}
	}
	if outcome == ValidationError {
		if step == StepPostFederationSignup {
			out = append(out, "a validation error after federation has no form to show it on: Entra takes only continue or block at this step")
		}
		var v struct {
			Status any `json:"status"`
		}
		if json.Unmarshal(body, &v) == nil {
			switch s := v.Status.(type) {
			case float64:
				if s != 400 {
					out = append(out, "the body's status must be 400")
				}
			case string:
				if s != "400" {
					out = append(out, "the body's status must be 400")
				}
			default:
				out = append(out, "the body lacks status: 400 (required with ValidationError)")
			}
		}
	}
	if outcome == Malformed && (status >= 400 || status < 200) {
		out = append(out, fmt.Sprintf("HTTP %d outside the documented shapes: Entra shows the user a generic error", status))
	}
	return out
}

func clip(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}
