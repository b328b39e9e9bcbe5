package statestore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/bloberror"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blockblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"
)

// azuriteConnectionString is the emulator's documented, public development
// account. "UseDevelopmentStorage=true" (what the Functions tooling writes)
// means this, but azblob does not expand the shortcut itself.
const azuriteConnectionString = "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;" +
	"AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;" + // gitleaks:allow public Azurite key
	"BlobEndpoint=http://127.0.0.1:10000/devstoreaccount1;"

// Blob keeps documents as block blobs in one container.
type Blob struct {
	container *container.Client
	name      string
}

// BlobOptions say where the container is.
type BlobOptions struct {
	// ConnectionString, when set, is used as is ("UseDevelopmentStorage=true"
	// means local Azurite).
	ConnectionString string
	// ServiceURL (https://<account>.blob.core.windows.net/) with Credential
	// is the identity-based alternative for production.
	ServiceURL string
	Credential azcore.TokenCredential
	Container  string
}

// OpenBlob connects to the container and creates it when missing.
func OpenBlob(ctx context.Context, opts BlobOptions) (*Blob, error) {
	if err := checkContainerName(opts.Container); err != nil {
		return nil, err
	}
	var svc *azblob.Client
	var err error
	var where string
	switch {
	case opts.ConnectionString != "":
		cs := opts.ConnectionString
		if strings.EqualFold(strings.TrimSpace(strings.TrimSuffix(cs, ";")), "UseDevelopmentStorage=true") {
			cs = azuriteConnectionString
		}
		svc, err = azblob.NewClientFromConnectionString(cs, nil)
		where = "connection string"
	case opts.ServiceURL != "" && opts.Credential != nil:
		svc, err = azblob.NewClient(opts.ServiceURL, opts.Credential, nil)
		where = opts.ServiceURL
	default:
		return nil, errors.New("statestore: give a storage connection string, or a blob service URL and a credential")
	}
	if err != nil {
		// The connection string carries an account key: never echo it.
		return nil, fmt.Errorf("statestore: blob client from %s: invalid settings", where)
	}
	c := svc.ServiceClient().NewContainerClient(opts.Container)
	if _, err := c.Create(ctx, nil); err != nil && !bloberror.HasCode(err, bloberror.ContainerAlreadyExists) {
		return nil, fmt.Errorf("statestore: create container %q: %w", opts.Container, err)
	}
	return &Blob{container: c, name: c.URL()}, nil
}

// Describe implements Store.
func (b *Blob) Describe() string { return "blob:" + b.name }

// Get implements Store.
func (b *Blob) Get(ctx context.Context, name string) ([]byte, string, error) {
	resp, err := b.container.NewBlobClient(name).DownloadStream(ctx, nil)
	if err != nil {
		if bloberror.HasCode(err, bloberror.BlobNotFound) {
			return nil, "", ErrNotFound
		}
		return nil, "", fmt.Errorf("statestore: read %s: %w", name, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, "", fmt.Errorf("statestore: read %s: %w", name, err)
	}
	return data, string(*resp.ETag), nil
}

// Put implements Store.
func (b *Blob) Put(ctx context.Context, name string, data []byte, cond Condition) (string, error) {
	opts := &blockblob.UploadOptions{HTTPHeaders: &blob.HTTPHeaders{BlobContentType: to.Ptr("application/json")}}
	if cond.IfMatch != "" || cond.IfNoneMatch {
		mac := &blob.ModifiedAccessConditions{}
		if cond.IfMatch != "" {
			etag := azcore.ETag(cond.IfMatch)
			mac.IfMatch = &etag
		}
		if cond.IfNoneMatch {
			mac.IfNoneMatch = to.Ptr(azcore.ETagAny)
		}
		opts.AccessConditions = &blob.AccessConditions{ModifiedAccessConditions: mac}
	}
	resp, err := b.container.NewBlockBlobClient(name).Upload(ctx, readSeekNopCloser{bytes.NewReader(data)}, opts)
	if err != nil {
		if bloberror.HasCode(err, bloberror.ConditionNotMet, bloberror.BlobAlreadyExists) {
			return "", ErrConflict
		}
		return "", fmt.Errorf("statestore: write %s: %w", name, err)
	}
	return string(*resp.ETag), nil
}

// maxListPages bounds List: 5,000 names a page, so 25 million documents —
// far beyond what IdP Keeper writes — and a service that keeps answering
// with a next marker cannot keep List going for ever.
const maxListPages = 5000

// List implements Lister.
func (b *Blob) List(ctx context.Context, prefix string) ([]Info, error) {
	pager := b.container.NewListBlobsFlatPager(&container.ListBlobsFlatOptions{Prefix: to.Ptr(prefix)})
	var out []Info
	seen := map[string]bool{}
	for pages := 0; pager.More(); pages++ {
		if pages >= maxListPages {
			return nil, fmt.Errorf("statestore: list %s: more than %d pages", prefix, maxListPages)
		}
		page, err := pager.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("statestore: list %s: %w", prefix, err)
		}
		if page.NextMarker != nil && *page.NextMarker != "" {
			if seen[*page.NextMarker] {
				return nil, fmt.Errorf("statestore: list %s: the service repeated a page marker", prefix)
			}
			seen[*page.NextMarker] = true
		}
		if page.Segment == nil {
			continue
		}
		for _, item := range page.Segment.BlobItems {
			if item == nil || item.Name == nil {
				continue
			}
			in := Info{Name: *item.Name}
			if p := item.Properties; p != nil {
				if p.LastModified != nil {
					in.Modified = p.LastModified.UTC()
				}
				if p.ContentLength != nil {
					in.Size = *p.ContentLength
				}
			}
			out = append(out, in)
		}
	}
	return out, nil
}

// Delete implements Lister.
func (b *Blob) Delete(ctx context.Context, name string) error {
	if _, err := b.container.NewBlobClient(name).Delete(ctx, nil); err != nil && !bloberror.HasCode(err, bloberror.BlobNotFound) {
		return fmt.Errorf("statestore: delete %s: %w", name, err)
	}
	return nil
}

type readSeekNopCloser struct{ *bytes.Reader }

func (readSeekNopCloser) Close() error { return nil }

// checkContainerName applies Blob Storage's naming rule up front, so a bad
// IDPKEEPER_STATE_CONTAINER is named as such instead of surfacing as an
// HTTP 400 from the service.
func checkContainerName(name string) error {
	valid := len(name) >= 3 && len(name) <= 63 && !strings.HasPrefix(name, "-") && !strings.HasSuffix(name, "-") && !strings.Contains(name, "--")
	for _, c := range name {
		valid = valid && (c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-')
	}
	if !valid {
		return fmt.Errorf("statestore: %q is not a blob container name (3–63 lower-case letters, digits and single hyphens)", name)
	}
	return nil
}
