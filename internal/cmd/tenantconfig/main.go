// Command tenantconfig writes one collector configuration file per tenant from a tenants file
// (CSV: name,tenant_id,client_id[,shard]); the collector merges them with a base file:
//
//	go run ./internal/cmd/tenantconfig -tenants tenants.csv -out conf.d
//	otelcol-msgtrace --config base.yaml $(for f in conf.d/tenant-*.yaml; do printf -- '--config %s ' "$f"; done)
//
// See docs/scaling.md ("Hundreds of tenants").
package main

import (
	"flag"
	"fmt"
	"log"
	"os"
	"strings"

	"github.com/msgtrace/otelcol-msgtrace/internal/tenantconfig"
)

func main() {
	var (
		tenants   = flag.String("tenants", "tenants.csv", "tenants file: CSV with the header name,tenant_id,client_id[,shard]")
		out       = flag.String("out", "conf.d", "directory for the tenant-<name>.yaml files (generated files of tenants no longer listed are removed)")
		secret    = flag.String("secret", "${file:/etc/otelcol-msgtrace/secrets/{name}}", "client_secret of each tenant; {name} and {NAME} (upper case, _ for -) are replaced")
		exporters = flag.String("exporters", "devo", "comma-separated exporters of the base file that every tenant's pipeline uses")
		storage   = flag.String("storage", "file_storage", "storage extension of the base file that keeps the checkpoints (empty: none)")
		shard     = flag.Int("shard", -1, "write only the tenants of this shard (-1: all)")
		common    = flag.String("common", "", "YAML file of receiver settings every tenant shares (e.g. proxy_url), added to each receiver")
	)
	flag.Parse()
	f, err := os.Open(*tenants)
	if err != nil {
		log.Fatal(err)
	}
	list, err := tenantconfig.Read(f)
	_ = f.Close()
	if err != nil {
		log.Fatalf("%s:\n%v", *tenants, err)
	}
	var commonYAML []byte
	if *common != "" {
		if commonYAML, err = os.ReadFile(*common); err != nil {
			log.Fatal(err)
		}
	}
	paths, err := tenantconfig.Write(*out, list, tenantconfig.Options{
		Secret: *secret, Exporters: strings.Split(*exporters, ","), Storage: *storage, Shard: *shard, Common: string(commonYAML),
	})
	if err != nil {
		log.Fatal(err)
	}
	if len(paths) == 0 {
		log.Fatalf("no tenant selected (shard %d): a collector without a pipeline does not start", *shard)
	}
	fmt.Fprintf(os.Stderr, "wrote %d tenant files to %s\n", len(paths), *out)
}
