// Package repair holds IdP Keeper's effectors: the few steps that write to the
// tenant or its Key Vault. Each flow is split the way a cert-manager
// controller is: a pure Plan function decides from what was read (no I/O,
// table-testable), and an Apply function carries the plan out as
//
//	plan → journal (with what it replaces) → write → read back → verify → journal
//
// Every step is recorded in a journal document named after the plan, so a job
// redelivered after a crash at any point finds the same entry and continues
// from the last completed step instead of starting over.
//
// Dry run is the default Mode. In DryRun the flows read (Graph, Key Vault,
// and, for a social secret, the provider's token endpoint, which is a test,
// not a change) and return the plan; they write nothing anywhere: not to
// Graph, not to Key Vault, not to the journal or the proposal store.
//
// Secret values (client secrets, PFX files and their passwords) are held in
// local variables only for as long as a flow needs them. They never go into a
// Plan, a Result, a journal entry, a notice, or an error: those carry
// references (vault, secret name, version) and certificate thumbprints.
package repair

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azsecrets"

	"github.com/idpkeeper/idpkeeper/shared/ledger"
	"github.com/idpkeeper/idpkeeper/shared/tenant"
)

// Mode says whether a flow may write.
type Mode int

// Modes. The zero value is DryRun, so a Deps built without thinking about
// it cannot write.
const (
	DryRun Mode = iota
	Apply
)

func (m Mode) String() string {
	if m == Apply {
		return "apply"
	}
	return "dry-run"
}

// Plan kinds (also the journal entries' Kind and the ledger's job kind).
const (
	KindSocialSecret    = "rotate-social-secret"
	KindConnectorCert   = "upload-connector-certificate"
	KindFederationApply = "apply-federation-plan"
	KindFederationUndo  = "undo-federation-change"
)

// Outcomes a Result can carry.
const (
	OutcomeDryRun             = "dry-run"
	OutcomeApplied            = "applied" // written and verified by read-back
	OutcomeAlreadyApplied     = "already-applied"
	OutcomeRejectedByProvider = "rejected-by-provider"
	OutcomeBlocked            = "blocked"  // refused; Result.Detail says why
	OutcomeProposed           = "proposed" // waiting for approve PLAN-ID
	OutcomeNotifyOnly         = "notify-only"
	OutcomeUndone             = "undone"
)

// Plan is what a flow intends to do. It never holds a secret value.
type Plan struct {
	// ID is deterministic from the inputs, so a re-delivered job computes
	// the same ID and finds the journal entry of the first attempt.
	ID         string `json:"id"`
	Kind       string `json:"kind"`
	Dependency string `json:"dependency"`
	// Steps are the effects, in order, for a person to read.
	Steps  []string       `json:"steps,omitempty"`
	Writes []PlannedWrite `json:"writes,omitempty"`
	// Blocked, when set, is why the flow refuses to write.
	Blocked string `json:"blocked,omitempty"`
	// Done, when set, is why there is nothing left to do (already applied).
	Done string `json:"done,omitempty"`
}

// PlannedWrite is one field a flow will change. From and To are references
// (secret versions, thumbprints, URIs), never secret values.
type PlannedWrite struct {
	Target string `json:"target"`
	Field  string `json:"field"`
	From   string `json:"from,omitempty"`
	To     string `json:"to"`
}

// Result is what a flow did.
type Result struct {
	Plan      Plan   `json:"plan"`
	Mode      string `json:"mode"`
	Outcome   string `json:"outcome"`
	JournalID string `json:"journalId,omitempty"`
	Verified  bool   `json:"verified,omitempty"`
	// Detail is one sentence: why blocked or rejected, what was verified.
	Detail string `json:"detail,omitempty"`
	// Notice is the text for the owner (sent by the notify package); empty
	// when there is nothing to tell.
	Notice string `json:"notice,omitempty"`
}

// Deps are the clients and stores a flow uses; built once at the edge.
type Deps struct {
	Graph *tenant.Graph
	// Vaults by host name ("contoso-idp-kv.vault.azure.net"); see VaultsOf.
	Vaults map[string]*azsecrets.Client
	// Journal is required in Apply mode (and for proposals, approve, undo).
	Journal *Journal
	// Ledger, when set, records a job outcome for Request.FindingID.
	Ledger *ledger.Ledger
	// Providers test a social secret, by identityProviderType
	// ("Google", "Facebook").
	Providers map[string]ProviderTester
	Mode      Mode
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// ReadBack bounds the re-reads after a write (replication lag).
	ReadBack ReadBack
}

func (d Deps) now() time.Time {
	if d.Now != nil {
		return d.Now().UTC()
	}
	return time.Now().UTC()
}

// VaultsOf indexes tenant.Clients' Key Vault clients by host name.
func VaultsOf(c *tenant.Clients) map[string]*azsecrets.Client {
	out := map[string]*azsecrets.Client{}
	for _, v := range c.Vaults {
		out[vaultHost(v.URL)] = v.Client
	}
	return out
}

// SecretRef names one version of a Key Vault secret.
type SecretRef struct {
	// Vault is the vault's URL or host name.
	Vault   string `json:"vault"`
	Name    string `json:"name"`
	Version string `json:"version"`
}

// String is the reference as journals and notices show it.
func (r SecretRef) String() string {
	s := vaultHost(r.Vault) + "/secrets/" + r.Name
	if r.Version != "" {
		s += "/" + r.Version
	}
	return s
}

func vaultHost(v string) string {
	if u, err := url.Parse(v); err == nil && u.Host != "" {
		return strings.ToLower(u.Host)
	}
	return strings.ToLower(strings.Trim(v, "/"))
}

func (d Deps) vault(ref SecretRef) (*azsecrets.Client, error) {
	c := d.Vaults[vaultHost(ref.Vault)]
	if c == nil {
		return nil, fmt.Errorf("repair: no Key Vault client for %s", vaultHost(ref.Vault))
	}
	return c, nil
}

// ErrNoJournal is returned when Apply mode is asked for without a journal:
// a write that cannot be journaled is not repeatable after a crash.
var ErrNoJournal = errors.New("repair: apply mode needs a journal")

// ErrStale is returned by Approve and Undo when Entra changed since the
// proposal or the change was made.
var ErrStale = errors.New("repair: Entra changed since the plan was made")

func (d Deps) checkApply() error {
	if d.Mode == Apply && d.Journal == nil {
		return ErrNoJournal
	}
	return nil
}

// planID hashes the kind and the parts that identify the change.
func planID(prefix string, parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		h.Write([]byte(strings.ToLower(p)))
		h.Write([]byte{0})
	}
	return prefix + "-" + hex.EncodeToString(h.Sum(nil))[:16]
}

func str(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

func ptr[T any](v T) *T { return &v }
