package messagetracereceiver

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestLoadCredentialKinds(t *testing.T) {
	cfg, err := loadConfig(t, "federated")
	require.NoError(t, err)
	assert.Equal(t, "testdata/federated-token", cfg.FederatedTokenFile)
	assert.Empty(t, cfg.ClientSecret)

	_, err = loadConfig(t, "federated_unset")
	require.ErrorContains(t, err, "`federated_token_file` is empty")

	cfg, err = loadConfig(t, "managed_identity")
	require.NoError(t, err)
	require.NotNil(t, cfg.ManagedIdentity)
	assert.Equal(t, ManagedIdentityConfig{}, *cfg.ManagedIdentity)

	cfg, err = loadConfig(t, "managed_identity_null")
	require.NoError(t, err, "an empty managed_identity: is the system-assigned identity")
	assert.Equal(t, ManagedIdentityConfig{}, *cfg.ManagedIdentity)

	cfg, err = loadConfig(t, "managed_identity_user")
	require.NoError(t, err)
	assert.Equal(t, "5c0b1d2e-3f4a-4b5c-8d6e-7f8091a2b3c4", cfg.ManagedIdentity.ClientID)
}
