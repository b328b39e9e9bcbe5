package notify_test

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/idpkeeper/idpkeeper/shared/azurefake"
	"github.com/idpkeeper/idpkeeper/shared/config"
	"github.com/idpkeeper/idpkeeper/shared/jobs"
	"github.com/idpkeeper/idpkeeper/shared/ledger"
	"github.com/idpkeeper/idpkeeper/shared/notify"
	"github.com/idpkeeper/idpkeeper/shared/statestore"
)

// Every notice lands in the state store as outbox/<date>/<finding>-<stage>
// .json, .txt and .html — on Blob (Azurite) and in a folder alike.
func TestStoreKeepsEachNotice(t *testing.T) {
	at := time.Date(2026, 11, 20, 6, 0, 0, 0, time.UTC)
	for name, state := range ledgerStores(t) {
		t.Run(name, func(t *testing.T) {
			var logs lockedBuffer
			st := notify.Store{State: state, Now: func() time.Time { return at }, Logger: slog.New(slog.NewTextHandler(&logs, nil)), Only: true}
			m := notify.Compose(partnerFinding(), "d14", testConfig(), testLinks)
			for range 2 { // a repeat overwrites
				id, err := st.Send(context.Background(), m)
				if err != nil || id != "store:outbox/2026-11-20/F-0123456789ab-d14.json" {
					t.Fatalf("id %q err %v", id, err)
				}
			}
			data, _, err := state.Get(context.Background(), notify.StoreDocument(at, m.FindingID, m.Stage))
			if err != nil {
				t.Fatal(err)
			}
			var doc notify.StoredNotice
			if err := json.Unmarshal(data, &doc); err != nil {
				t.Fatal(err)
			}
			if doc.NoticeID != "F-0123456789ab/d14" || doc.Subject != m.Subject || doc.Text != m.Text || doc.HTML != m.HTML ||
				len(doc.To) != 1 || doc.To[0].Email != "it@fabrikam.com" || !doc.StoredAt.Equal(at) {
				t.Fatalf("stored notice %+v", doc)
			}
			txt, _, err := state.Get(context.Background(), "outbox/2026-11-20/F-0123456789ab-d14.txt")
			html, _, err2 := state.Get(context.Background(), "outbox/2026-11-20/F-0123456789ab-d14.html")
			if err != nil || err2 != nil || string(txt) != m.Text || string(html) != m.HTML {
				t.Fatalf("renderings: %v %v", err, err2)
			}
			if !strings.Contains(logs.String(), "no mail or webhook configured") || !strings.Contains(logs.String(), "F-0123456789ab") {
				t.Errorf("the stored notice is not logged: %s", logs.String())
			}
		})
	}
}

// With only the store (no mail, no webhook: the default Azure deployment),
// Notify succeeds and the ledger records the stage as sent on "store".
func TestNotifyWithOnlyTheStore(t *testing.T) {
	state := statestore.Dir{Root: t.TempDir()}
	now := due.Add(-10 * day)
	clock := func() time.Time { return now }
	chs, err := notify.FromConfig(testConfigWithout(), notify.Deps{Store: &notify.Store{State: state, Now: clock}})
	if err != nil || len(chs) != 1 || chs[0].Name() != "store" || !chs[0].(notify.Store).Only {
		t.Fatalf("channels %+v %v", chs, err)
	}
	n := &notify.Notifier{Ledger: &ledger.Ledger{Store: state, Now: clock}, Channels: chs, Config: testConfig(), Now: clock}
	res, err := n.Notify(context.Background(), partnerFinding(), "job-1")
	if err != nil || res.Status != notify.StatusSent {
		t.Fatalf("%+v %v", res, err)
	}
	e, _ := n.Ledger.Get(context.Background(), partnerFinding().ID)
	if got, _ := e.Notice("d14", "store"); got.Status != ledger.StatusSent || !strings.HasPrefix(got.MessageID, "store:outbox/") {
		t.Fatalf("ledger notice %+v", got)
	}
}

func testConfigWithout() *config.Config {
	cfg := testConfig()
	cfg.Notifications = config.Notifications{}
	return cfg
}

// A channel that cannot work fails permanently with the fix (the job is
// parked); one that may recover does not.
func TestChannelFailuresPermanentOrNot(t *testing.T) {
	ctx := context.Background()
	m := notify.Compose(partnerFinding(), "d7", testConfig(), testLinks)

	srv, mail := graphFake(t)
	// Graph's sendMail answers (learn.microsoft.com/graph/api/user-sendmail):
	// 403 ErrorAccessDenied without Mail.Send for the mailbox, 404
	// ErrorInvalidUser for a mailbox that does not exist.
	srv.AddFault(azurefake.Fault{Method: http.MethodPost, PathPrefix: "/v1.0/users/", Status: http.StatusForbidden,
		Code: "ErrorAccessDenied", Message: "Access is denied. Check credentials and try again.", Times: 1})
	_, err := mail.Send(ctx, m)
	if !jobs.IsPermanent(err) || !strings.Contains(err.Error(), `grant "Mail.Send, restricted to mailbox idpkeeper@contoso.com`) {
		t.Errorf("sendMail 403: %v", err)
	}
	srv.AddFault(azurefake.Fault{Method: http.MethodPost, PathPrefix: "/v1.0/users/", Status: http.StatusNotFound,
		Code: "ErrorInvalidUser", Message: "The requested user 'idpkeeper@contoso.com' is invalid.", Times: 1})
	_, err = mail.Send(ctx, m)
	if !jobs.IsPermanent(err) || !strings.Contains(err.Error(), "IDPKEEPER_NOTICE_MAILBOX") {
		t.Errorf("sendMail 404: %v", err)
	}

	for status, perm := range map[int]bool{404: true, 410: true, 403: true, 401: true, 400: true, 500: false, 503: false, 429: false} {
		h := &hook{status: status}
		hs := httptest.NewServer(h)
		_, err := notify.Webhook{URL: hs.URL + "/hook?sig=SEKRETSIG", Network: loopback}.Send(ctx, m)
		hs.Close()
		if err == nil || jobs.IsPermanent(err) != perm || strings.Contains(err.Error(), "SEKRET") {
			t.Errorf("webhook HTTP %d: permanent=%v (want %v): %v", status, jobs.IsPermanent(err), perm, err)
		}
	}
}

// Notify is permanent only when every failed channel failed for good: with
// the webhook merely unavailable the job must be retried, even though mail
// failed for good.
func TestNotifyPermanentOnlyWhenAllFailuresAre(t *testing.T) {
	ctx := context.Background()
	r := newRig(t, statestore.Dir{Root: t.TempDir()})
	r.at(due.Add(-10 * day))
	r.graph.AddFault(azurefake.Fault{Method: http.MethodPost, PathPrefix: "/v1.0/users/", Status: http.StatusForbidden, Code: "ErrorAccessDenied"})
	r.hook.mu.Lock()
	r.hook.status = http.StatusServiceUnavailable
	r.hook.mu.Unlock()
	_, err := r.n.Notify(ctx, partnerFinding(), "first")
	var ne *notify.NoticeError
	if !errors.As(err, &ne) || jobs.IsPermanent(err) {
		t.Fatalf("mail 403 + webhook 503 = %v (permanent %v); the 503 deserves a retry", err, jobs.IsPermanent(err))
	}
	// The retry: the webhook works now, mail still 403 — nothing left that
	// a retry could fix.
	_, err = r.n.Notify(ctx, partnerFinding(), "retry")
	if !jobs.IsPermanent(err) || !strings.Contains(err.Error(), "Mail.Send") {
		t.Fatalf("only the 403 left: %v (permanent %v)", err, jobs.IsPermanent(err))
	}
	if got := r.counts(t); got != [3]int{0, 1, 1} {
		t.Fatalf("counts (mail, webhook, outbox) = %v", got)
	}
}
