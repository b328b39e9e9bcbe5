package notify

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/idpkeeper/idpkeeper/shared/statestore"
)

// StoreDir is the folder of the state store that holds every notice.
const StoreDir = "outbox"

// Store keeps each notice in the state store, as three documents under
// outbox/<date>/ (the UTC date it was composed):
//
//	<finding>-<stage>.json  the notice: recipients, subject, stage, deadline, text, HTML
//	<finding>-<stage>.txt   the plain text as mailed
//	<finding>-<stage>.html  the HTML part as mailed
//
// The Functions app always includes it, in front of whatever mail or webhook
// the config names: a notice is never lost because a channel is missing or
// misconfigured, and with no channel configured it is still written (and
// logged) and the job succeeds. One document per notice, written whole and
// named by finding and stage, so a repeat overwrites rather than adds, and
// a later lease or retention sweep can work per document.
type Store struct {
	State statestore.Store
	// Now dates the folder; nil means the wall clock.
	Now func() time.Time
	// Logger gets one line per stored notice (nil: slog.Default).
	Logger *slog.Logger
	// Only is true when no mail or webhook is configured: the log line then
	// says the notice went nowhere else.
	Only bool
}

// Name implements Channel.
func (Store) Name() string { return "store" }

// StoredNotice is the JSON document a notice is kept as.
type StoredNotice struct {
	NoticeID   string      `json:"noticeId"`
	FindingID  string      `json:"findingId"`
	Stage      string      `json:"stage"`
	Kind       string      `json:"kind"`
	Severity   string      `json:"severity"`
	Dependency string      `json:"dependency"`
	To         []Recipient `json:"to"`
	Cc         []Recipient `json:"cc,omitempty"`
	Subject    string      `json:"subject"`
	Deadline   *time.Time  `json:"deadline,omitempty"`
	AckURL     string      `json:"ackUrl,omitempty"`
	StoredAt   time.Time   `json:"storedAt"`
	// Text and HTML are also kept as their own documents (Documents).
	Text      string   `json:"text"`
	HTML      string   `json:"html"`
	Documents []string `json:"documents"`
}

// StoreDocument is the name of the JSON document of a notice stored at.
func StoreDocument(at time.Time, findingID, stage string) string {
	return StoreDir + "/" + at.UTC().Format("2006-01-02") + "/" + findingID + "-" + stage + ".json"
}

// Send implements Channel.
func (s Store) Send(ctx context.Context, m Message) (string, error) {
	if s.State == nil {
		return "", permanent(fmt.Errorf("store: no state store"), "set IDPKEEPER_STATE")
	}
	base := m.FindingID + "-" + m.Stage
	if !safeFileName.MatchString(base) {
		return "", permanent(fmt.Errorf("store: finding %q and stage %q do not make a document name", m.FindingID, m.Stage), "")
	}
	now := time.Now().UTC()
	if s.Now != nil {
		now = s.Now().UTC()
	}
	doc := StoreDocument(now, m.FindingID, m.Stage)
	stem := strings.TrimSuffix(doc, ".json")
	txt, html := stem+".txt", stem+".html"
	// Text and HTML first, the JSON last: a reader that finds the JSON
	// finds the whole notice.
	if _, err := s.State.Put(ctx, txt, []byte(m.Text), statestore.Condition{}); err != nil {
		return "", fmt.Errorf("store: %s: %w", txt, err)
	}
	if _, err := s.State.Put(ctx, html, []byte(m.HTML), statestore.Condition{}); err != nil {
		return "", fmt.Errorf("store: %s: %w", html, err)
	}
	data, err := json.MarshalIndent(StoredNotice{
		NoticeID: noticeID(m), FindingID: m.FindingID, Stage: m.Stage, Kind: m.Kind, Severity: m.Severity,
		Dependency: m.Dependency, To: m.To, Cc: m.Cc, Subject: m.Subject, Deadline: m.Deadline, AckURL: m.AckURL,
		StoredAt: now, Text: m.Text, HTML: m.HTML, Documents: []string{txt, html},
	}, "", "  ")
	if err != nil {
		return "", fmt.Errorf("store: %w", err)
	}
	if _, err := s.State.Put(ctx, doc, data, statestore.Condition{}); err != nil {
		return "", fmt.Errorf("store: %s: %w", doc, err)
	}
	log := s.Logger
	if log == nil {
		log = slog.Default()
	}
	attrs := []any{"finding", m.FindingID, "stage", m.Stage, "to", orNobody(m.Recipients()), "document", doc, "store", s.State.Describe()}
	if s.Only {
		log.Info("notice stored (no mail or webhook configured: it was sent nowhere else)", attrs...)
	} else {
		log.Info("notice stored", attrs...)
	}
	return "store:" + doc, nil
}
