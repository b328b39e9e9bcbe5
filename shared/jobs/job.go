package jobs

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"
	"unicode"
)

// Kind names what a job does; it also picks the queue.
type Kind string

// The job kinds.
const (
	KindRefreshMetadata  Kind = "refresh-metadata"
	KindRotateCredential Kind = "rotate-credential"
	KindNotifyOwner      Kind = "notify-owner"
	// KindResolveSecret: a Key Vault event named a secret the last scan did
	// not know (created or re-versioned since). The KeyVaultEvents handler
	// answers Event Grid at once and leaves finding out which dependency it
	// backs to this job. It travels on the rotation queue, because what it
	// leads to is a rotate-credential job.
	KindResolveSecret Kind = "resolve-secret"
)

// Kinds lists every kind this build handles.
func Kinds() []Kind {
	return []Kind{KindRefreshMetadata, KindRotateCredential, KindNotifyOwner, KindResolveSecret}
}

// Known reports whether k is one of Kinds.
func (k Kind) Known() bool {
	switch k {
	case KindRefreshMetadata, KindRotateCredential, KindNotifyOwner, KindResolveSecret:
		return true
	}
	return false
}

// MessageIDPeriod is how long the same job keeps the same MessageID: the
// bucket in the ID is the UTC day. Service Bus duplicate detection drops a
// repeat only while the first message's ID is inside the queue's
// duplicateDetectionHistoryTimeWindow, so that window must be at least this
// long (infra/modules/servicebus.bicep sets P1D; shared/consistency checks
// the two agree).
const MessageIDPeriod = 24 * time.Hour

// Version is the job message format this build writes and reads. Adding an
// optional field keeps the version (readers ignore unknown fields); a change
// that an older reader would misunderstand needs Version 2.
const Version = 1

// Job is one unit of work, sent as the JSON body of a Service Bus message.
// It carries references only: a secret is named (SecretRef), never included.
type Job struct {
	Version int  `json:"version"`
	Kind    Kind `json:"kind"`
	// Dependency is a dependency reference: "federation/<id>",
	// "social/Google-OAUTH", "connector/<id>" (see inventory.Ref).
	Dependency string `json:"dependency"`
	// Reason says why the job exists: "scan", or an event type such as
	// "Microsoft.KeyVault.SecretNearExpiry".
	Reason    string `json:"reason,omitempty"`
	FindingID string `json:"findingId,omitempty"`
	// Stage is the notice stage of a notify-owner job ("d30", "overdue-2026-11-24").
	Stage  string     `json:"stage,omitempty"`
	Secret *SecretRef `json:"secret,omitempty"`
	// Source is the event ID or scan run ID that produced the job, for
	// tracing only: it is not part of the MessageID, so two scan runs that
	// find the same thing produce the same message.
	Source    string    `json:"source,omitempty"`
	CreatedAt time.Time `json:"createdAt"`
	// NotBefore schedules the job (a follow-up re-check); nil means now.
	NotBefore *time.Time `json:"notBefore,omitempty"`
}

// SecretRef names a Key Vault secret version. There is deliberately no field
// for its value.
type SecretRef struct {
	Vault   string `json:"vault"`
	Name    string `json:"name"`
	Version string `json:"version,omitempty"`
}

// maxMessageID is Service Bus's limit on MessageId.
const maxMessageID = 128

// MessageID is the job's deterministic Service Bus MessageId:
//
//	<kind>_<dependency, sanitised, ≤60 chars>_<bucket>_<20 hex of SHA-256>
//
// e.g. "rotate-credential_social-Google-OAUTH_20261124_5c1f…". The hash
// covers kind, dependency, reason, stage, finding ID, the secret reference
// (vault, name, version) and the bucket; the readable prefix is for people
// reading dead-letter lists. The bucket is the UTC date of CreatedAt
// ("20261124") for a job due now, and "at" + the UTC date of NotBefore
// ("at20261125") for a scheduled one. Hence:
//   - the same scan re-run on the same day yields the same IDs, and Service
//     Bus duplicate detection drops the repeats;
//   - a re-check scheduled for tomorrow differs from today's job, and from a
//     second re-check scheduled for the day after;
//   - a follow-up scheduled for tomorrow and tomorrow's scan finding the same
//     thing do not collide (prefix "at"), so the scan's job is not dropped in
//     favour of a follow-up that may run hours later; handlers are idempotent,
//     so running both is harmless.
//
// Source is left out on purpose (it differs per scan run), and so is the time
// of day. The ID uses only [A-Za-z0-9._-], so it is also a safe document
// name (parked/<messageID>.json), and is at most 128 characters.
func (j Job) MessageID() string {
	bucket := j.CreatedAt.UTC().Format("20060102")
	if j.NotBefore != nil {
		bucket = "at" + j.NotBefore.UTC().Format("20060102")
	}
	var secret string
	if j.Secret != nil {
		secret = j.Secret.Vault + "\x1f" + j.Secret.Name + "\x1f" + j.Secret.Version
	}
	h := sha256.New()
	// NUL-separated so that ("a", "bc") and ("ab", "c") hash differently;
	// the leading label lets a future scheme change every ID at once.
	for _, f := range []string{"idpkeeper-job-v1", string(j.Kind), j.Dependency, j.Reason, j.Stage, j.FindingID, secret, bucket} {
		h.Write([]byte(f))
		h.Write([]byte{0})
	}
	sum := hex.EncodeToString(h.Sum(nil))[:20]
	id := sanitize(string(j.Kind), 20) + "_" + sanitize(j.Dependency, 60) + "_" + bucket + "_" + sum
	return id // ≤ 20+1+60+1+10+1+20 = 113
}

// sanitize keeps [A-Za-z0-9._-], maps everything else to '-', and cuts to
// max characters.
func sanitize(s string, max int) string {
	var b strings.Builder
	for _, r := range s {
		if b.Len() >= max {
			break
		}
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '.', r == '-', r == '_':
			b.WriteRune(r)
		default:
			b.WriteByte('-')
		}
	}
	return b.String()
}

// Validate checks a job before it is sent, and after it is decoded. Its
// errors wrap ErrUnsupportedVersion, ErrUnknownKind or ErrInvalid.
func (j Job) Validate() error {
	if j.Version != Version {
		if j.Version == 0 {
			return fmt.Errorf("%w: version missing (this build reads version %d)", ErrUnsupportedVersion, Version)
		}
		return fmt.Errorf("%w: version %d (this build reads version %d)", ErrUnsupportedVersion, j.Version, Version)
	}
	if j.Kind == "" {
		return fmt.Errorf("%w: kind missing", ErrInvalid)
	}
	if !j.Kind.Known() {
		return fmt.Errorf("%w: %q", ErrUnknownKind, clip(string(j.Kind)))
	}
	if j.Dependency == "" {
		return fmt.Errorf("%w: dependency missing", ErrInvalid)
	}
	if err := checkDependency(j.Dependency); err != nil {
		return err
	}
	if j.Kind == KindResolveSecret && j.Secret == nil {
		return fmt.Errorf("%w: resolve-secret job for %s names no secret", ErrInvalid, j.Dependency)
	}
	if j.Kind == KindNotifyOwner && j.Stage == "" {
		return fmt.Errorf("%w: notify-owner job for %s has no stage", ErrInvalid, j.Dependency)
	}
	if j.Secret != nil && (j.Secret.Vault == "" || j.Secret.Name == "") {
		return fmt.Errorf("%w: secret reference needs vault and name", ErrInvalid)
	}
	// CreatedAt is part of the MessageID; a zero time would give every
	// undated job of one dependency the same ID for ever.
	if j.CreatedAt.IsZero() {
		return fmt.Errorf("%w: createdAt missing", ErrInvalid)
	}
	if j.NotBefore != nil && j.NotBefore.IsZero() {
		return fmt.Errorf("%w: notBefore is the zero time", ErrInvalid)
	}
	return nil
}

// checkDependency wants "<kind>/<id>", both parts non-empty, printable.
func checkDependency(dep string) error {
	if len(dep) > 400 {
		return fmt.Errorf("%w: dependency reference longer than 400 bytes", ErrInvalid)
	}
	kind, id, ok := strings.Cut(dep, "/")
	if !ok || kind == "" || id == "" {
		return fmt.Errorf("%w: dependency %q is not <kind>/<id>", ErrInvalid, clip(dep))
	}
	for _, r := range dep {
		if !unicode.IsPrint(r) || unicode.IsSpace(r) {
			return fmt.Errorf("%w: dependency %q has a space or control character", ErrInvalid, clip(dep))
		}
	}
	return nil
}

// clip bounds untrusted text quoted in an error message.
func clip(s string) string { return clipN(s, 80) }

// Encode is the message body for j: its JSON.
func (j Job) Encode() ([]byte, error) {
	return json.Marshal(j)
}

// Decode reads a message body strictly: the body must be one JSON object
// (not a JSON string holding one: funchost has already removed the host's
// string layers) in a supported version, with a known kind and the fields
// Validate requires. Unknown fields are ignored, so that a newer build can
// add an optional field during a rolling deployment without older instances
// parking its jobs. Every error wraps ErrMalformed, ErrUnsupportedVersion,
// ErrUnknownKind or ErrInvalid, all permanent (IsPermanent). Errors never
// quote the body, which a misdirected sender could have filled with anything.
func Decode(body []byte) (Job, error) {
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 {
		return Job{}, fmt.Errorf("%w: empty body", ErrMalformed)
	}
	if trimmed[0] != '{' {
		return Job{}, fmt.Errorf("%w: body is %s, not a JSON object", ErrMalformed, jsonKind(trimmed[0]))
	}
	var j Job
	if err := json.Unmarshal(trimmed, &j); err != nil {
		var syn *json.SyntaxError
		var typ *json.UnmarshalTypeError
		switch {
		case errors.As(err, &syn):
			return Job{}, fmt.Errorf("%w: invalid JSON at byte %d", ErrMalformed, syn.Offset)
		case errors.As(err, &typ):
			return Job{}, fmt.Errorf("%w: field %q: %s where %s is expected", ErrMalformed, typ.Field, typ.Value, typ.Type)
		default:
			// Truncated input ("unexpected end of JSON input") and bad
			// times land here; the message names no content.
			return Job{}, fmt.Errorf("%w: %v", ErrMalformed, err)
		}
	}
	if err := j.Validate(); err != nil {
		return Job{}, err
	}
	return j, nil
}

func jsonKind(first byte) string {
	switch {
	case first == '"':
		return "a JSON string"
	case first == '[':
		return "a JSON array"
	case first == 'n':
		return "null or not JSON"
	case first == 't' || first == 'f':
		return "a boolean or not JSON"
	case first == '-' || (first >= '0' && first <= '9'):
		return "a number"
	default:
		return "not JSON"
	}
}

// Queues names the three queues.
type Queues struct {
	Metadata string // refresh-metadata jobs
	Rotation string // rotate-credential jobs
	Notices  string // notify-owner jobs
}

// App settings naming the queues, and their defaults.
const (
	SettingQueueMetadata = "IDPKEEPER_QUEUE_METADATA"
	SettingQueueRotation = "IDPKEEPER_QUEUE_ROTATION"
	SettingQueueNotices  = "IDPKEEPER_QUEUE_NOTICES"

	DefaultQueueMetadata = "idpkeeper-metadata"
	DefaultQueueRotation = "idpkeeper-rotation"
	DefaultQueueNotices  = "idpkeeper-notices"
)

// DefaultQueues are the queue names infra creates.
func DefaultQueues() Queues {
	return Queues{Metadata: DefaultQueueMetadata, Rotation: DefaultQueueRotation, Notices: DefaultQueueNotices}
}

// QueuesFromEnv reads the queue settings, defaulting each unset one.
func QueuesFromEnv() Queues { return queuesFrom(os.Getenv) }

func queuesFrom(getenv func(string) string) Queues {
	q := DefaultQueues()
	if v := strings.TrimSpace(getenv(SettingQueueMetadata)); v != "" {
		q.Metadata = v
	}
	if v := strings.TrimSpace(getenv(SettingQueueRotation)); v != "" {
		q.Rotation = v
	}
	if v := strings.TrimSpace(getenv(SettingQueueNotices)); v != "" {
		q.Notices = v
	}
	return q
}

// withDefaults fills empty names.
func (q Queues) withDefaults() Queues {
	return queuesFrom(func(key string) string {
		switch key {
		case SettingQueueMetadata:
			return q.Metadata
		case SettingQueueRotation:
			return q.Rotation
		default:
			return q.Notices
		}
	})
}

// Queue is the queue for kind k, or "" for an unknown kind.
func (q Queues) Queue(k Kind) string {
	switch k {
	case KindRefreshMetadata:
		return q.Metadata
	case KindRotateCredential, KindResolveSecret:
		return q.Rotation
	case KindNotifyOwner:
		return q.Notices
	}
	return ""
}

// Names lists the three queue names.
func (q Queues) Names() []string { return []string{q.Metadata, q.Rotation, q.Notices} }
