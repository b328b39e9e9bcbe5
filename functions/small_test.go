package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Bad IDs are usage errors (exit 2), found before anything is read; an ID
// nothing is filed under too.
func TestBadIDsAreUsageErrors(t *testing.T) {
	state := t.TempDir()
	until := time.Now().AddDate(0, 0, 3).Format("2006-01-02")
	for _, c := range []struct {
		args []string
		msg  string
	}{
		{[]string{"ack", "../../etc/passwd", "--until", until, "--state", state}, "invalid finding ID"},
		{[]string{"ack", "F-x y", "--until", until, "--state", state}, "invalid finding ID"},
		{[]string{"approve", "../proposals/x", "--state", state}, "not a plan or journal ID"},
		{[]string{"undo", "a/b", "--state", state}, "not a plan or journal ID"},
		{[]string{"approve", "fabrikam-rollover-0123", "--state", state}, "no proposal fabrikam-rollover-0123"},
		{[]string{"undo", "fabrikam-rollover-0123", "--state", state}, "journal fabrikam-rollover-0123"},
	} {
		code, _, errOut := runCLI(t, c.args...)
		if code != exitUsage || !strings.Contains(errOut, c.msg) {
			t.Errorf("%v: exit %d, %q; want exit 2 mentioning %q", c.args, code, errOut, c.msg)
		}
	}
}

// A proposal document that is not a whole proposal is refused with its
// name, non-zero, and no plan is printed (there was an empty plan ID).
func TestApproveRefusesAMalformedProposal(t *testing.T) {
	state := t.TempDir()
	os.MkdirAll(filepath.Join(state, "proposals"), 0o755)
	for id, body := range map[string]string{
		"P-empty":    `{}`,
		"P-garbage":  `{"planId": "P-garbage", "change": `,
		"P-nopatch":  `{"planId":"P-nopatch","federationId":"f1","change":{"id":"P-nopatch","partnerId":"f1","action":"propose"},"status":"pending"}`,
		"P-misfiled": `{"planId":"P-other","federationId":"f1","change":{"id":"P-other","partnerId":"f1","action":"propose","patch":{}},"status":"pending"}`,
	} {
		os.WriteFile(filepath.Join(state, "proposals", id+".json"), []byte(body), 0o644)
		code, out, errOut := runCLI(t, "approve", id, "--state", state)
		if code == exitOK || code == exitUsage || !strings.Contains(errOut, "malformed proposal") || !strings.Contains(errOut, "proposals/"+id+".json") || out != "" {
			t.Errorf("%s: exit %d, stdout %q, stderr %q", id, code, out, errOut)
		}
	}
}

// A CloudEvent without type is rejected (and so the file exits 1), and
// `events handle` reads a double-encoded array as the function does.
func TestEventsHandleOneDecodingPath(t *testing.T) {
	dir := t.TempDir()
	untyped := filepath.Join(dir, "untyped.json")
	os.WriteFile(untyped, []byte(`[{"specversion":"1.0","id":"ce-1","source":"/subscriptions/x/vaults/contoso-idp-kv","subject":"facebook-app-secret",
		"data":{"VaultName":"contoso-idp-kv","ObjectName":"facebook-app-secret","ObjectType":"Secret"}}]`), 0o644)
	code, out, _ := runCLI(t, "events", "handle", untyped, "--snapshot", exampleSnapshot, "--config", exampleConfig)
	var line struct{ ID, Outcome, Reason string }
	json.Unmarshal([]byte(strings.TrimSpace(out)), &line)
	if code != exitFindings || line.Outcome != "rejected" || !strings.Contains(line.Reason, "no type") {
		t.Errorf("CloudEvent without type: exit %d %+v", code, line)
	}

	raw, err := os.ReadFile("../examples/events/secret-near-expiry.json")
	if err != nil {
		t.Fatal(err)
	}
	once, _ := json.Marshal(string(raw))
	twice, _ := json.Marshal(string(once))
	for name, data := range map[string][]byte{"string": once, "double-encoded string": twice} {
		f := filepath.Join(dir, strings.ReplaceAll(name, " ", "-")+".json")
		os.WriteFile(f, data, 0o644)
		code, out, errOut := runCLI(t, "events", "handle", f, "--snapshot", exampleSnapshot, "--config", exampleConfig)
		if code != exitOK || !strings.Contains(out, `"outcome":"queued"`) {
			t.Errorf("%s: exit %d %s %s", name, code, out, errOut)
		}
	}
}
