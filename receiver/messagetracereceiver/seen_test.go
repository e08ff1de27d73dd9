package messagetracereceiver

import (
	"context"
	"fmt"
	"hash/fnv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/msgtrace/otelcol-msgtrace/receiver/messagetracereceiver/internal/tracepage"
)

func TestSeenStateRoundTripAndForget(t *testing.T) {
	s := newSeenState()
	t0 := time.Date(2026, 11, 21, 8, 0, 0, 0, time.UTC)
	var rows []tracepage.Row
	for i := range 1000 {
		rows = append(rows, tracepage.Row{ID: fmt.Sprintf("id-%d", i%300), Recipient: fmt.Sprintf("U%d@X", i), Received: t0.Add(time.Duration(i) * time.Second)})
	}
	pending := make([]traceRecord, len(rows))
	for i := range pending {
		pending[i] = traceRecord{row: &rows[i], status: "pending"}
	}
	s.rememberAll(pending)
	s.rememberAll([]traceRecord{{row: &rows[0], status: "delivered", before: statusCode("pending")}})
	n0, _ := s.size()
	assert.Equal(t, len(rows), n0, "a known row is updated, not added")
	client := newMemClient()
	require.NoError(t, client.Batch(context.Background(), s.saveOps()...))
	s.saved()
	loaded, err := loadSeenState(context.Background(), client)
	require.NoError(t, err)
	n, bytes := loaded.size()
	assert.Equal(t, 1000, n)
	assert.Equal(t, 9000, bytes)
	assert.Equal(t, statusCode("delivered"), loaded.lookup(&rows[0]))
	upper := rows[1]
	upper.Recipient = strings.ToLower(upper.Recipient)
	assert.Equal(t, statusCode("pending"), loaded.lookup(&upper), "recipients compare case-insensitively")
	assert.Equal(t, uint8(statusUnknown), loaded.lookup(&tracepage.Row{ID: "other", Recipient: "x", Received: t0}))

	loaded.forgetBefore(t0.Add(10 * time.Minute))
	assert.Equal(t, uint8(statusUnknown), loaded.lookup(&rows[0]))
	assert.Equal(t, statusCode("pending"), loaded.lookup(&rows[700]))
	require.NoError(t, client.Batch(context.Background(), loaded.saveOps()...))
	again, err := loadSeenState(context.Background(), client)
	require.NoError(t, err)
	n, _ = again.size()
	assert.Equal(t, 400, n)
}

func TestRowHashIsFNVOfTheLowerCasedIdentity(t *testing.T) {
	for _, r := range []tracepage.Row{
		{ID: "6b1e2a9c-3f44", Recipient: "Kim.Nguyen@Contoso.com"},
		{ID: "x", Recipient: "JÜRGEN.Müller@contoso.com"},
		{ID: "", Recipient: ""},
	} {
		h := fnv.New64a()
		_, _ = h.Write([]byte(r.ID + "|" + strings.ToLower(r.Recipient)))
		assert.Equal(t, h.Sum64(), rowHash(&r), r.Recipient)
	}
}
