package messagetracereceiver // import "github.com/msgtrace/otelcol-msgtrace/receiver/messagetracereceiver"

import (
	"context"
	"fmt"

	"golang.org/x/oauth2"
)

// tokenSource builds the source of bearer tokens for the one credential the configuration
// names (Validate refused zero or several): a login as the app with a secret, a certificate or
// a federated token file, or the managed identity endpoint of this machine. ctx outlives Start
// and bounds every token request.
func (r *messageTraceReceiver) tokenSource(ctx context.Context) (oauth2.TokenSource, error) {
	if mi := r.cfg.ManagedIdentity; mi != nil {
		target, err := resolveMetadataTarget(mi, r.getenv)
		if err != nil {
			return nil, err
		}
		client, err := newMetadataHTTPClient(ctx, r.cfg)
		if err != nil {
			return nil, err
		}
		r.metadata = client // its kept-alive connection is closed at Shutdown
		return &metadataSource{
			ctx:        ctx,
			http:       client,
			target:     target,
			resource:   metadataResource(r.cfg.scope()),
			clientID:   mi.ClientID,
			resourceID: mi.ResourceID,
			now:        r.now,
		}, nil
	}
	var cert *certCredential
	if cc := r.cfg.ClientCertificate; cc != nil {
		var err error
		if cert, err = loadCertificate(cc.CertFile, cc.KeyFile); err != nil {
			return nil, fmt.Errorf("`client_certificate`: %w", err)
		}
	}
	return &loginSource{
		ctx:       context.WithValue(ctx, oauth2.HTTPClient, r.http),
		tokenURL:  r.cfg.tokenURL(),
		clientID:  r.cfg.ClientID,
		secret:    string(r.cfg.ClientSecret),
		cert:      cert,
		tokenFile: r.cfg.FederatedTokenFile,
		scope:     r.cfg.scope(),
		now:       r.now,
	}, nil
}
