package tenant

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azsecrets"
	abstractions "github.com/microsoft/kiota-abstractions-go"
	"github.com/microsoft/kiota-abstractions-go/serialization"
	msgraphcore "github.com/microsoftgraph/msgraph-sdk-go-core"
	"github.com/microsoftgraph/msgraph-sdk-go/identity"
	"github.com/microsoftgraph/msgraph-sdk-go/models"
	"github.com/microsoftgraph/msgraph-sdk-go/models/odataerrors"

	"github.com/idpkeeper/idpkeeper/shared/inventory"
)

// Reader reads one Inventory from Graph and Key Vault.
type Reader struct {
	Clients *Clients
	// Now gives the capture time; nil means time.Now.
	Now func() time.Time
	// Concurrency bounds the per-partner and per-flow requests in flight.
	Concurrency int
	// SecretNames are Key Vault secret names the configuration maps to a
	// dependency; secrets carrying the inventory.TagDependency tag are read
	// whether listed here or not.
	SecretNames map[string]bool
}

// Read reads the whole inventory. An endpoint the app may not read (403) or
// that the tenant does not have (404) becomes a Gap, so the report can say
// what it could not see; any other failure ends the read with an error,
// because a report built on a half-read tenant would under-report risk.
func (r *Reader) Read(ctx context.Context) (inventory.Inventory, error) {
	now := time.Now
	if r.Now != nil {
		now = r.Now
	}
	inv := inventory.Inventory{CapturedAt: now().UTC()}
	steps := []struct {
		source string
		read   func(context.Context, *inventory.Inventory) error
	}{
		{"graph:/identity/identityProviders", r.readSocial},
		{"graph:/directory/federationConfigurations", r.readFederations},
		{"graph:/identity/apiConnectors", r.readConnectors},
		{"graph:/identity/b2xUserFlows", r.readUserFlows},
		{"graph:/policies/authenticationMethodsPolicy/authenticationMethodConfigurations/email", r.readEmailOTP},
		{"graph:/policies/crossTenantAccessPolicy/default", r.readRedemption},
	}
	for _, step := range steps {
		if err := step.read(ctx, &inv); err != nil {
			if gap, ok := asGap(step.source, err); ok {
				inv.Gaps = append(inv.Gaps, gap)
				continue
			}
			return inventory.Inventory{}, fmt.Errorf("%s: %w", step.source, describe(err))
		}
	}
	for _, v := range r.Clients.Vaults {
		secrets, err := r.readVault(ctx, v)
		if err != nil {
			source := "keyvault:" + v.URL
			if gap, ok := asGap(source, err); ok {
				inv.Gaps = append(inv.Gaps, gap)
				continue
			}
			return inventory.Inventory{}, fmt.Errorf("%s: %w", source, describe(err))
		}
		inv.Secrets = append(inv.Secrets, secrets...)
	}
	return inv, nil
}

func (r *Reader) readSocial(ctx context.Context, inv *inventory.Inventory) error {
	resp, err := r.Clients.Graph.Identity().IdentityProviders().Get(ctx, nil)
	if err != nil {
		return err
	}
	return iterate[models.IdentityProviderBaseable](ctx, r, resp, models.CreateIdentityProviderBaseCollectionResponseFromDiscriminatorValue, func(p models.IdentityProviderBaseable) {
		social, ok := p.(models.SocialIdentityProviderable)
		if !ok {
			return // built-in providers have no credential IdP Keeper keeps
		}
		inv.SocialIdentityProviders = append(inv.SocialIdentityProviders, inventory.SocialIdentityProvider{
			ID:          str(social.GetId()),
			DisplayName: str(social.GetDisplayName()),
			Type:        str(social.GetIdentityProviderType()),
			ClientID:    str(social.GetClientId()),
		})
	})
}

func (r *Reader) readFederations(ctx context.Context, inv *inventory.Inventory) error {
	base := r.Clients.Graph.GetAdapter().GetBaseUrl()
	fc := r.Clients.Graph.Directory().FederationConfigurations()
	resp, err := fc.WithUrl(base+"/directory/federationConfigurations/graph.samlOrWsFedExternalDomainFederation").Get(ctx, nil)
	if err != nil {
		return err
	}
	var feds []inventory.Federation
	err = iterate[models.IdentityProviderBaseable](ctx, r, resp, models.CreateIdentityProviderBaseCollectionResponseFromDiscriminatorValue, func(p models.IdentityProviderBaseable) {
		f, ok := p.(models.SamlOrWsFedExternalDomainFederationable)
		if !ok {
			return
		}
		fed := inventory.Federation{
			ID:                       str(f.GetId()),
			DisplayName:              str(f.GetDisplayName()),
			IssuerURI:                str(f.GetIssuerUri()),
			MetadataExchangeURI:      str(f.GetMetadataExchangeUri()),
			PassiveSignInURI:         str(f.GetPassiveSignInUri()),
			SigningCertificateBase64: str(f.GetSigningCertificate()),
		}
		if p := f.GetPreferredAuthenticationProtocol(); p != nil {
			fed.PreferredProtocol = p.String()
		}
		if fed.SigningCertificateBase64 != "" {
			cert, err := inventory.ParseCertificateBase64(fed.SigningCertificateBase64)
			if err != nil {
				fed.CertificateError = err.Error()
			} else {
				fed.SigningCertificate = cert
			}
		}
		for _, d := range f.GetDomains() { // present when the service inlines them
			fed.Domains = append(fed.Domains, str(d.GetId()))
		}
		feds = append(feds, fed)
	})
	if err != nil {
		return err
	}
	// The list does not return the domains navigation property; each
	// partner's domains are one more request, run a few at a time.
	err = r.parallel(ctx, len(feds), func(ctx context.Context, i int) error {
		if len(feds[i].Domains) > 0 {
			return nil
		}
		url := base + "/directory/federationConfigurations/microsoft.graph.samlOrWsFedExternalDomainFederation/" + feds[i].ID + "/domains"
		info := abstractions.NewRequestInformation()
		info.Method = abstractions.GET
		info.SetUri(*mustURL(url))
		info.Headers.TryAdd("Accept", "application/json")
		res, err := r.Clients.Graph.GetAdapter().Send(ctx, info, newDomainCollection, errorMapping())
		if err != nil {
			return err
		}
		var domains []string
		err = iterate[models.ExternalDomainNameable](ctx, r, res, newDomainCollection, func(d models.ExternalDomainNameable) {
			domains = append(domains, str(d.GetId()))
		})
		feds[i].Domains = domains
		return err
	})
	if err != nil {
		return err
	}
	inv.Federations = feds
	return nil
}

func (r *Reader) readConnectors(ctx context.Context, inv *inventory.Inventory) error {
	resp, err := r.Clients.Graph.Identity().ApiConnectors().Get(ctx, nil)
	if err != nil {
		return err
	}
	return iterate[models.IdentityApiConnectorable](ctx, r, resp, models.CreateIdentityApiConnectorCollectionResponseFromDiscriminatorValue, func(c models.IdentityApiConnectorable) {
		conn := inventory.APIConnector{
			ID:          str(c.GetId()),
			DisplayName: str(c.GetDisplayName()),
			TargetURL:   str(c.GetTargetUrl()),
			AuthType:    inventory.AuthUnknown,
		}
		switch auth := c.GetAuthenticationConfiguration().(type) {
		case models.BasicAuthenticationable:
			conn.AuthType = inventory.AuthBasic
			conn.Username = str(auth.GetUsername())
		case models.ClientCertificateAuthenticationable:
			conn.AuthType = inventory.AuthCertificate
			for _, ci := range auth.GetCertificateList() {
				conn.Certificates = append(conn.Certificates, inventory.ConnectorCertificate{
					Thumbprint: strings.ToUpper(str(ci.GetThumbprint())),
					NotBefore:  unixTime(ci.GetNotBefore()),
					NotAfter:   unixTime(ci.GetNotAfter()),
					Active:     ci.GetIsActive() != nil && *ci.GetIsActive(),
				})
			}
		case models.Pkcs12Certificateable:
			// Graph documents pkcs12Certificate as upload-only; a read that
			// returns it anyway still means certificate authentication.
			conn.AuthType = inventory.AuthCertificate
		}
		inv.APIConnectors = append(inv.APIConnectors, conn)
	})
}

func (r *Reader) readUserFlows(ctx context.Context, inv *inventory.Inventory) error {
	resp, err := r.Clients.Graph.Identity().B2xUserFlows().Get(ctx, nil)
	if err != nil {
		return err
	}
	var flows []inventory.UserFlow
	var gaps []inventory.Gap
	err = iterate[models.B2xIdentityUserFlowable](ctx, r, resp, models.CreateB2xIdentityUserFlowCollectionResponseFromDiscriminatorValue, func(f models.B2xIdentityUserFlowable) {
		flow := inventory.UserFlow{ID: str(f.GetId())}
		if t := f.GetUserFlowType(); t != nil {
			flow.UserFlowType = t.String()
		}
		flows = append(flows, flow)
	})
	if err != nil {
		return err
	}
	// API connector configuration and identity providers are navigation
	// properties: one expanded GET and one list per flow. The reference page
	// of the identity provider list asks for IdentityUserFlow.ReadWrite.All;
	// an app granted only Read.All gets a gap there, not a failed scan.
	var idpGap sync.Once
	err = r.parallel(ctx, len(flows), func(ctx context.Context, i int) error {
		item := r.Clients.Graph.Identity().B2xUserFlows().ByB2xIdentityUserFlowId(flows[i].ID)
		full, err := item.Get(ctx, &identity.B2xUserFlowsB2xIdentityUserFlowItemRequestBuilderGetRequestConfiguration{
			QueryParameters: &identity.B2xUserFlowsB2xIdentityUserFlowItemRequestBuilderGetQueryParameters{
				Expand: []string{"apiConnectorConfiguration/postFederationSignup", "apiConnectorConfiguration/postAttributeCollection"},
			},
		})
		if err != nil {
			return err
		}
		if cfg := full.GetApiConnectorConfiguration(); cfg != nil {
			if c := cfg.GetPostFederationSignup(); c != nil {
				flows[i].PostFederationSignup = str(c.GetId())
			}
			if c := cfg.GetPostAttributeCollection(); c != nil {
				flows[i].PostAttributeCollection = str(c.GetId())
			}
		}
		idps, err := item.UserFlowIdentityProviders().Get(ctx, nil)
		if gap, ok := asGap("graph:/identity/b2xUserFlows/{id}/userFlowIdentityProviders", err); err != nil && ok {
			idpGap.Do(func() { gaps = append(gaps, gap) })
			return nil
		}
		if err != nil {
			return err
		}
		return iterate[models.IdentityProviderBaseable](ctx, r, idps, models.CreateIdentityProviderBaseCollectionResponseFromDiscriminatorValue, func(p models.IdentityProviderBaseable) {
			ufp := inventory.UserFlowIdentityProvider{ID: str(p.GetId()), DisplayName: str(p.GetDisplayName())}
			if t := p.GetOdataType(); t != nil {
				ufp.Type = strings.TrimPrefix(*t, "#microsoft.graph.")
			}
			if s, ok := p.(models.SocialIdentityProviderable); ok {
				ufp.Type = str(s.GetIdentityProviderType())
			}
			flows[i].IdentityProviders = append(flows[i].IdentityProviders, ufp)
		})
	})
	if err != nil {
		return err
	}
	inv.UserFlows = flows
	inv.Gaps = append(inv.Gaps, gaps...)
	return nil
}

func (r *Reader) readEmailOTP(ctx context.Context, inv *inventory.Inventory) error {
	cfg, err := r.Clients.Graph.Policies().AuthenticationMethodsPolicy().AuthenticationMethodConfigurations().ByAuthenticationMethodConfigurationId("email").Get(ctx, nil)
	if err != nil {
		return err
	}
	otp := &inventory.EmailOTP{}
	if s := cfg.GetState(); s != nil {
		otp.State = s.String()
	}
	if email, ok := cfg.(models.EmailAuthenticationMethodConfigurationable); ok {
		if a := email.GetAllowExternalIdToUseEmailOtp(); a != nil {
			otp.AllowExternalIDToUseEmailOTP = a.String()
		}
	}
	inv.EmailOTP = otp
	return nil
}

func (r *Reader) readRedemption(ctx context.Context, inv *inventory.Inventory) error {
	def, err := r.Clients.Graph.Policies().CrossTenantAccessPolicy().DefaultEscaped().Get(ctx, nil)
	if err != nil {
		return err
	}
	cfg := def.GetInvitationRedemptionIdentityProviderConfiguration()
	if cfg == nil {
		return nil
	}
	red := &inventory.Redemption{}
	for _, p := range cfg.GetPrimaryIdentityProviderPrecedenceOrder() {
		red.PrimaryOrder = append(red.PrimaryOrder, p.String())
	}
	if f := cfg.GetFallbackIdentityProvider(); f != nil {
		red.FallbackProvider = f.String()
	}
	inv.Redemption = red
	return nil
}

// readVault lists secret properties (never values) and, for the secrets that
// back a dependency, the version that is current.
func (r *Reader) readVault(ctx context.Context, v Vault) ([]inventory.Secret, error) {
	var out []inventory.Secret
	pager := v.Client.NewListSecretPropertiesPager(nil)
	for pager.More() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			return nil, err
		}
		for _, p := range page.Value {
			if p == nil || p.ID == nil {
				continue
			}
			tags := tagMap(p.Tags)
			name := p.ID.Name()
			if !r.SecretNames[strings.ToLower(name)] && tags[inventory.TagDependency] == "" {
				continue
			}
			out = append(out, secretFromProperties(v.URL, name, p.Attributes, p.ContentType, tags, p.Managed))
		}
	}
	err := r.parallel(ctx, len(out), func(ctx context.Context, i int) error {
		version, applied, err := currentVersion(ctx, v.Client, out[i].Name)
		out[i].Version, out[i].AppliedVersion = version, applied
		return err
	})
	return out, err
}

// currentVersion is the newest version by creation time (the one a read
// without a version returns, and the one Entra should be using) and the
// newest one the repair step tagged as applied.
func currentVersion(ctx context.Context, c *azsecrets.Client, name string) (newest, applied string, err error) {
	var newestCreated, appliedCreated time.Time
	pager := c.NewListSecretPropertiesVersionsPager(name, nil)
	for pager.More() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			return "", "", err
		}
		for _, p := range page.Value {
			if p == nil || p.ID == nil || p.Attributes == nil || p.Attributes.Created == nil {
				continue
			}
			created := *p.Attributes.Created
			if newest == "" || created.After(newestCreated) {
				newest, newestCreated = p.ID.Version(), created
			}
			if p.Tags[inventory.TagApplied] != nil && (applied == "" || created.After(appliedCreated)) {
				applied, appliedCreated = p.ID.Version(), created
			}
		}
	}
	return newest, applied, nil
}

func secretFromProperties(vault, name string, a *azsecrets.SecretAttributes, contentType *string, tags map[string]string, managed *bool) inventory.Secret {
	s := inventory.Secret{Vault: vault, Name: name, ContentType: str(contentType), Tags: tags, Managed: managed != nil && *managed}
	if a != nil {
		s.Enabled = a.Enabled
		s.Created = utc(a.Created)
		s.Updated = utc(a.Updated)
		s.NotBefore = utc(a.NotBefore)
		s.Expires = utc(a.Expires)
	}
	return s
}

func tagMap(tags map[string]*string) map[string]string {
	if len(tags) == 0 {
		return nil
	}
	out := make(map[string]string, len(tags))
	for k, v := range tags {
		if v != nil {
			out[k] = *v
		}
	}
	return out
}

// iterate follows @odata.nextLink through every page of a collection.
func iterate[T any](ctx context.Context, r *Reader, first any, factory serialization.ParsableFactory, each func(T)) error {
	it, err := msgraphcore.NewPageIterator[T](first, r.Clients.Graph.GetAdapter(), factory)
	if err != nil {
		return err
	}
	return it.Iterate(ctx, func(item T) bool {
		each(item)
		return true
	})
}

// parallel runs fn for 0..n-1 with at most r.Concurrency in flight and
// returns the first error.
func (r *Reader) parallel(ctx context.Context, n int, fn func(context.Context, int) error) error {
	limit := r.Concurrency
	if limit <= 0 {
		limit = 8
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	sem := make(chan struct{}, limit)
	var wg sync.WaitGroup
	var once sync.Once
	var firstErr error
	for i := 0; i < n; i++ {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			defer func() { <-sem }()
			if err := fn(ctx, i); err != nil {
				once.Do(func() { firstErr = err; cancel() })
			}
		}(i)
	}
	wg.Wait()
	if firstErr != nil {
		return firstErr
	}
	return ctx.Err()
}

// asGap says whether err means "this part of the tenant cannot be read by
// this app" rather than "reading failed".
func asGap(source string, err error) (inventory.Gap, bool) {
	status := statusOf(err)
	switch status {
	case http.StatusForbidden, http.StatusNotFound, http.StatusBadRequest:
		return inventory.Gap{Source: source, Reason: describe(err).Error()}, true
	}
	return inventory.Gap{}, false
}

func statusOf(err error) int {
	var odata *odataerrors.ODataError
	if errors.As(err, &odata) {
		return odata.ResponseStatusCode
	}
	var api *abstractions.ApiError
	if errors.As(err, &api) {
		return api.ResponseStatusCode
	}
	var resp *azcore.ResponseError
	if errors.As(err, &resp) {
		return resp.StatusCode
	}
	return 0
}

// describe turns SDK errors into one line with the status, the service's
// error code and message. OData errors otherwise print as "error status
// code received from the API", which tells an operator nothing.
func describe(err error) error {
	var odata *odataerrors.ODataError
	if errors.As(err, &odata) {
		msg := fmt.Sprintf("HTTP %d", odata.ResponseStatusCode)
		if main := odata.GetErrorEscaped(); main != nil {
			msg += fmt.Sprintf(" %s: %s", str(main.GetCode()), str(main.GetMessage()))
		}
		return errors.New(msg)
	}
	var resp *azcore.ResponseError
	if errors.As(err, &resp) {
		return fmt.Errorf("HTTP %d %s", resp.StatusCode, resp.ErrorCode)
	}
	return err
}

func errorMapping() abstractions.ErrorMappings {
	return abstractions.ErrorMappings{"XXX": odataerrors.CreateODataErrorFromDiscriminatorValue}
}

func mustURL(raw string) *url.URL {
	u, err := url.Parse(raw)
	if err != nil {
		panic(fmt.Sprintf("tenant: building Graph URL %q: %v", raw, err))
	}
	return u
}

func str(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

func unixTime(p *int64) time.Time {
	if p == nil {
		return time.Time{}
	}
	return time.Unix(*p, 0).UTC()
}

func utc(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

// SortInventory puts every list in a stable order so that two reads of the
// same tenant compare equal and reports do not reorder between runs.
func SortInventory(inv *inventory.Inventory) {
	sort.Slice(inv.SocialIdentityProviders, func(i, j int) bool {
		return inv.SocialIdentityProviders[i].ID < inv.SocialIdentityProviders[j].ID
	})
	sort.Slice(inv.Federations, func(i, j int) bool { return inv.Federations[i].ID < inv.Federations[j].ID })
	sort.Slice(inv.APIConnectors, func(i, j int) bool { return inv.APIConnectors[i].ID < inv.APIConnectors[j].ID })
	sort.Slice(inv.UserFlows, func(i, j int) bool { return inv.UserFlows[i].ID < inv.UserFlows[j].ID })
	sort.Slice(inv.Secrets, func(i, j int) bool {
		if inv.Secrets[i].Vault != inv.Secrets[j].Vault {
			return inv.Secrets[i].Vault < inv.Secrets[j].Vault
		}
		return inv.Secrets[i].Name < inv.Secrets[j].Name
	})
}
