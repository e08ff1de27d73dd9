package tenantconfig

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/confmaptest"
)

func TestReadRefusesATenantListedTwice(t *testing.T) {
	in := "name,tenant_id,client_id\n" +
		"contoso,contoso.onmicrosoft.com,7a3c1d2e-0000-4000-8000-000000000001\n" +
		"contoso2,CONTOSO.onmicrosoft.com,7a3c1d2e-0000-4000-8000-000000000001\n" +
		"contoso,fabrikam.onmicrosoft.com,7a3c1d2e-0000-4000-8000-000000000001\n" +
		"Bad Name,x.onmicrosoft.com,not-a-guid\n"
	_, err := Read(strings.NewReader(in))
	if err == nil {
		t.Fatal("accepted")
	}
	for _, want := range []string{
		"line 3: tenant_id CONTOSO.onmicrosoft.com is already listed on line 2",
		`line 4: name "contoso" is already used on line 2`,
		`line 5: name "Bad Name"`,
		`line 5: client_id "not-a-guid" is not a GUID`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	if _, err := Read(strings.NewReader("name,client_id\n")); err == nil || !strings.Contains(err.Error(), `"tenant_id"`) {
		t.Errorf("missing column: %v", err)
	}
}

func TestWriteOneFilePerTenantOfTheShard(t *testing.T) {
	in := "# MSP tenants\nshard,name,tenant_id,client_id\n" +
		"0,contoso,contoso.onmicrosoft.com,7a3c1d2e-0000-4000-8000-000000000001\n" +
		"1,fabrikam,fabrikam.onmicrosoft.com,7a3c1d2e-0000-4000-8000-000000000002\n" +
		"0,north-wind,6f1c2b3a-4d5e-4f60-8a9b-0c1d2e3f4a5b,7a3c1d2e-0000-4000-8000-000000000003\n"
	list, err := Read(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	// A hand-written file beside them is never touched; a generated one of a removed tenant is.
	hand := filepath.Join(dir, "tenant-manual.yaml")
	stale := filepath.Join(dir, FileName("gone"))
	if err := os.WriteFile(hand, []byte("receivers: {}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(stale, []byte(header+"receivers: {}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	o := Options{
		Secret: "${env:O365_SECRET_{NAME}}", Exporters: []string{"devo"}, Storage: "file_storage", Shard: 0,
		Common: "# shared\napi: graph\ntls:\n  ca_file: /ca.pem\n",
	}
	paths, err := Write(dir, list, o)
	if err != nil {
		t.Fatal(err)
	}
	if len(paths) != 2 || filepath.Base(paths[0]) != "tenant-contoso.yaml" || filepath.Base(paths[1]) != "tenant-north-wind.yaml" {
		t.Fatalf("paths %v", paths)
	}
	if _, err := os.Stat(hand); err != nil {
		t.Errorf("hand-written file removed: %v", err)
	}
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Errorf("stale generated file kept: %v", err)
	}
	conf, err := confmaptest.LoadConf(paths[1])
	if err != nil {
		t.Fatal(err)
	}
	var cfg struct {
		Receivers map[string]map[string]any `mapstructure:"receivers"`
		Service   struct {
			Pipelines map[string]struct {
				Receivers []string `mapstructure:"receivers"`
				Exporters []string `mapstructure:"exporters"`
			} `mapstructure:"pipelines"`
		} `mapstructure:"service"`
	}
	if err := conf.Unmarshal(&cfg, confmap.WithIgnoreUnused()); err != nil {
		t.Fatal(err)
	}
	r := cfg.Receivers["office365_message_trace/north-wind"]
	if conf.Get("receivers::office365_message_trace/north-wind::tls::ca_file") != "/ca.pem" {
		t.Errorf("common settings missing: %v", conf.ToStringMap())
	}
	if r["tenant_id"] != "6f1c2b3a-4d5e-4f60-8a9b-0c1d2e3f4a5b" || r["client_secret"] != "${env:O365_SECRET_NORTH_WIND}" || r["storage"] != "file_storage" {
		t.Errorf("receiver %v", r)
	}
	p := cfg.Service.Pipelines["logs/north-wind"]
	if len(p.Receivers) != 1 || p.Receivers[0] != "office365_message_trace/north-wind" || len(p.Exporters) != 1 || p.Exporters[0] != "devo" {
		t.Errorf("pipeline %+v", p)
	}
}
