package deploy

import (
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	kjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"
)

// manifests holds every object of one manifest directory, decoded strictly into its API type.
type manifests struct {
	dir             string
	statefulSets    map[string]*appsv1.StatefulSet
	configMaps      map[string]*corev1.ConfigMap
	secrets         map[string]*corev1.Secret
	services        map[string]*corev1.Service
	serviceAccounts map[string]*corev1.ServiceAccount
}

// manifestSets are the Kubernetes variants and the configuration file each one's ConfigMap
// holds verbatim as otelcol-msgtrace-0.yaml: with a client secret, and with workload identity
// federation (no Microsoft secret).
var manifestSets = []struct{ dir, config string }{
	{"kubernetes", "config.yaml"},
	{"kubernetes-workload-identity", "config-workload-identity.yaml"},
}

// forEachManifestSet runs test once per manifest directory.
func forEachManifestSet(t *testing.T, test func(t *testing.T, m manifests, config string)) {
	for _, set := range manifestSets {
		t.Run(set.dir, func(t *testing.T) { test(t, loadManifestsFrom(t, set.dir), set.config) })
	}
}

// loadManifestsFrom decodes each document of dir/*.yaml into the type its apiVersion and
// kind name; an unknown field, a wrong type or an unknown kind fails the test, as it would fail
// `kubectl apply --validate=strict`.
func loadManifestsFrom(t *testing.T, dir string) manifests {
	t.Helper()
	m := manifests{
		dir:             dir,
		statefulSets:    map[string]*appsv1.StatefulSet{},
		configMaps:      map[string]*corev1.ConfigMap{},
		secrets:         map[string]*corev1.Secret{},
		services:        map[string]*corev1.Service{},
		serviceAccounts: map[string]*corev1.ServiceAccount{},
	}
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no manifests in %s/ (%v)", dir, err)
	}
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for i, doc := range splitDocuments(raw) {
			var tm metav1.TypeMeta
			if err := yaml.Unmarshal(doc, &tm); err != nil {
				t.Fatalf("%s document %d: %v", f, i, err)
			}
			var name string
			switch tm.APIVersion + " " + tm.Kind {
			case "apps/v1 StatefulSet":
				var o appsv1.StatefulSet
				strict(t, f, doc, &o)
				name, m.statefulSets[o.Name] = o.Name, &o
			case "v1 ConfigMap":
				var o corev1.ConfigMap
				strict(t, f, doc, &o)
				name, m.configMaps[o.Name] = o.Name, &o
			case "v1 Secret":
				var o corev1.Secret
				strict(t, f, doc, &o)
				name, m.secrets[o.Name] = o.Name, &o
			case "v1 Service":
				var o corev1.Service
				strict(t, f, doc, &o)
				name, m.services[o.Name] = o.Name, &o
			case "v1 ServiceAccount":
				var o corev1.ServiceAccount
				strict(t, f, doc, &o)
				name, m.serviceAccounts[o.Name] = o.Name, &o
			default:
				t.Fatalf("%s document %d: unexpected %q %q; add its type to this test", f, i, tm.APIVersion, tm.Kind)
			}
			if name == "" {
				t.Fatalf("%s document %d: %s without metadata.name", f, i, tm.Kind)
			}
		}
	}
	return m
}

func splitDocuments(raw []byte) [][]byte {
	var docs [][]byte
	for _, d := range regexp.MustCompile(`(?m)^---\s*$`).Split(string(raw), -1) {
		if strings.TrimSpace(stripComments(d)) != "" {
			docs = append(docs, []byte(d))
		}
	}
	return docs
}

func stripComments(s string) string {
	var b strings.Builder
	for _, l := range strings.Split(s, "\n") {
		if !strings.HasPrefix(strings.TrimSpace(l), "#") {
			b.WriteString(l + "\n")
		}
	}
	return b.String()
}

func strict(t *testing.T, file string, doc []byte, into any) {
	t.Helper()
	if err := decodeStrict(doc, into); err != nil {
		t.Fatalf("%s does not decode strictly into %T: %v", file, into, err)
	}
}

// decodeStrict decodes like the API server's strict field validation: duplicate keys, unknown
// fields and fields in the wrong case are errors (encoding/json alone matches names
// case-insensitively, so `servicename` would pass for `serviceName`).
func decodeStrict(doc []byte, into any) error {
	j, err := yaml.YAMLToJSONStrict(doc)
	if err != nil {
		return err
	}
	strictErrs, err := kjson.UnmarshalStrict(j, into)
	if err != nil {
		return err
	}
	return errors.Join(strictErrs...)
}

// theStatefulSet is the collector's StatefulSet and its only container.
func theStatefulSet(t *testing.T, m manifests) (*appsv1.StatefulSet, *corev1.Container) {
	t.Helper()
	if len(m.statefulSets) != 1 {
		t.Fatalf("want exactly one StatefulSet, have %d", len(m.statefulSets))
	}
	for _, s := range m.statefulSets {
		if n := len(s.Spec.Template.Spec.Containers); n != 1 {
			t.Fatalf("StatefulSet %s: want one container, have %d", s.Name, n)
		}
		return s, &s.Spec.Template.Spec.Containers[0]
	}
	return nil, nil
}

func TestManifestsDecodeStrictly(t *testing.T) {
	forEachManifestSet(t, func(t *testing.T, m manifests, _ string) {
		if len(m.statefulSets) != 1 || len(m.configMaps) != 1 || len(m.services) != 1 || len(m.secrets) == 0 {
			t.Fatalf("want one StatefulSet, ConfigMap and Service and the Secrets; have %d, %d, %d, %d",
				len(m.statefulSets), len(m.configMaps), len(m.services), len(m.secrets))
		}
	})
}

// The decoder is strict: a misspelled field fails (this is what keeps the test above honest).
func TestStrictDecodingRejectsUnknownFields(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("kubernetes", "statefulset.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, typo := range [][2]string{
		{"serviceName:", "servicename:"},              // wrong case
		{"readOnly: true", "readonly: true"},          // wrong case, deep in the pod template
		{"replicas: 1", "replicas: 1\n  replica: 1"},  // unknown field
		{"replicas: 1", "replicas: 1\n  replicas: 2"}, // duplicate key
	} {
		bad := strings.Replace(string(raw), typo[0], typo[1], 1)
		if bad == string(raw) {
			t.Fatalf("statefulset.yaml has no %q", typo[0])
		}
		var o appsv1.StatefulSet
		if err := decodeStrict([]byte(bad), &o); err == nil {
			t.Errorf("%q instead of %q decoded without error", typo[1], typo[0])
		}
	}
}

// The StatefulSet, its Service, its pod template and the objects it refers to fit together.
func TestStatefulSetWiring(t *testing.T) {
	forEachManifestSet(t, func(t *testing.T, m manifests, _ string) { statefulSetWiring(t, m) })
}

func statefulSetWiring(t *testing.T, m manifests) {
	s, c := theStatefulSet(t, m)
	spec := s.Spec.Template.Spec

	if svc, ok := m.services[s.Spec.ServiceName]; !ok {
		t.Errorf("serviceName %q names no Service in kubernetes/", s.Spec.ServiceName)
	} else if svc.Spec.ClusterIP != corev1.ClusterIPNone {
		t.Errorf("Service %s must be headless (clusterIP: None) for the StatefulSet", svc.Name)
	} else if !selects(svc.Spec.Selector, s.Spec.Template.Labels) {
		t.Errorf("Service %s selector %v does not select the pods %v", svc.Name, svc.Spec.Selector, s.Spec.Template.Labels)
	}
	sel, err := metav1.LabelSelectorAsMap(s.Spec.Selector)
	if err != nil || !selects(sel, s.Spec.Template.Labels) {
		t.Errorf("StatefulSet selector does not match its pod template labels (%v)", err)
	}

	// Non-root, like the image's USER.
	uid := imageUID(t)
	psc := spec.SecurityContext
	if psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot || psc.RunAsUser == nil || *psc.RunAsUser != uid ||
		psc.FSGroup == nil || *psc.FSGroup != uid {
		t.Errorf("pod securityContext must set runAsNonRoot, runAsUser and fsGroup %d (the Dockerfile's USER)", uid)
	}
	csc := c.SecurityContext
	if csc == nil || csc.AllowPrivilegeEscalation == nil || *csc.AllowPrivilegeEscalation ||
		csc.ReadOnlyRootFilesystem == nil || !*csc.ReadOnlyRootFilesystem ||
		csc.Capabilities == nil || len(csc.Capabilities.Drop) != 1 || csc.Capabilities.Drop[0] != "ALL" {
		t.Errorf("container securityContext must forbid privilege escalation, keep the root filesystem read-only and drop ALL capabilities")
	}

	// Probes on health_check: the named port is the container port the configuration binds.
	env := envValues(c)
	hc := env["HEALTH_CHECK_ENDPOINT"]
	_, portStr, ok := strings.Cut(hc, ":")
	if !strings.HasPrefix(hc, "0.0.0.0:") || !ok {
		t.Fatalf("HEALTH_CHECK_ENDPOINT %q: health_check must listen on 0.0.0.0 for the kubelet's probes", hc)
	}
	port, _ := strconv.Atoi(portStr)
	// Readiness is health_check's component status; liveness only that the process answers on
	// its port, so a setup problem (a permanent error until restart) never restarts the pod in
	// a loop that hides it.
	if p := c.ReadinessProbe; p == nil || p.HTTPGet == nil {
		t.Error("readinessProbe must be an httpGet on health_check")
	} else {
		if got := containerPort(c, p.HTTPGet.Port.String()); got != port {
			t.Errorf("readinessProbe port %s is container port %d, health_check listens on %d", p.HTTPGet.Port.String(), got, port)
		}
		if p.HTTPGet.Path != "/" {
			t.Errorf("readinessProbe path %q: health_check answers on /", p.HTTPGet.Path)
		}
	}
	if p := c.LivenessProbe; p == nil || p.TCPSocket == nil || p.HTTPGet != nil {
		t.Error("livenessProbe must be a tcpSocket on health_check's port, not its component status")
	} else if got := containerPort(c, p.TCPSocket.Port.String()); got != port {
		t.Errorf("livenessProbe port %s is container port %d, health_check listens on %d", p.TCPSocket.Port.String(), got, port)
	}
	if !slices.Contains(c.Args, healthGate) {
		t.Errorf("the container's args lack %s: health_check would not report component status", healthGate)
	}
}

// healthGate makes health_check report component status; every packaging starts with it.
const healthGate = "--feature-gates=+extension.healthcheck.useComponentStatus"

// Memory requests and limits match what BENCHMARKS.md measured: the request covers the peak RSS
// of figure 6 (whole collector, delivery defaults, no GOMEMLIMIT), the limit is above the request,
// and GOMEMLIMIT is not set, because the figure was measured without it and memory is bounded by
// the exporter's defaults, not by the garbage collector's soft limit.
func TestResourcesMatchMeasuredMemory(t *testing.T) {
	forEachManifestSet(t, func(t *testing.T, m manifests, _ string) { resourcesMatchMeasuredMemory(t, m) })
}

func resourcesMatchMeasuredMemory(t *testing.T, m manifests) {
	_, c := theStatefulSet(t, m)
	peakMB := measuredPeak(t)
	req, lim := c.Resources.Requests.Memory(), c.Resources.Limits.Memory()
	if req.IsZero() || lim.IsZero() {
		t.Fatal("the container must request and limit memory")
	}
	peak := resource.NewQuantity(peakMB*1000*1000, resource.DecimalSI)
	if req.Cmp(*peak) < 0 {
		t.Errorf("memory request %s is below the measured peak RSS of %d MB (BENCHMARKS.md, figure 6)", req, peakMB)
	}
	if lim.Cmp(*req) <= 0 {
		t.Errorf("memory limit %s must be above the request %s", lim, req)
	}
	if c.Resources.Requests.Cpu().IsZero() {
		t.Error("the container must request CPU")
	}
	if v, ok := envValues(c)["GOMEMLIMIT"]; ok {
		t.Errorf("GOMEMLIMIT=%q is set; figure 6 was measured without it, remove it", v)
	}
}

// measuredPeak reads figure 6's peak RSS of the 1M-row backfill (the "Latest medians" row).
func measuredPeak(t *testing.T) int64 {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "BENCHMARKS.md"))
	if err != nil {
		t.Fatal(err)
	}
	peak := regexp.MustCompile(`\| 6 peak RSS during the 1M-row backfill \(VmHWM\), defaults, no GOMEMLIMIT \| (\d+) MB`).FindSubmatch(raw)
	if peak == nil {
		t.Fatal("BENCHMARKS.md no longer has figure 6's peak RSS row; update this test with it")
	}
	mb, _ := strconv.ParseInt(string(peak[1]), 10, 64)
	return mb
}

// Each replica N reads the ConfigMap key <statefulset>-N.yaml, its state directory is the
// volume claim, every ${env:X} it uses is set, and every file it names is mounted.
func TestEveryReplicaHasItsConfiguration(t *testing.T) {
	forEachManifestSet(t, func(t *testing.T, m manifests, _ string) {
		s, c := theStatefulSet(t, m)
		configs := replicaConfigs(t, m, s, c)
		for key, cfg := range configs {
			checkConfigAgainstPod(t, m, s, c, key, cfg)
		}
	})
}

// replicaConfigs returns, for each replica, the ConfigMap key it reads and its text.
func replicaConfigs(t *testing.T, m manifests, s *appsv1.StatefulSet, c *corev1.Container) map[string]string {
	t.Helper()
	var configArg string
	for _, a := range append(append([]string{}, c.Command...), c.Args...) {
		if v, ok := strings.CutPrefix(a, "--config="); ok {
			configArg = v
		}
	}
	if !strings.Contains(configArg, "$(POD_NAME)") {
		t.Fatalf("the container's --config %q must name the file by $(POD_NAME), so each replica reads its own", configArg)
	}
	if f := fieldRef(c, "POD_NAME"); f != "metadata.name" {
		t.Fatalf("POD_NAME must come from metadata.name, comes from %q", f)
	}
	dir, file := path.Split(configArg)
	vol := mountedVolume(t, s, c, strings.TrimSuffix(dir, "/"))
	if vol.ConfigMap == nil {
		t.Fatalf("%s is not a ConfigMap mount", dir)
	}
	cm, ok := m.configMaps[vol.ConfigMap.Name]
	if !ok {
		t.Fatalf("volume %s names ConfigMap %q, which kubernetes/ does not define", vol.Name, vol.ConfigMap.Name)
	}
	replicas := int32(1)
	if s.Spec.Replicas != nil {
		replicas = *s.Spec.Replicas
	}
	out := map[string]string{}
	for i := range replicas {
		key := strings.ReplaceAll(file, "$(POD_NAME)", fmt.Sprintf("%s-%d", s.Name, i))
		cfg, ok := cm.Data[key]
		if !ok {
			t.Errorf("replica %d reads %s%s, which ConfigMap %s lacks", i, dir, key, cm.Name)
			continue
		}
		out[key] = cfg
	}
	return out
}

var (
	envRef       = regexp.MustCompile(`\$\{env:([A-Za-z_][A-Za-z0-9_]*)(:-[^}]*)?\}`)
	absolutePath = regexp.MustCompile(`(?m)^\s*(?:directory|ca_file|cert_file|key_file):\s*(/\S+)`)
)

func checkConfigAgainstPod(t *testing.T, m manifests, s *appsv1.StatefulSet, c *corev1.Container, key, cfg string) {
	t.Helper()
	env := map[string]corev1.EnvVar{}
	for _, e := range c.Env {
		env[e.Name] = e
	}
	for _, ref := range envRef.FindAllStringSubmatch(cfg, -1) {
		e, ok := env[ref[1]]
		if !ok {
			if ref[2] == "" {
				t.Errorf("%s: ${env:%s} has no default and the container does not set it", key, ref[1])
			}
			continue
		}
		if sk := secretKey(e); sk != nil {
			sec, ok := m.secrets[sk.Name]
			if !ok || !hasKey(sec, sk.Key) {
				t.Errorf("%s: %s comes from Secret %s key %s, which %s/ does not define", key, e.Name, sk.Name, sk.Key, m.dir)
			}
		}
	}
	for _, p := range absolutePath.FindAllStringSubmatch(cfg, -1) {
		file := p[1]
		vol, rest := volumeFor(s, c, file)
		switch {
		case vol == nil:
			t.Errorf("%s: %s is on no volume mount (the root filesystem is read-only)", key, file)
		case strings.Contains(p[0], "directory:"):
			if !isClaimTemplate(s, vol.Name) {
				t.Errorf("%s: state directory %s is on volume %s, not on the StatefulSet's volume claim: checkpoints would not survive a reschedule", key, file, vol.Name)
			}
		case vol.Secret != nil:
			sec, ok := m.secrets[vol.Secret.SecretName]
			if !ok || !hasKey(sec, rest) {
				t.Errorf("%s: %s needs key %q in Secret %s", key, file, rest, vol.Secret.SecretName)
			}
		default:
			t.Errorf("%s: %s is on volume %s, which is neither a Secret nor the state claim", key, file, vol.Name)
		}
	}
}

// The first replica's configuration is deploy/config.yaml verbatim, the file the image and the
// systemd unit use and that TestConfigurationsValidate checks with the built binary.
func TestConfigMapHoldsDeployConfig(t *testing.T) {
	forEachManifestSet(t, configMapHoldsDeployConfig)
}

func configMapHoldsDeployConfig(t *testing.T, m manifests, config string) {
	s, _ := theStatefulSet(t, m)
	want, err := os.ReadFile(config)
	if err != nil {
		t.Fatal(err)
	}
	key := s.Name + "-0.yaml"
	for _, cm := range m.configMaps {
		if got, ok := cm.Data[key]; ok {
			if got != string(want) {
				t.Fatalf("ConfigMap %s key %s differs from deploy/%s; regenerate it (see configmap.yaml)", cm.Name, key, config)
			}
			return
		}
	}
	t.Fatalf("no ConfigMap holds %s", key)
}

// Every configuration the deployment ships validates with the built distribution, in the
// environment the pod gives it (secret values replaced by placeholders).
func TestConfigurationsValidate(t *testing.T) {
	bin := distribution(t)
	forEachManifestSet(t, func(t *testing.T, m manifests, config string) { configurationsValidate(t, bin, m, config) })
}

func configurationsValidate(t *testing.T, bin string, m manifests, config string) {
	s, c := theStatefulSet(t, m)
	environ := []string{}
	for _, e := range c.Env {
		v := e.Value
		if e.ValueFrom != nil {
			v = "from-" + e.Name
		}
		environ = append(environ, e.Name+"="+v)
	}
	configs := replicaConfigs(t, m, s, c)
	own, err := os.ReadFile(config)
	if err != nil {
		t.Fatal(err)
	}
	configs["deploy/"+config] = string(own)
	for name, cfg := range configs {
		t.Run(name, func(t *testing.T) {
			f := filepath.Join(t.TempDir(), "config.yaml")
			if err := os.WriteFile(f, []byte(cfg), 0o600); err != nil {
				t.Fatal(err)
			}
			out, err := runBinary(t, bin, environ, "validate", "--config", f, healthGate)
			if err != nil {
				t.Fatalf("validate %s: %v\n%s", name, err, out)
			}
		})
	}
}

func selects(selector, labels map[string]string) bool {
	if len(selector) == 0 {
		return false
	}
	for k, v := range selector {
		if labels[k] != v {
			return false
		}
	}
	return true
}

func envValues(c *corev1.Container) map[string]string {
	out := map[string]string{}
	for _, e := range c.Env {
		out[e.Name] = e.Value
	}
	return out
}

func fieldRef(c *corev1.Container, name string) string {
	for _, e := range c.Env {
		if e.Name == name && e.ValueFrom != nil && e.ValueFrom.FieldRef != nil {
			return e.ValueFrom.FieldRef.FieldPath
		}
	}
	return ""
}

func secretKey(e corev1.EnvVar) *corev1.SecretKeySelector {
	if e.ValueFrom == nil {
		return nil
	}
	return e.ValueFrom.SecretKeyRef
}

func hasKey(s *corev1.Secret, key string) bool {
	if _, ok := s.StringData[key]; ok {
		return true
	}
	_, ok := s.Data[key]
	return ok
}

func containerPort(c *corev1.Container, nameOrNumber string) int {
	for _, p := range c.Ports {
		if p.Name == nameOrNumber || strconv.Itoa(int(p.ContainerPort)) == nameOrNumber {
			return int(p.ContainerPort)
		}
	}
	return -1
}

// volumeFor finds the mount holding file and returns its volume and the path inside it.
func volumeFor(s *appsv1.StatefulSet, c *corev1.Container, file string) (*corev1.Volume, string) {
	mounts := append([]corev1.VolumeMount{}, c.VolumeMounts...)
	sort.Slice(mounts, func(i, j int) bool { return len(mounts[i].MountPath) > len(mounts[j].MountPath) })
	for _, vm := range mounts {
		if file == vm.MountPath || strings.HasPrefix(file, vm.MountPath+"/") {
			rest := strings.TrimPrefix(strings.TrimPrefix(file, vm.MountPath), "/")
			return volumeNamed(s, vm.Name), rest
		}
	}
	return nil, ""
}

func mountedVolume(t *testing.T, s *appsv1.StatefulSet, c *corev1.Container, dir string) *corev1.Volume {
	t.Helper()
	for _, vm := range c.VolumeMounts {
		if vm.MountPath == dir {
			if v := volumeNamed(s, vm.Name); v != nil {
				return v
			}
		}
	}
	t.Fatalf("nothing is mounted at %s", dir)
	return nil
}

// volumeNamed returns the pod volume or, for a volume claim template, a volume standing for it.
func volumeNamed(s *appsv1.StatefulSet, name string) *corev1.Volume {
	for i, v := range s.Spec.Template.Spec.Volumes {
		if v.Name == name {
			return &s.Spec.Template.Spec.Volumes[i]
		}
	}
	if isClaimTemplate(s, name) {
		return &corev1.Volume{Name: name}
	}
	return nil
}

func isClaimTemplate(s *appsv1.StatefulSet, name string) bool {
	for _, pvc := range s.Spec.VolumeClaimTemplates {
		if pvc.Name == name && !pvc.Spec.Resources.Requests.Storage().IsZero() {
			return true
		}
	}
	return false
}

// imageUID is the numeric user the Dockerfile runs as.
func imageUID(t *testing.T) int64 {
	t.Helper()
	raw, err := os.ReadFile("Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	u := regexp.MustCompile(`(?m)^USER (\d+)(?::\d+)?\s*$`).FindSubmatch(raw)
	if u == nil {
		t.Fatal("the Dockerfile has no numeric USER")
	}
	uid, _ := strconv.ParseInt(string(u[1]), 10, 64)
	if uid == 0 {
		t.Fatal("the Dockerfile runs as root")
	}
	return uid
}

// Figure 6 was measured without GOMEMLIMIT; none of the packagings sets it, and the systemd
// unit's MemoryMax stays above the measured peak like the StatefulSet's limit.
func TestNoPackagingSetsGOMEMLIMIT(t *testing.T) {
	for _, f := range []string{
		"Dockerfile", filepath.Join("systemd", "otelcol-msgtrace.service"), filepath.Join("kubernetes", "statefulset.yaml"),
		filepath.Join("kubernetes-workload-identity", "statefulset.yaml"),
	} {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for i, l := range strings.Split(string(raw), "\n") {
			if l = strings.TrimSpace(l); strings.Contains(l, "GOMEMLIMIT") && !strings.HasPrefix(l, "#") {
				t.Errorf("%s:%d sets GOMEMLIMIT (%q); figure 6 was measured without it", f, i+1, l)
			}
		}
	}
	raw, err := os.ReadFile(filepath.Join("systemd", "otelcol-msgtrace.service"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^MemoryMax=(\d+)M$`).FindSubmatch(raw)
	if m == nil {
		t.Fatal("the systemd unit must set MemoryMax=<n>M")
	}
	if maxMB, _ := strconv.ParseInt(string(m[1]), 10, 64); maxMB*1024*1024 < 2*measuredPeak(t)*1000*1000 {
		t.Errorf("MemoryMax=%sM leaves less than twice the measured peak of %d MB", m[1], measuredPeak(t))
	}
}
