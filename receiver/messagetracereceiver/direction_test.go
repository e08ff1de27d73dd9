package messagetracereceiver

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/msgtrace/otelcol-msgtrace/receiver/messagetracereceiver/internal/tracepage"
)

// A listed domain covers itself and every subdomain, in any case; a domain that only ends in
// the same letters does not.
func TestLocalDomainsCoverSubdomains(t *testing.T) {
	l := newLocalDomains([]string{"contoso.com", "Fabrikam.ONMICROSOFT.com."})
	for addr, local := range map[string]bool{
		"ana@contoso.com":              true,
		"ana@CONTOSO.COM":              true,
		"ana@sub.contoso.com":          true,
		"ana@eu.mail.contoso.com":      true,
		"<ana@contoso.com>":            true,
		"ana@contoso.com.":             true,
		"bob@fabrikam.onmicrosoft.com": true,
		"ana@notcontoso.com":           false,
		"ana@contoso.com.evil.example": false,
		"ana@contoso.co":               false,
		"contoso.com":                  false, // no address
		"":                             false, // the null sender of a bounce
		"ana@":                         false,
	} {
		assert.Equal(t, local, l.isLocal(addr), addr)
	}
	assert.Nil(t, newLocalDomains(nil), "no list, no direction")
}

func TestDirectionOfEachPair(t *testing.T) {
	l := newLocalDomains([]string{"contoso.com"})
	assert.Equal(t, directionInbound, l.direction("x@fabrikam.com", "ana@contoso.com"))
	assert.Equal(t, directionOutbound, l.direction("ana@sub.contoso.com", "x@fabrikam.com"))
	assert.Equal(t, directionInternal, l.direction("ana@contoso.com", "bob@sub.contoso.com"))
	assert.Equal(t, directionExternal, l.direction("x@fabrikam.com", "y@example.org"))
	assert.Equal(t, directionInbound, l.direction("", "ana@contoso.com"), "a bounce to a local recipient")
}

// devoParserFields are the columns Devo's cloud.office365.messagetracing parser reads (the
// Reporting Web Service's MessageTrace fields, docs/setup.md and devo-ingestion.md).
var devoParserFields = []string{"MessageTraceId", "MessageId", "Organization", "Received", "SenderAddress", "RecipientAddress", "Subject", "Status", "ToIP", "FromIP", "Size", "StartDate", "EndDate", "Index"}

// With local_domains every row carries its direction as an attribute and in the body; the body
// keys Devo's parser reads are exactly as without it. Without local_domains nothing is added.
func TestRecordsCarryDirection(t *testing.T) {
	page, err := tracepage.DecodeGraph(readPage(t, "graph.json"), 0)
	require.NoError(t, err)
	require.NotEmpty(t, page.Rows)
	for _, legacyNames := range []bool{false, true} {
		plain := &recordBuilder{tenant: "t", legacyNames: legacyNames, includeSubject: true}
		withDir := &recordBuilder{tenant: "t", legacyNames: legacyNames, includeSubject: true, local: newLocalDomains([]string{"contoso.com"})}
		before := records(plain.build(newRecords(page.Rows), pollStart))
		after := records(withDir.build(newRecords(page.Rows), pollStart))
		require.Len(t, after, len(before))
		key := directionBodyKey
		if legacyNames {
			key = directionLegacyKey
		}
		assert.NotContains(t, devoParserFields, key, "the body key must not be a column of Devo's table")
		for i := range after {
			_, had := before[i].Attributes().Get(directionAttribute)
			assert.False(t, had, "no direction without local_domains")
			_, had = before[i].Body().Map().Get(key)
			assert.False(t, had)

			row := page.Rows[i]
			want := withDir.local.direction(row.Sender, row.Recipient)
			attr, ok := after[i].Attributes().Get(directionAttribute)
			require.True(t, ok)
			assert.Equal(t, want, attr.Str())
			body, ok := after[i].Body().Map().Get(key)
			require.True(t, ok, "body lacks %s", key)
			assert.Equal(t, want, body.Str())

			// Every other body key, Devo's columns among them, is unchanged.
			rest := after[i].Body().Map().AsRaw()
			delete(rest, key)
			assert.Equal(t, before[i].Body().Map().AsRaw(), rest)
		}
	}
}

// records flattens the log records of ld.
func records(ld plog.Logs) []plog.LogRecord {
	var out []plog.LogRecord
	forEachRecord(ld, func(lr plog.LogRecord) { out = append(out, lr) })
	return out
}

// Validate names local_domains and the entry for a bad domain.
func TestLocalDomainsValidated(t *testing.T) {
	for bad, want := range map[string]string{
		"ana@contoso.com": "`local_domains[0]` \"ana@contoso.com\" is an address",
		"*.contoso.com":   "has a wildcard: list contoso.com, which covers its subdomains",
		"contoso":         "`local_domains[0]` \"contoso\" is not a domain name",
		"contoso .com":    "is not a domain name",
		"":                "is not a domain name",
	} {
		cfg := validConfig()
		cfg.LocalDomains = []string{bad}
		err := cfg.Validate()
		require.Error(t, err, bad)
		assert.Contains(t, err.Error(), want)
	}
	cfg := validConfig()
	cfg.LocalDomains = []string{"contoso.com", "Fabrikam.onmicrosoft.com", "mail.contoso.com."}
	assert.NoError(t, cfg.Validate())
}
