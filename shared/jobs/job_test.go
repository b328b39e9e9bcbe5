package jobs

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"
)

var day = time.Date(2026, 11, 24, 6, 0, 0, 0, time.UTC)

func ptr[T any](v T) *T { return &v }

func rotateJob() Job {
	return Job{
		Version: Version, Kind: KindRotateCredential, Dependency: "social/Google-OAUTH",
		Reason: "scan", FindingID: "f-1a2b", Source: "scan-run-1",
		Secret:    &SecretRef{Vault: "kv-idpkeeper", Name: "google-oauth", Version: "v1"},
		CreatedAt: day,
	}
}

func TestMessageIDDeterminism(t *testing.T) {
	base := rotateJob()
	type idCase struct {
		name   string
		mutate func(*Job)
		same   bool
	}
	same := func(name string, mutate func(*Job)) idCase { return idCase{name, mutate, true} }
	diff := func(name string, mutate func(*Job)) idCase { return idCase{name, mutate, false} }
	cases := []idCase{
		same("identical", func(j *Job) {}),
		// The same scan re-run later that day, by another run.
		same("later the same day, other scan run", func(j *Job) {
			j.CreatedAt = day.Add(17 * time.Hour)
			j.Source = "scan-run-2"
		}),
		same("same instant in another zone", func(j *Job) {
			j.CreatedAt = day.In(time.FixedZone("UTC+5", 5*3600))
		}),
		diff("next day's scan", func(j *Job) { j.CreatedAt = day.Add(24 * time.Hour) }),
		diff("other dependency", func(j *Job) { j.Dependency = "social/Facebook-OAUTH" }),
		diff("other kind", func(j *Job) { j.Kind = KindRefreshMetadata }),
		diff("other reason", func(j *Job) { j.Reason = "Microsoft.KeyVault.SecretNearExpiry" }),
		diff("other finding", func(j *Job) { j.FindingID = "f-9999" }),
		diff("other stage", func(j *Job) { j.Stage = "d14" }),
		diff("new secret version", func(j *Job) { j.Secret = &SecretRef{Vault: "kv-idpkeeper", Name: "google-oauth", Version: "v2"} }),
		diff("no secret", func(j *Job) { j.Secret = nil }),
		// A follow-up scheduled for tomorrow is not today's job, nor
		// tomorrow's immediate one.
		diff("follow-up tomorrow", func(j *Job) { j.NotBefore = ptr(day.Add(24 * time.Hour)) }),
	}
	want := base.MessageID()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			j := base
			c.mutate(&j)
			got := j.MessageID()
			if (got == want) != c.same {
				t.Errorf("MessageID = %s, base %s, want same=%v", got, want, c.same)
			}
		})
	}

	// Follow-ups: one scheduled twice on the same day (two scan runs) is one
	// message; tomorrow's and the day after's differ; a follow-up for
	// tomorrow differs from tomorrow's immediate scan job.
	f1, f2, f3 := base, base, base
	f1.NotBefore = ptr(day.Add(24 * time.Hour))
	f2.CreatedAt, f2.NotBefore = day.Add(5*time.Hour), ptr(day.Add(29*time.Hour))
	f3.NotBefore = ptr(day.Add(48 * time.Hour))
	tomorrow := base
	tomorrow.CreatedAt = day.Add(24 * time.Hour)
	if f1.MessageID() != f2.MessageID() {
		t.Errorf("the same follow-up scheduled twice for tomorrow: %s vs %s", f1.MessageID(), f2.MessageID())
	}
	if f1.MessageID() == f3.MessageID() {
		t.Errorf("follow-ups for different days share %s", f1.MessageID())
	}
	if f1.MessageID() == tomorrow.MessageID() {
		t.Errorf("follow-up and tomorrow's scan job share %s", f1.MessageID())
	}
	// Field boundaries are part of the hash: moving text between fields
	// changes the ID.
	a, b := base, base
	a.Reason, a.Stage = "scan", "d30"
	b.Reason, b.Stage = "scand", "30"
	if a.MessageID() == b.MessageID() {
		t.Error("reason/stage boundary not hashed")
	}
}

func TestMessageIDShape(t *testing.T) {
	safe := regexp.MustCompile(`^[A-Za-z0-9._-]+$`)
	long := rotateJob()
	long.Dependency = "connector/" + strings.Repeat("x/ä", 200)
	long.Reason = strings.Repeat("r", 1000)
	long.NotBefore = ptr(day)
	for _, j := range []Job{rotateJob(), long, {}} {
		id := j.MessageID()
		if len(id) > 128 || !safe.MatchString(id) {
			t.Errorf("MessageID %q: length %d, want ≤128 chars of [A-Za-z0-9._-]", id, len(id))
		}
	}
	if got := rotateJob().MessageID(); !strings.HasPrefix(got, "rotate-credential_social-Google-OAUTH_20261124_") {
		t.Errorf("MessageID = %s, want the readable prefix", got)
	}
}

func TestDecode(t *testing.T) {
	good, err := rotateJob().Encode()
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		body string
		want error
	}{
		{"empty", ``, ErrMalformed},
		{"spaces", " \n\t", ErrMalformed},
		{"truncated", string(good[:len(good)/2]), ErrMalformed},
		{"JSON string (still encoded)", fmt.Sprintf("%q", good), ErrMalformed},
		{"array", `[` + string(good) + `]`, ErrMalformed},
		{"null", `null`, ErrMalformed},
		{"number", `42`, ErrMalformed},
		{"trailing garbage", string(good) + `}`, ErrMalformed},
		{"wrong type", `{"version":"1","kind":"notify-owner"}`, ErrMalformed},
		{"bad time", `{"version":1,"kind":"rotate-credential","dependency":"social/x","createdAt":"yesterday"}`, ErrMalformed},
		{"version 2", `{"version":2,"kind":"rotate-credential","dependency":"social/x","createdAt":"2026-11-24T06:00:00Z"}`, ErrUnsupportedVersion},
		{"version missing", `{"kind":"rotate-credential","dependency":"social/x","createdAt":"2026-11-24T06:00:00Z"}`, ErrUnsupportedVersion},
		{"unknown kind", `{"version":1,"kind":"rotate-everything","dependency":"social/x","createdAt":"2026-11-24T06:00:00Z"}`, ErrUnknownKind},
		{"kind missing", `{"version":1,"dependency":"social/x","createdAt":"2026-11-24T06:00:00Z"}`, ErrInvalid},
		{"dependency missing", `{"version":1,"kind":"rotate-credential","createdAt":"2026-11-24T06:00:00Z"}`, ErrInvalid},
		{"dependency not a reference", `{"version":1,"kind":"rotate-credential","dependency":"Google","createdAt":"2026-11-24T06:00:00Z"}`, ErrInvalid},
		{"createdAt missing", `{"version":1,"kind":"rotate-credential","dependency":"social/x"}`, ErrInvalid},
		{"notify without stage", `{"version":1,"kind":"notify-owner","dependency":"social/x","createdAt":"2026-11-24T06:00:00Z"}`, ErrInvalid},
		{"secret without name", `{"version":1,"kind":"rotate-credential","dependency":"social/x","createdAt":"2026-11-24T06:00:00Z","secret":{"vault":"kv"}}`, ErrInvalid},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Decode([]byte(c.body))
			if !errors.Is(err, c.want) {
				t.Fatalf("Decode error = %v, want %v", err, c.want)
			}
			if !IsPermanent(err) {
				t.Errorf("Decode error %v is not permanent", err)
			}
		})
	}
}

func TestDecodeRoundTripAndUnknownFields(t *testing.T) {
	j := rotateJob()
	j.NotBefore = ptr(day.Add(time.Hour))
	body, err := j.Encode()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(body), "Version\"") || !strings.Contains(string(body), `"findingId":"f-1a2b"`) {
		t.Errorf("body is not camelCase: %s", body)
	}
	got, err := Decode(body)
	if err != nil {
		t.Fatal(err)
	}
	if got.MessageID() != j.MessageID() || got.Secret.Version != "v1" || !got.NotBefore.Equal(*j.NotBefore) {
		t.Errorf("round trip: %+v, want %+v", got, j)
	}
	// A field added by a newer build in the same version is ignored.
	extra := strings.Replace(string(body), `{`, `{"priority":"high",`, 1)
	if _, err := Decode([]byte(extra)); err != nil {
		t.Errorf("unknown field: %v", err)
	}
}

func TestDecodeErrorsDoNotQuoteTheBody(t *testing.T) {
	const marker = "SECRETVALUE123"
	for _, body := range []string{
		`"` + marker + `"`,
		`{"version":1,"kind":"rotate-credential","dependency":"social/x","secret":{"vault":"` + marker,
		`{"version":"` + marker + `"}`,
	} {
		_, err := Decode([]byte(body))
		if err == nil || strings.Contains(err.Error(), marker) {
			t.Errorf("Decode(%.30s…) error = %v: want an error that does not repeat the body", body, err)
		}
	}
}

func TestQueues(t *testing.T) {
	env := map[string]string{SettingQueueRotation: " custom-rotation "}
	q := queuesFrom(func(k string) string { return env[k] })
	want := Queues{Metadata: "idpkeeper-metadata", Rotation: "custom-rotation", Notices: "idpkeeper-notices"}
	if q != want {
		t.Fatalf("queuesFrom = %+v, want %+v", q, want)
	}
	for k, name := range map[Kind]string{KindRefreshMetadata: want.Metadata, KindRotateCredential: want.Rotation, KindNotifyOwner: want.Notices, "other": ""} {
		if got := q.Queue(k); got != name {
			t.Errorf("Queue(%s) = %q, want %q", k, got, name)
		}
	}
	if got := (Queues{Rotation: "r"}).withDefaults(); got != (Queues{DefaultQueueMetadata, "r", DefaultQueueNotices}) {
		t.Errorf("withDefaults = %+v", got)
	}
}

func TestPermanent(t *testing.T) {
	base := errors.New("boom")
	if IsPermanent(base) || IsPermanent(nil) || Permanent(nil) != nil {
		t.Fatal("plain errors and nil are not permanent")
	}
	p := Permanent(base)
	wrapped := fmt.Errorf("handler: %w", p)
	if !IsPermanent(p) || !IsPermanent(wrapped) || !errors.Is(wrapped, base) || p.Error() != "boom" {
		t.Errorf("Permanent(boom) = %v: want permanent, still wrapping boom", p)
	}
	if Permanent(p) != p {
		t.Error("Permanent twice should not wrap again")
	}
}

// selfPermanent stands for shared/tenant's GraphError: it knows whether
// retrying can help (a 400 cannot; a 503 may).
type selfPermanent struct{ permanent bool }

func (e selfPermanent) Error() string   { return "graph answered" }
func (e selfPermanent) Permanent() bool { return e.permanent }

func TestErrorsThatSayTheyArePermanent(t *testing.T) {
	if !IsPermanent(fmt.Errorf("reading: %w", selfPermanent{true})) {
		t.Error("a wrapped error whose Permanent() is true is not permanent")
	}
	if IsPermanent(fmt.Errorf("reading: %w", selfPermanent{false})) {
		t.Error("an error whose Permanent() is false is permanent")
	}
}
