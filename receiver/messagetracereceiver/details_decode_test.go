package messagetracereceiver

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/plog"
)

const graphDetailsSample = `{"@odata.context":"https://graph.microsoft.com/v1.0/$metadata#Collection(microsoft.graph.exchangeMessageTraceDetail)","value":[
 {"id":"d1","messageId":"<4be1d0@mx.northwind.example>","dateTime":"2026-11-21T08:09:41.512Z","event":"Receive","action":null,
  "description":"Message received by: AM9PR01MB1234.eurprd01.prod.outlook.com",
  "data":"<root><MEP Name=\"ServerHostName\" String=\"AM9PR01MB1234\"/><MEP Name=\"SCL\" Integer=\"9\"/></root>"},
 {"id":"d2","messageId":"<4be1d0@mx.northwind.example>","dateTime":"2026-11-21T08:09:42Z","event":"Transport rule","action":"Quarantine",
  "description":"Transport rule 'Block exe' was triggered.","data":"<root><MEP Name=\"RuleId\" String=\"r1\"/><MEP Name=\"Custom\" String=\"x\"/></root>"},
 {"id":"d3","messageId":"<4be1d0@mx.northwind.example>","dateTime":"yesterday","event":"Fail","action":"","description":"","data":""}]}`

const legacyDetailsLight = `{"odata.metadata":"https://reports.office365.com/ecp/ReportingWebService/Reporting.svc/$metadata#MessageTraceDetail","value":[
 {"Organization":"fabrikam.onmicrosoft.com","MessageId":"<a1@x>","MessageTraceId":"6b1e2a9c-3f44-4d0e-8c1b-08de57a1c2f3","RecipientAddress":"kim@contoso.org",
  "Date":"2026-03-01T10:01:02.1170000","Event":"Receive","Action":null,"Detail":"Message received","Data":"<root/>","Index":0},
 {"Organization":"fabrikam.onmicrosoft.com","MessageId":"<a1@x>","MessageTraceId":"6b1e2a9c-3f44-4d0e-8c1b-08de57a1c2f3","RecipientAddress":"kim@contoso.org",
  "Date":"2026-03-01T10:02:02Z","Event":"Fail","Action":"","Detail":"550 5.1.10","Data":"<root><MEP Name=\"RecipientStatus\" String=\"550 5.1.10\"/></root>","Index":1}]}`

const legacyDetailsVerbose = `{"d":{"results":[{"__metadata":{"type":"TenantReporting.MessageTraceDetail"},"MessageTraceId":"6b1e2a9c-3f44-4d0e-8c1b-08de57a1c2f3",
 "Date":"/Date(1772359262117)/","Event":"Spam","Action":"Move to JMF","Detail":"spam","Data":"<root><MEP Name=\"SFV\" String=\"SPM\"/></root>"}]}}`

func TestDecodeGraphDetails(t *testing.T) {
	evs, err := decodeGraphDetails([]byte(graphDetailsSample))
	require.NoError(t, err)
	require.Len(t, evs, 3)
	assert.Equal(t, "Receive", evs[0].Event)
	assert.Empty(t, evs[0].Action, "null is empty")
	assert.Equal(t, time.Date(2026, 11, 21, 8, 9, 41, 512e6, time.UTC), evs[0].DateTime)
	assert.Equal(t, "Quarantine", evs[1].Action)
	assert.Contains(t, evs[2].ParseError, "dateTime", "a bad date is reported, the event kept")

	_, err = decodeGraphDetails([]byte(`{"error":{"code":"x"}}`))
	assert.ErrorContains(t, err, "no value array")
	_, err = decodeGraphDetails([]byte(`<html>`))
	assert.Error(t, err)
	many := `{"value":[` + strings.Repeat(`{},`, maxDetailEvents) + `{}]}`
	_, err = decodeGraphDetails([]byte(many))
	assert.ErrorIs(t, err, errTooManyEvents)
	long := `{"value":[{"description":"` + strings.Repeat("x", 10*maxDetailFieldBytes) + `"}]}`
	evs, err = decodeGraphDetails([]byte(long))
	require.NoError(t, err)
	assert.LessOrEqual(t, len(evs[0].Description), maxDetailFieldBytes+64, "values are cut")
}

func TestDecodeLegacyDetails(t *testing.T) {
	evs, err := decodeLegacyDetails([]byte(legacyDetailsLight))
	require.NoError(t, err)
	require.Len(t, evs, 2)
	assert.Equal(t, time.Date(2026, 3, 1, 10, 1, 2, 117e6, time.UTC), evs[0].DateTime, "no offset is UTC")
	assert.Equal(t, "550 5.1.10", evs[1].Description)
	evs, err = decodeLegacyDetails([]byte(legacyDetailsVerbose))
	require.NoError(t, err)
	require.Len(t, evs, 1)
	assert.Equal(t, time.UnixMilli(1772359262117).UTC(), evs[0].DateTime)
	_, err = decodeLegacyDetails([]byte(`{"Message":"No permission"}`))
	assert.Error(t, err)
}

func TestParseDetailData(t *testing.T) {
	d := parseDetailData(`<root><MEP Name="ServerHostName" String="AM9"/><MEP Name="SCL" Integer="9"/></root>`)
	assert.Empty(t, d.Raw, "all keys known: no raw copy")
	require.Len(t, d.Known, 2)
	assert.Equal(t, detailProperty{Key: "server_host_name", Str: "AM9"}, d.Known[0])
	assert.Equal(t, detailProperty{Key: "scl", Str: "9", Int: 9, IsInt: true}, d.Known[1])

	unknown := `<root><MEP Name="RuleId" String="r"/><MEP Name="Custom" String="x"/></root>`
	d = parseDetailData(unknown)
	assert.Equal(t, unknown, d.Raw, "an unknown key keeps the whole XML")
	require.Len(t, d.Known, 1)

	for name, hostile := range map[string]string{
		"entity expansion": `<!DOCTYPE r [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;&a;">]><root><MEP Name="ClientIP" String="&b;"/></root>`,
		"not xml":          `{"a":1}`,
		"unclosed":         `<root><MEP Name="ClientIP" String="1.2.3.4">`,
		"deep":             strings.Repeat("<a>", 5000) + strings.Repeat("</a>", 5000),
		"many entries":     "<root>" + strings.Repeat(`<MEP Name="SCL" Integer="1"/>`, maxDetailDataEntries+1) + "</root>",
	} {
		d := parseDetailData(hostile)
		assert.NotEmpty(t, d.Raw, "%s: kept raw, never dropped", name)
		assert.LessOrEqual(t, len(d.Known), maxDetailDataEntries, name)
	}
}

func TestDetailRecordShape(t *testing.T) {
	b := &recordBuilder{tenant: "t"}
	p := &pendingDetail{TraceID: "9c2d41f7-5e0b-4a63-b1d8-7f30aa12e6c4", Recipient: "ana@contoso.com", MessageID: "<m@x>", Status: "quarantined"}
	evs, err := decodeGraphDetails([]byte(graphDetailsSample))
	require.NoError(t, err)
	ld := b.buildDetails(p, evs, time.Unix(0, 0), defaultDetailsTag)
	lrs := ld.ResourceLogs().At(0).ScopeLogs().At(0).LogRecords()
	require.Equal(t, 3, lrs.Len())
	lr := lrs.At(1)
	assert.Equal(t, detailEventName, lr.EventName())
	assert.Equal(t, plog.SeverityNumberInfo, lrs.At(0).SeverityNumber())
	assert.Equal(t, plog.SeverityNumberWarn, lrs.At(2).SeverityNumber(), "Fail warns")
	assert.Equal(t, plog.SeverityNumberWarn, lr.SeverityNumber(), "a Quarantine action warns")
	attrs := lr.Attributes().AsRaw()
	assert.Equal(t, "9c2d41f7-5e0b-4a63-b1d8-7f30aa12e6c4", attrs["email.local_id"])
	assert.Equal(t, "ana@contoso.com", attrs["email.to.address"])
	assert.Equal(t, "<m@x>", attrs["email.message_id"])
	assert.Equal(t, "Transport rule", attrs[detailAttrPrefix+"event"])
	assert.Equal(t, "r1", attrs[detailDataAttribute+".rule_id"])
	assert.Contains(t, attrs[detailDataAttribute], `Name="Custom"`)
	assert.Equal(t, defaultDetailsTag, attrs[devoTagAttribute])
	assert.Equal(t, int64(9), lrs.At(0).Attributes().AsRaw()[detailDataAttribute+".scl"])
	assert.Contains(t, lrs.At(2).Attributes().AsRaw(), parseErrorAttribute)
	assert.Zero(t, lrs.At(2).Timestamp(), "no invented time for a bad date")
	body := lr.Body().Map().AsRaw()
	assert.Equal(t, "Transport rule 'Block exe' was triggered.", body["description"])
	assert.Equal(t, "2026-11-21T08:09:42Z", body["dateTime"])
}

// FuzzDecodeDetails feeds both decoders and the data parser; whatever the input, they return
// bounded results or an error, never panic, and records can be built from what they return.
func FuzzDecodeDetails(f *testing.F) {
	for _, s := range []string{
		graphDetailsSample, legacyDetailsLight, legacyDetailsVerbose, `{"value":[]}`, `{"value":null}`,
		`{"value":[{"data":"<root><MEP Name=\"SCL\" Integer=\"x\"/></root>"}]}`, `{"d":{"results":[{"Date":"/Date(-1)/"}]}}`,
	} {
		f.Add([]byte(s))
	}
	b := &recordBuilder{tenant: "t"}
	p := &pendingDetail{TraceID: "9c2d41f7-5e0b-4a63-b1d8-7f30aa12e6c4", Recipient: "a@b", Status: "failed"}
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, decode := range []func([]byte) ([]detailEvent, error){decodeGraphDetails, decodeLegacyDetails} {
			evs, err := decode(body)
			if err != nil {
				continue
			}
			if len(evs) > maxDetailEvents {
				t.Fatalf("%d events", len(evs))
			}
			for _, ev := range evs {
				if len(ev.Data) > maxDetailDataBytes+64 || len(ev.Description) > maxDetailFieldBytes+64 {
					t.Fatalf("unbounded value")
				}
				d := parseDetailData(ev.Data)
				if len(d.Known) > maxDetailDataEntries {
					t.Fatalf("%d data entries", len(d.Known))
				}
			}
			_ = b.buildDetails(p, evs, time.Unix(0, 0), "tag")
		}
	})
}
