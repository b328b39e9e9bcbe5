// Package staged rotates an API connector's basic-auth password in stages,
// the way AWS Secrets Manager rotates a secret (createSecret → setSecret →
// testSecret → finishSecret with AWSPENDING / AWSCURRENT / AWSPREVIOUS):
//
//  1. create: a pending password (crypto/rand, the policy's length and
//     classes) is stored as a new Key Vault version tagged
//     idpkeeper-stage=pending, with the deadline the API owner has;
//  2. wait: the API owner installs the pending password on the API (they
//     read it from Key Vault; a notice names the secret and version, never
//     the value); each Step probes the API with the pending credentials;
//  3. cut over: once the API accepts them, the connector is PATCHed with the
//     pending password, read back, and probed again; the version is tagged
//     idpkeeper-connector-patched;
//  4. promote: the old current version is tagged previous (kept for the
//     grace period, so the API owner can still roll back), the pending one
//     current.
//
// Step does the next stage only and is re-entrant: the state lives in Key
// Vault tags (and a journal entry), so a job redelivered after a crash at any
// point finds where it stopped. Crash points:
//   - after the new version is stored, before the journal: the re-run finds
//     the pending tag and waits; no second version is created;
//   - after the PATCH, before the patched tag: the re-run probes again,
//     finds the API accepting, and PATCHes the same value again (the only
//     write that can repeat, with the same value; Graph never returns the
//     password, so the first cannot be observed);
//   - after the patched tag: the re-run only promotes;
//   - between the two promote tags: the previous one is set first, so the
//     re-run sees a patched pending version and no current one, and finishes.
//
// Dry run (the default) reads and probes but writes nothing.
package staged

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"math/big"
	"sort"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azsecrets"
	"github.com/microsoftgraph/msgraph-sdk-go/models"

	"github.com/idpkeeper/idpkeeper/shared/repair"
	"github.com/idpkeeper/idpkeeper/shared/tenant"
)

// Tags on the secret's versions.
const (
	TagStage      = "idpkeeper-stage"
	TagDeadline   = "idpkeeper-deadline"
	TagPatched    = "idpkeeper-connector-patched"
	TagPromotedAt = "idpkeeper-promoted-at"
	TagPending    = "pending"
	TagCurrent    = "current"
	TagPrevious   = "previous"
)

// Stages Step reports.
const (
	StageWouldCreate = "would-create-pending"
	StagePending     = "pending-created"
	StageWaiting     = "waiting-for-api"
	StageOverdue     = "overdue"
	StageWouldCut    = "would-cut-over"
	// StageWouldProbe: a dry run found a pending password waiting for the
	// API; probing needs its value, which a dry run does not read.
	StageWouldProbe = "would-probe-pending"
	StageCutOver    = "cut-over"
	StageDone       = "done"
)

// Prober says whether the API accepts a user and password. The API
// connector probe implements it; tests use a fake API.
type Prober interface {
	Accepts(ctx context.Context, targetURL, user, password string) (bool, string, error)
}

// Policy shapes generated passwords.
type Policy struct {
	Length  int  // default 32
	Symbols bool // include symbols besides letters and digits
}

// GeneratePassword draws a password from crypto/rand, uniformly per
// character, with at least one upper-case letter, lower-case letter and digit
// (and symbol when asked).
func GeneratePassword(p Policy) (string, error) {
	if p.Length == 0 {
		p.Length = 32
	}
	classes := []string{"ABCDEFGHJKLMNPQRSTUVWXYZ", "abcdefghijkmnopqrstuvwxyz", "23456789"}
	if p.Symbols {
		classes = append(classes, "-_.~!@#%^*+=")
	}
	if p.Length < len(classes) || p.Length > 256 {
		return "", fmt.Errorf("password length %d is out of range (%d–256)", p.Length, len(classes))
	}
	all := strings.Join(classes, "")
	for {
		b := make([]byte, p.Length)
		for i := range b {
			n, err := rand.Int(rand.Reader, big.NewInt(int64(len(all))))
			if err != nil {
				return "", err
			}
			b[i] = all[n.Int64()]
		}
		ok := true
		for _, c := range classes {
			ok = ok && strings.ContainsAny(string(b), c)
		}
		if ok { // rejection sampling keeps the draw uniform
			return string(b), nil
		}
	}
}

// Rotator carries out the stages for one vault.
type Rotator struct {
	Graph    *tenant.Graph
	Vault    *azsecrets.Client
	VaultURL string
	Prober   Prober
	Journal  *repair.Journal
	Mode     repair.Mode
	Now      func() time.Time
	Policy   Policy
	// Deadline is how long the API owner has to install the pending
	// password (default 14 days); Recheck how often Step is run meanwhile
	// (default 24 h: one scheduled job a day).
	Deadline time.Duration
	Recheck  time.Duration
	// ReadBack bounds the re-reads after the cut-over PATCH.
	ReadBack repair.ReadBack
}

// State is where a rotation stands. It never holds a password.
type State struct {
	Stage           string     `json:"stage"`
	PendingVersion  string     `json:"pendingVersion,omitempty"`
	CurrentVersion  string     `json:"currentVersion,omitempty"`
	PreviousVersion string     `json:"previousVersion,omitempty"`
	Done            bool       `json:"done"`
	NextCheck       *time.Time `json:"nextCheck,omitempty"`
	Deadline        *time.Time `json:"deadline,omitempty"`
	// Notice is for the API owner (or, when overdue, the administrators).
	Notice string `json:"notice,omitempty"`
	// Wrote lists what this Step wrote (references only).
	Wrote []string `json:"wrote,omitempty"`
	// JournalID names the journal entry of this rotation.
	JournalID string `json:"journalId,omitempty"`
}

type version struct {
	id      string
	created time.Time
	expires *time.Time
	enabled bool
	tags    map[string]string
}

func (r *Rotator) now() time.Time {
	if r.Now != nil {
		return r.Now().UTC()
	}
	return time.Now().UTC()
}

func (r *Rotator) versions(ctx context.Context, name string) ([]version, error) {
	var out []version
	pages := tenant.VaultPages{What: "list versions of " + name}
	pager := r.Vault.NewListSecretPropertiesVersionsPager(name, nil)
	for pager.More() {
		page, err := pager.NextPage(ctx)
		if err == nil {
			err = pages.Check(ctx, page.Value == nil, page.NextLink)
		}
		if err != nil {
			return nil, err
		}
		for _, p := range page.Value {
			if p == nil || p.ID == nil {
				continue
			}
			v := version{id: p.ID.Version(), tags: map[string]string{}}
			if p.Attributes != nil {
				v.enabled = p.Attributes.Enabled == nil || *p.Attributes.Enabled
				if p.Attributes.Created != nil {
					v.created = *p.Attributes.Created
				}
				v.expires = p.Attributes.Expires
			}
			for k, val := range p.Tags {
				if val != nil {
					v.tags[k] = *val
				}
			}
			out = append(out, v)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].created.Before(out[j].created) })
	return out, nil
}

// Step does the next stage of the rotation of connectorID's password, kept
// in Key Vault secret secretName. With nothing pending it starts a rotation:
// callers run it when the password is due (expiry near) and, while a
// rotation is in progress, at State.NextCheck.
func (r *Rotator) Step(ctx context.Context, connectorID, secretName string) (State, error) {
	jid := "staged-" + strings.ToLower(connectorID)
	st := State{JournalID: jid}
	vs, err := r.versions(ctx, secretName)
	if err != nil {
		return st, fmt.Errorf("list versions of %s: %w", secretName, err)
	}
	var pending, current *version
	for i := range vs {
		v := &vs[i]
		switch v.tags[TagStage] {
		case TagPending:
			if v.enabled {
				pending = v
			}
		case TagCurrent:
			current = v
		case TagPrevious:
			st.PreviousVersion = v.id
		}
	}
	if current == nil {
		// Before the first staged rotation nobody tagged the version in use:
		// it is the newest enabled one that is not pending.
		for i := len(vs) - 1; i >= 0; i-- {
			if vs[i].enabled && vs[i].tags[TagStage] == "" {
				current = &vs[i]
				break
			}
		}
	}
	if current != nil {
		st.CurrentVersion = current.id
	}
	now := r.now()
	recheck := r.Recheck
	if recheck == 0 {
		recheck = 24 * time.Hour
	}

	// 1. create the pending version.
	if pending == nil {
		if r.Mode != repair.Apply {
			st.Stage = StageWouldCreate
			return st, nil
		}
		pw, err := GeneratePassword(r.Policy)
		if err != nil {
			return st, err
		}
		deadline := now.Add(r.deadline())
		tags := map[string]*string{}
		if current != nil {
			for k, v := range current.tags {
				if !strings.HasPrefix(k, "idpkeeper-") || k == "idpkeeper-dependency" {
					tags[k] = to(v)
				}
			}
		}
		tags[TagStage], tags[TagDeadline] = to(TagPending), to(deadline.Format(time.RFC3339))
		// The new password lives as long as the one it replaces (180 days
		// when that had no expiry), so the scan keeps tracking it.
		lifetime := 180 * 24 * time.Hour
		if current != nil && current.expires != nil && current.expires.After(current.created) {
			lifetime = current.expires.Sub(current.created)
		}
		exp := now.Add(r.deadline()).Add(lifetime)
		set, err := r.Vault.SetSecret(ctx, secretName, azsecrets.SetSecretParameters{
			Value: &pw, Tags: tags, ContentType: to("text/plain"),
			SecretAttributes: &azsecrets.SecretAttributes{Expires: &exp},
		}, nil)
		if err != nil {
			return st, fmt.Errorf("store the pending password: %w", err)
		}
		st.PendingVersion = set.ID.Version()
		st.Stage, st.Deadline = StagePending, &deadline
		st.Wrote = append(st.Wrote, "keyvault:"+secretName+"/"+st.PendingVersion+" (pending)")
		next := now.Add(recheck)
		st.NextCheck = &next
		st.Notice = r.installNotice(secretName, st.PendingVersion, deadline)
		return st, r.journal(ctx, jid, connectorID, "create-pending", st.PendingVersion, map[string]string{"currentVersion": st.CurrentVersion})
	}
	st.PendingVersion = pending.id
	if d, err := time.Parse(time.RFC3339, pending.tags[TagDeadline]); err == nil {
		st.Deadline = &d
	}

	// 4. promote (the connector already uses the pending password).
	if pending.tags[TagPatched] != "" {
		return r.promote(ctx, st, jid, connectorID, secretName, pending, current)
	}

	// 2. wait for the API to accept the pending password.
	conn, found, err := r.Graph.APIConnector(ctx, connectorID)
	if err != nil {
		return st, fmt.Errorf("read connector %s: %w", connectorID, err)
	}
	if !found {
		return st, repairErr("connector %s does not exist", connectorID)
	}
	user, target := "", deref(conn.GetTargetUrl())
	if b, ok := conn.GetAuthenticationConfiguration().(models.BasicAuthenticationable); ok {
		user = deref(b.GetUsername())
	}
	if user == "" {
		return st, repairErr("connector %s does not use basic authentication", connectorID)
	}
	if r.Mode != repair.Apply {
		// The value is read only when a write may follow (the cut-over);
		// a dry run says what it would check instead.
		st.Stage = StageWouldProbe
		return st, nil
	}
	pw, err := r.Vault.GetSecret(ctx, secretName, pending.id, nil)
	if err != nil || pw.Value == nil {
		return st, fmt.Errorf("read the pending password %s/%s: %w", secretName, pending.id, err)
	}
	accepted, why, err := r.Prober.Accepts(ctx, target, user, *pw.Value)
	if err != nil {
		return st, fmt.Errorf("probe the API: %w", err)
	}
	if !accepted {
		next := now.Add(recheck)
		st.NextCheck = &next
		if st.Deadline != nil && now.After(*st.Deadline) {
			st.Stage = StageOverdue
			st.Notice = fmt.Sprintf("The API behind connector %s still refuses the pending password (Key Vault secret %s version %s) after the deadline %s (%s). Sign-up through the connector keeps the old password until the API owner installs the new one.",
				connectorID, secretName, pending.id, st.Deadline.Format("2006-01-02"), why)
			return st, nil
		}
		st.Stage = StageWaiting
		if st.Deadline != nil {
			st.Notice = r.installNotice(secretName, pending.id, *st.Deadline)
		}
		return st, nil
	}
	if r.Mode != repair.Apply {
		st.Stage = StageWouldCut
		return st, nil
	}

	// 3. cut over: PATCH, read back, probe again, tag.
	patch := models.NewIdentityApiConnector()
	auth := models.NewBasicAuthentication()
	auth.SetUsername(&user)
	auth.SetPassword(pw.Value)
	patch.SetAuthenticationConfiguration(auth)
	if _, err := r.Graph.Identity().ApiConnectors().ByIdentityApiConnectorId(connectorID).Patch(ctx, patch, nil); err != nil {
		return st, fmt.Errorf("set the connector's password: %w", tenant.AsGraphError("PATCH", "/identity/apiConnectors/"+connectorID, err))
	}
	st.Wrote = append(st.Wrote, "graph:identity/apiConnectors/"+connectorID+" basicAuthentication (version "+pending.id+")")
	// The password is write-only: what can be read back is that the
	// connector still uses basic authentication with the same user.
	mismatch, attempts, err := repair.VerifyWrite(ctx, r.ReadBack, r.Journal, jid, func(ctx context.Context) (string, error) {
		back, found, err := r.Graph.APIConnector(ctx, connectorID)
		if err != nil {
			return "", fmt.Errorf("read back connector %s: %w", connectorID, err)
		}
		if !found {
			return "the connector is gone", nil
		}
		if b, ok := back.GetAuthenticationConfiguration().(models.BasicAuthenticationable); !ok || deref(b.GetUsername()) != user {
			return fmt.Sprintf("connector %s does not show basic authentication for %s", connectorID, user), nil
		}
		return "", nil
	})
	if err != nil {
		return st, err
	}
	if mismatch != "" {
		st.Stage = repair.OutcomeBlocked
		st.Notice = fmt.Sprintf("IdP Keeper set connector %s to the password in Key Vault secret %s version %s, but reading it back %d times shows: %s. The version is not promoted; check the connector in Entra.",
			connectorID, secretName, pending.id, attempts, mismatch)
		return st, fmt.Errorf("%w: %s (after %d reads)", repair.ErrReadBackMismatch, mismatch, attempts)
	}
	if ok, why, err := r.Prober.Accepts(ctx, target, user, *pw.Value); err != nil || !ok {
		return st, fmt.Errorf("the API refused the password right after the cut-over (%s): %v", why, err)
	}
	tags := tagsOf(pending)
	tags[TagPatched] = to(now.Format(time.RFC3339))
	if _, err := r.Vault.UpdateSecretProperties(ctx, secretName, pending.id, azsecrets.UpdateSecretPropertiesParameters{Tags: tags}, nil); err != nil {
		return st, fmt.Errorf("tag %s/%s as in use: %w", secretName, pending.id, err)
	}
	if err := r.journal(ctx, jid, connectorID, "cut-over", pending.id, nil); err != nil {
		return st, err
	}
	pending.tags[TagPatched] = now.Format(time.RFC3339)
	st2, err := r.promote(ctx, st, jid, connectorID, secretName, pending, current)
	st2.Wrote = append(st.Wrote, st2.Wrote...)
	return st2, err
}

func (r *Rotator) promote(ctx context.Context, st State, jid, connectorID, secretName string, pending, current *version) (State, error) {
	if r.Mode != repair.Apply {
		st.Stage = StageWouldCut
		return st, nil
	}
	now := r.now()
	st.Wrote = nil
	if current != nil && current.id != pending.id && current.tags[TagStage] != TagPrevious {
		tags := tagsOf(current)
		tags[TagStage] = to(TagPrevious)
		if _, err := r.Vault.UpdateSecretProperties(ctx, secretName, current.id, azsecrets.UpdateSecretPropertiesParameters{Tags: tags}, nil); err != nil {
			return st, fmt.Errorf("tag %s/%s previous: %w", secretName, current.id, err)
		}
		st.Wrote = append(st.Wrote, "keyvault:"+secretName+"/"+current.id+" (previous)")
		st.PreviousVersion = current.id
	}
	tags := tagsOf(pending)
	tags[TagStage], tags[TagPromotedAt] = to(TagCurrent), to(now.Format(time.RFC3339))
	delete(tags, TagDeadline)
	if _, err := r.Vault.UpdateSecretProperties(ctx, secretName, pending.id, azsecrets.UpdateSecretPropertiesParameters{Tags: tags}, nil); err != nil {
		return st, fmt.Errorf("tag %s/%s current: %w", secretName, pending.id, err)
	}
	st.Wrote = append(st.Wrote, "keyvault:"+secretName+"/"+pending.id+" (current)")
	st.CurrentVersion, st.PendingVersion = pending.id, ""
	st.Stage, st.Done = StageDone, true
	st.Notice = fmt.Sprintf("Connector %s now presents the password in Key Vault secret %s version %s. The previous version %s stays available for rollback during the grace period; remove the old password from the API after that.",
		connectorID, secretName, pending.id, orNone(st.PreviousVersion))
	if err := r.journal(ctx, jid, connectorID, "promote", pending.id, nil); err != nil {
		return st, err
	}
	_, err := r.Journal.Update(ctx, jid, func(e *repair.Entry) error {
		e.Status, e.Verified = repair.StatusApplied, true
		e.After = map[string]string{"currentVersion": pending.id, "previousVersion": st.PreviousVersion}
		return nil
	})
	return st, err
}

func (r *Rotator) installNotice(secret, version string, deadline time.Time) string {
	return fmt.Sprintf("A new password for the API connector is waiting in Key Vault secret %s, version %s (%s). Install it on your API, next to the current one, by %s: IdP Keeper checks every day and switches the connector as soon as your API accepts it.",
		secret, version, r.VaultURL, deadline.Format("2006-01-02"))
}

// journal records a step; the entry is created on the first one with the
// version in use before, so the rotation can be traced (and reversed by hand).
func (r *Rotator) journal(ctx context.Context, jid, connectorID, step, version string, before map[string]string) error {
	if r.Journal == nil {
		return repair.ErrNoJournal
	}
	now := r.now()
	_, err := r.Journal.Update(ctx, jid, func(e *repair.Entry) error {
		if e.Version == 0 {
			e.PlanID, e.Kind, e.Dependency = jid, "staged-basic-auth-rotation", "connector/"+connectorID
			e.StartedAt, e.Status, e.Before = now, repair.StatusApplying, before
		}
		if s, ok := e.Step(step); ok && s.Detail == "version "+version {
			return nil
		}
		e.SetStep(repair.Step{Name: step, At: now, Outcome: "done", Detail: "version " + version})
		return nil
	})
	return err
}

func (r *Rotator) deadline() time.Duration {
	if r.Deadline > 0 {
		return r.Deadline
	}
	return 14 * 24 * time.Hour
}

func tagsOf(v *version) map[string]*string {
	out := make(map[string]*string, len(v.tags)+2)
	for k, val := range v.tags {
		out[k] = to(val)
	}
	return out
}

func to(s string) *string { return &s }

func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

// ErrNotBasic is returned (wrapped) for a connector that does not use basic
// authentication: retrying cannot help.
var ErrNotBasic = errors.New("not a basic-auth connector")

func repairErr(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrNotBasic, fmt.Sprintf(format, args...))
}
