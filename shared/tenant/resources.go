package tenant

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"

	abstractions "github.com/microsoft/kiota-abstractions-go"
	"github.com/microsoft/kiota-abstractions-go/serialization"
	"github.com/microsoftgraph/msgraph-sdk-go/models"
)

// The reads and writes the repair step makes on single resources, through the
// routes Graph documents for them. They parse with the same factories as the
// Reader, so a documented answer without @odata.type still yields the
// derived type.

var errFound = errors.New("found")

// FederationByID finds one SAML/WS-Fed partner by its ID. Graph documents
// no GET of a partner by ID, only the list
// (samlorwsfedexternaldomainfederation-list.md), so the list is read, page by
// page, until the partner turns up; found is false when it is not there.
// An item that cannot be read fails the call: a repair decides from it.
func (g *Graph) FederationByID(ctx context.Context, id string) (fed models.SamlOrWsFedExternalDomainFederationable, found bool, err error) {
	rt := route{path: federationsPath}
	err = g.eachPage(ctx, rt, DefaultMaxPages, func(items []json.RawMessage) error {
		for i, raw := range items {
			p, err := parseItem(raw, federationFactory)
			if err != nil {
				return &ShapeError{Method: "GET", Path: rt.String(), Reason: fmt.Sprintf("item %d: %v", i+1, err)}
			}
			f := p.(models.SamlOrWsFedExternalDomainFederationable)
			if strings.EqualFold(str(f.GetId()), id) {
				fed = f
				return errFound
			}
		}
		return nil
	})
	if errors.Is(err, errFound) {
		return fed, true, nil
	}
	return nil, false, err
}

// PatchFederation updates a partner at the cast path
// (samlorwsfedexternaldomainfederation-update.md:
// PATCH /directory/federationConfigurations/graph.samlOrWsFedExternalDomainFederation/{id},
// 200 OK with the object). The answer is returned as parsed; callers verify
// by reading the list back, as the answer may predate replication.
func (g *Graph) PatchFederation(ctx context.Context, id string, patch models.SamlOrWsFedExternalDomainFederationable) (models.SamlOrWsFedExternalDomainFederationable, error) {
	rel := federationsPath + "/" + url.PathEscape(id)
	u, err := url.Parse(g.absolute(route{path: rel}))
	if err != nil {
		return nil, fmt.Errorf("PATCH %s: %w", rel, err)
	}
	info := abstractions.NewRequestInformation()
	info.Method = abstractions.PATCH
	info.SetUri(*u)
	info.Headers.TryAdd("Accept", "application/json")
	if err := info.SetContentFromParsable(ctx, g.adapter, "application/json", patch); err != nil {
		return nil, fmt.Errorf("PATCH %s: %w", rel, err)
	}
	res, err := g.adapter.Send(ctx, info, federationFactory, errorMapping())
	if err != nil {
		return nil, AsGraphError("PATCH", rel, err)
	}
	f, _ := res.(models.SamlOrWsFedExternalDomainFederationable)
	return f, nil
}

// IdentityProvider reads one identity provider (identityproviderbase-get.md).
// The documented answer carries no @odata.type; the item's properties say
// whether it is a social or a built-in provider. found is false on 404.
func (g *Graph) IdentityProvider(ctx context.Context, id string) (p models.IdentityProviderBaseable, found bool, err error) {
	v, found, err := g.single(ctx, route{path: "/identity/identityProviders/" + url.PathEscape(id)}, identityProviderFactory)
	if !found || err != nil {
		return nil, found, err
	}
	return v.(models.IdentityProviderBaseable), true, nil
}

// APIConnector reads one API connector (identityapiconnector-get.md). found
// is false on 404.
func (g *Graph) APIConnector(ctx context.Context, id string) (c models.IdentityApiConnectorable, found bool, err error) {
	v, found, err := g.single(ctx, route{path: "/identity/apiConnectors/" + url.PathEscape(id)}, models.CreateIdentityApiConnectorFromDiscriminatorValue)
	if !found || err != nil {
		return nil, found, err
	}
	return v.(models.IdentityApiConnectorable), true, nil
}

func (g *Graph) single(ctx context.Context, rt route, factory serialization.ParsableFactory) (serialization.Parsable, bool, error) {
	body, err := g.object(ctx, rt)
	if IsNotFound(err) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	v, err := parseItem(body, factory)
	if err != nil {
		return nil, false, &ShapeError{Method: "GET", Path: rt.String(), Reason: err.Error()}
	}
	return v, true, nil
}
