package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// When notices cannot be sent, run says so: exit 3 and one stderr line per
// dead-lettered job, naming it and why.
func TestRunIsLoudWhenEveryNoticeFails(t *testing.T) {
	state := t.TempDir()
	blocked := filepath.Join(t.TempDir(), "outbox")
	// A file where the outbox folder should be: every send fails (as root,
	// a read-only folder would not stop anything).
	os.WriteFile(blocked, []byte("not a folder"), 0o644)
	code, out, errOut := runCLI(t, "run", "--snapshot", exampleSnapshot, "--config", exampleConfig, "--state", state, "--outbox", blocked)
	if code != exitRead {
		t.Fatalf("exit %d, want 3\n%s\n%s", code, out, errOut)
	}
	var summary struct {
		Queue struct{ DeadLettered int }
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	json.Unmarshal([]byte(lines[len(lines)-1]), &summary)
	named := regexp.MustCompile(`(?m)^run: dead-lettered \S+ \((notify-owner|refresh-metadata) [^)]+\): MaxDeliveryCountExceeded: .*not a directory`).FindAllString(errOut, -1)
	if summary.Queue.DeadLettered == 0 || len(named) != summary.Queue.DeadLettered {
		t.Fatalf("%d dead-lettered, %d named on stderr:\n%s", summary.Queue.DeadLettered, len(named), errOut)
	}
	if !strings.Contains(errOut, "job(s) failed") {
		t.Errorf("no closing line:\n%s", errOut)
	}
}

// A corrupt ledger entry is not dropped: its finding's job is parked with
// the document's name, run exits 3 naming it, and jobs dead-letters lists
// it twice (the parked job, the document). No entry carries a zero time.
func TestCorruptLedgerEntryIsParkedWithItsPath(t *testing.T) {
	state, outbox := t.TempDir(), t.TempDir()
	args := []string{"run", "--snapshot", exampleSnapshot, "--config", exampleConfig, "--state", state, "--outbox", outbox, "--now", "2026-11-20T06:00:00Z"}
	if code, out, errOut := runCLI(t, args...); code != exitOK {
		t.Fatalf("first run: %d\n%s\n%s", code, out, errOut)
	}
	docs, _ := filepath.Glob(filepath.Join(state, "ledger", "F-*.json"))
	if len(docs) == 0 {
		t.Fatal("no ledger entries")
	}
	for _, d := range docs {
		if b, _ := os.ReadFile(d); strings.Contains(string(b), "0001-01-01") {
			t.Errorf("%s has a zero timestamp:\n%s", d, b)
		}
	}
	// A notice the next day is due again for overdue findings; corrupt one
	// of theirs.
	var victim string
	for _, d := range docs {
		b, _ := os.ReadFile(d)
		if strings.Contains(string(b), `"stage": "overdue-`) {
			victim = d
			break
		}
	}
	if victim == "" {
		t.Fatal("no overdue finding in the example")
	}
	os.WriteFile(victim, []byte(`{"findingId": "`), 0o644)
	rel := "ledger/" + filepath.Base(victim)
	next := append(args[:len(args)-1:len(args)-1], "2026-11-21T06:00:00Z")
	code, _, errOut := runCLI(t, next...)
	if code != exitRead || !regexp.MustCompile(`(?m)^run: parked \S+ \(notify-owner\) as parked/\S+\.json: .*`+regexp.QuoteMeta(rel)+` in dir:`).MatchString(errOut) {
		t.Fatalf("second run: exit %d\n%s", code, errOut)
	}
	if b, _ := os.ReadFile(victim); string(b) != `{"findingId": "` {
		t.Errorf("the corrupt entry was rewritten: %s", b)
	}
	code, out, errOut := runCLI(t, "jobs", "dead-letters", "--state", state)
	if code != exitOK || !strings.Contains(out, `"source":"parked"`) || !strings.Contains(out, `"source":"corrupt-ledger"`) || !strings.Contains(out, rel) || !strings.Contains(errOut, "warning: ledger document "+rel) {
		t.Errorf("jobs dead-letters: %d\n%s\n%s", code, out, errOut)
	}
}
