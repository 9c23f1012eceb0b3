// Package kubernetes holds hedgegate's example manifests (*.yaml) and their test:
// every document decodes strictly against the Kubernetes API types, the pieces agree
// with each other, with the image and with the embedded gateway config, and that
// config passes gateway validate.
package kubernetes

import (
	"bytes"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	sigsyaml "sigs.k8s.io/yaml"

	"github.com/hedgegate/hedgegate/deploy/image"
)

// manifests is every object in the directory's *.yaml, decoded strictly.
type manifests struct {
	deployment *appsv1.Deployment
	configMap  *corev1.ConfigMap
	service    *corev1.Service // the gateway's, for its clients
	replicas   *corev1.Service // the replicas' headless Service, for discovery
	pdb        *policyv1.PodDisruptionBudget
	hpa        *autoscalingv2.HorizontalPodAutoscaler
	netpol     *networkingv1.NetworkPolicy
}

// DESIGN.md's shutdown defaults, when the config does not set the keys.
const (
	defaultDrainDelay      = 0 * time.Second
	defaultShutdownTimeout = 30 * time.Second
)

func load(t *testing.T) manifests {
	t.Helper()
	files, err := filepath.Glob("*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no manifests: %v", err)
	}
	var m manifests
	for _, f := range files {
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for i, doc := range regexp.MustCompile(`(?m)^---\s*$`).Split(string(src), -1) {
			if strings.TrimSpace(doc) == "" {
				continue
			}
			var tm metav1.TypeMeta
			if err := sigsyaml.Unmarshal([]byte(doc), &tm); err != nil {
				t.Fatalf("%s document %d: %v", f, i, err)
			}
			var obj any
			switch tm.APIVersion + " " + tm.Kind {
			case "apps/v1 Deployment":
				obj = set(t, &m.deployment, f)
			case "v1 ConfigMap":
				obj = set(t, &m.configMap, f)
			case "v1 Service":
				// Two: the headless one (clusterIP: None) is the replicas'.
				var probe corev1.Service
				if err := sigsyaml.Unmarshal([]byte(doc), &probe); err != nil {
					t.Fatalf("%s document %d: %v", f, i, err)
				}
				if probe.Spec.ClusterIP == corev1.ClusterIPNone {
					obj = set(t, &m.replicas, f)
				} else {
					obj = set(t, &m.service, f)
				}
			case "policy/v1 PodDisruptionBudget":
				obj = set(t, &m.pdb, f)
			case "autoscaling/v2 HorizontalPodAutoscaler":
				obj = set(t, &m.hpa, f)
			case "networking.k8s.io/v1 NetworkPolicy":
				obj = set(t, &m.netpol, f)
			default:
				t.Fatalf("%s document %d: %s %s is not one this test knows how to check", f, i, tm.APIVersion, tm.Kind)
			}
			// Strict: an unknown or misspelt field (the usual silent mistake in a
			// manifest) or a field given twice is an error, as kubectl --validate=strict makes it.
			if err := sigsyaml.UnmarshalStrict([]byte(doc), obj); err != nil {
				t.Fatalf("%s document %d (%s): %v", f, i, tm.Kind, err)
			}
		}
	}
	for name, missing := range map[string]bool{
		"Deployment": m.deployment == nil, "ConfigMap": m.configMap == nil, "Service": m.service == nil,
		"headless Service (the replicas')": m.replicas == nil,
		"PodDisruptionBudget":              m.pdb == nil, "HorizontalPodAutoscaler": m.hpa == nil, "NetworkPolicy": m.netpol == nil,
	} {
		if missing {
			t.Errorf("no %s among the manifests", name)
		}
	}
	if t.Failed() {
		t.FailNow()
	}
	return m
}

// set allocates *p for one document, refusing a second object of the same kind.
func set[T any](t *testing.T, p **T, file string) *T {
	t.Helper()
	if *p != nil {
		t.Fatalf("%s: a second object of a kind the test expects once", file)
	}
	*p = new(T)
	return *p
}

func TestStrictDecodingRefusesAnUnknownField(t *testing.T) {
	// The check load relies on: a typo one level deep is an error, not dropped.
	doc := []byte("apiVersion: policy/v1\nkind: PodDisruptionBudget\nmetadata: {name: x}\nspec: {maxUnavailabel: 1}\n")
	if err := sigsyaml.UnmarshalStrict(doc, &policyv1.PodDisruptionBudget{}); err == nil ||
		!strings.Contains(err.Error(), "maxUnavailabel") {
		t.Errorf("a misspelt field decoded: %v", err)
	}
}

func TestManifestsDecodeAndSelectTheSamePods(t *testing.T) {
	m := load(t)
	pods := labels.Set(m.deployment.Spec.Template.Labels)
	selects := func(what string, sel *metav1.LabelSelector) {
		t.Helper()
		s, err := metav1.LabelSelectorAsSelector(sel)
		if err != nil || s.Empty() || !s.Matches(pods) {
			t.Errorf("%s selector %v does not select the Deployment's pods %v (%v)", what, sel, pods, err)
		}
	}
	selects("Deployment", m.deployment.Spec.Selector)
	selects("PodDisruptionBudget", m.pdb.Spec.Selector)
	selects("NetworkPolicy", &m.netpol.Spec.PodSelector)
	selects("Service", &metav1.LabelSelector{MatchLabels: m.service.Spec.Selector})

	ref := m.hpa.Spec.ScaleTargetRef
	if ref.Kind != "Deployment" || ref.Name != m.deployment.Name || ref.APIVersion != "apps/v1" {
		t.Errorf("the HPA scales %+v, not Deployment %s", ref, m.deployment.Name)
	}
	if m.deployment.Spec.Replicas != nil {
		t.Error("the Deployment sets replicas: every kubectl apply would reset the HPA's count")
	}
	if min := m.hpa.Spec.MinReplicas; min == nil || *min < 2 {
		t.Errorf("HPA minReplicas %v: a single pod cannot drain without an outage", min)
	}
	if mu := m.pdb.Spec.MaxUnavailable; mu == nil || mu.IntValue() < 1 || int32(mu.IntValue()) >= *m.hpa.Spec.MinReplicas {
		t.Errorf("PDB maxUnavailable %v must leave a pod serving at the HPA's minimum", mu)
	}
	for _, mt := range m.hpa.Spec.Metrics {
		if mt.Resource != nil && mt.Resource.Name == corev1.ResourceCPU && gateway(t, m).Resources.Requests.Cpu().IsZero() {
			t.Error("the HPA scales on CPU utilization, which needs a CPU request")
		}
	}
}

// gateway is the Deployment's gateway container.
func gateway(t *testing.T, m manifests) *corev1.Container {
	t.Helper()
	cs := m.deployment.Spec.Template.Spec.Containers
	if len(cs) != 1 {
		t.Fatalf("%d containers, want the gateway alone", len(cs))
	}
	return &cs[0]
}

func TestPodRunsAsTheImagesNonRootUserLockedDown(t *testing.T) {
	m := load(t)
	pod, c := m.deployment.Spec.Template.Spec, gateway(t, m)
	uid, gid, _ := strings.Cut(image.User, ":")
	psc, sc := pod.SecurityContext, c.SecurityContext
	if psc == nil || sc == nil {
		t.Fatal("pod and container both need a securityContext")
	}
	if psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot {
		t.Error("runAsNonRoot is not set")
	}
	if psc.RunAsUser == nil || strconv.FormatInt(*psc.RunAsUser, 10) != uid ||
		psc.RunAsGroup == nil || strconv.FormatInt(*psc.RunAsGroup, 10) != gid {
		t.Errorf("runAsUser/runAsGroup %v/%v, the image's USER is %s", psc.RunAsUser, psc.RunAsGroup, image.User)
	}
	if psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Error("no RuntimeDefault seccomp profile")
	}
	if sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
		t.Error("readOnlyRootFilesystem is not set")
	}
	if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
		t.Error("allowPrivilegeEscalation is not false")
	}
	if sc.Privileged != nil && *sc.Privileged {
		t.Error("privileged")
	}
	if sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) || len(sc.Capabilities.Add) > 0 {
		t.Errorf("capabilities %+v: want drop [ALL], add none", sc.Capabilities)
	}
	if pod.AutomountServiceAccountToken == nil || *pod.AutomountServiceAccountToken {
		t.Error("the service account token is mounted; the gateway never uses it")
	}
	for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		if q, ok := c.Resources.Requests[r]; !ok || q.IsZero() {
			t.Errorf("no %s request", r)
		}
	}
	if _, ok := c.Resources.Limits[corev1.ResourceMemory]; !ok {
		t.Error("no memory limit (GOMEMLIMIT is read from it)")
	}
	if len(c.Command) > 0 || len(c.Args) > 0 {
		t.Errorf("command %q args %q: the image's entrypoint and command already serve its config path", c.Command, c.Args)
	}
}

// The probes, ports, mount and drain timing must match what the gateway config in
// the ConfigMap makes the gateway do.
func TestDeploymentMatchesTheGatewayConfig(t *testing.T) {
	m := load(t)
	c := gateway(t, m)
	cfg := gatewayConfig(t, m)
	port := func(name string) int32 {
		for _, p := range c.Ports {
			if p.Name == name {
				return p.ContainerPort
			}
		}
		t.Fatalf("no container port named %s", name)
		return 0
	}
	if got, want := port("http"), listenPort(t, cfg.Listen); got != want {
		t.Errorf("container port http %d, config listen %s", got, cfg.Listen)
	}
	if got, want := port("metrics"), listenPort(t, cfg.MetricsListen); got != want {
		t.Errorf("container port metrics %d, config metrics_listen %q", got, cfg.MetricsListen)
	}
	// The control port stays on loopback, out of the pod network's reach, and so has
	// no container port.
	if host, _, err := net.SplitHostPort(cfg.AdminListen); err != nil || !netip.MustParseAddr(host).IsLoopback() {
		t.Errorf("admin_listen %q: want a loopback address (POST /reload, /debug/config)", cfg.AdminListen)
	}
	for _, p := range c.Ports {
		if p.ContainerPort == listenPort(t, cfg.AdminListen) {
			t.Errorf("container port %s declares the loopback admin port", p.Name)
		}
	}
	probe := func(what string, p *corev1.Probe, path string) {
		t.Helper()
		if p == nil || p.HTTPGet == nil || p.HTTPGet.Path != path || p.HTTPGet.Port != intstr.FromString("metrics") {
			t.Errorf("%s probe %+v: want GET %s on the metrics port", what, p, path)
		}
	}
	probe("readiness", c.ReadinessProbe, "/readyz")
	probe("liveness", c.LivenessProbe, "/healthz")
	if ann := m.deployment.Spec.Template.Annotations; ann["prometheus.io/port"] != strconv.Itoa(int(port("metrics"))) {
		t.Errorf("prometheus.io/port %q, the metrics port is %d", ann["prometheus.io/port"], port("metrics"))
	}
	if tp := m.service.Spec.Ports; len(tp) != 1 || tp[0].TargetPort != intstr.FromString("http") {
		t.Errorf("Service ports %+v: want the client port alone", tp)
	}

	// The config file is where the image's command reads it.
	var mounted bool
	for _, vm := range c.VolumeMounts {
		for _, v := range m.deployment.Spec.Template.Spec.Volumes {
			if v.Name == vm.Name && v.ConfigMap != nil && v.ConfigMap.Name == m.configMap.Name &&
				vm.MountPath == path.Dir(image.ConfigPath) && vm.SubPath == "" && vm.ReadOnly {
				mounted = true
			}
		}
	}
	if !mounted {
		t.Errorf("ConfigMap %s is not mounted read-only, whole, at %s", m.configMap.Name, path.Dir(image.ConfigPath))
	}
	if _, ok := m.configMap.Data[path.Base(image.ConfigPath)]; !ok {
		t.Errorf("the ConfigMap has no key %s", path.Base(image.ConfigPath))
	}

	// Grace covers preStop, the drain delay and the in-flight wait; the margin lets the
	// process exit and flush before SIGKILL.
	pre := c.Lifecycle
	if pre == nil || pre.PreStop == nil || pre.PreStop.Sleep == nil {
		t.Fatal("no preStop sleep (the image has no shell for an exec hook)")
	}
	drain, timeout := cfg.shutdown(t)
	need := time.Duration(pre.PreStop.Sleep.Seconds)*time.Second + drain + timeout + 2*time.Second
	grace := m.deployment.Spec.Template.Spec.TerminationGracePeriodSeconds
	if grace == nil {
		t.Fatal("no terminationGracePeriodSeconds")
	}
	if time.Duration(*grace)*time.Second < need {
		t.Errorf("terminationGracePeriodSeconds %d < preStop %ds + drain_delay %v + timeout %v + 2s", *grace,
			pre.PreStop.Sleep.Seconds, drain, timeout)
	}
	// A load balancer that follows readiness sees the 503 within period x threshold;
	// the listener must stay open longer than that (docs/config.md's shutdown hazard).
	rp := c.ReadinessProbe
	if notice := time.Duration(rp.PeriodSeconds*rp.FailureThreshold) * time.Second; drain <= notice {
		t.Errorf("shutdown.drain_delay %v does not outlast the readiness probe noticing the drain (%v)", drain, notice)
	}
}

// The client port is open; the metrics port only to a namespace (Prometheus'); no
// other port (the admin port is on loopback) and no rule opening every port.
func TestNetworkPolicyKeepsTheMetricsPortToMonitoring(t *testing.T) {
	m := load(t)
	var metrics bool
	for _, rule := range m.netpol.Spec.Ingress {
		if len(rule.Ports) == 0 {
			t.Error("a rule opens every port")
		}
		for _, p := range rule.Ports {
			switch {
			case p.Port == nil:
				t.Error("a rule with a port entry but no port opens every port")
			case *p.Port == intstr.FromString("http"):
			case *p.Port == intstr.FromString("metrics"):
				metrics = true
				if len(rule.From) == 0 || rule.From[0].NamespaceSelector == nil {
					t.Error("the metrics port is open to every source, not a monitoring namespace")
				}
			default:
				t.Errorf("port %v is opened; only http and metrics are served on the pod's address", p.Port)
			}
		}
	}
	if !metrics {
		t.Error("no rule lets Prometheus reach the metrics port")
	}
}

// The replica set of the embedded config is the pods behind the headless Service:
// its discovery name is that Service's, at its port, fully qualified; the Service
// publishes ready pods only and does not select the gateway's own pods.
func TestReplicaSetIsTheHeadlessService(t *testing.T) {
	m := load(t)
	svc := m.replicas
	if svc.Spec.ClusterIP != corev1.ClusterIPNone {
		t.Fatalf("the replicas' Service has clusterIP %q: a virtual IP would hide the replicas from the gateway", svc.Spec.ClusterIP)
	}
	if svc.Spec.PublishNotReadyAddresses {
		t.Error("publishNotReadyAddresses: pods that are not ready would become members")
	}
	if sel := labels.SelectorFromSet(svc.Spec.Selector); len(svc.Spec.Selector) == 0 ||
		sel.Matches(labels.Set(m.deployment.Spec.Template.Labels)) {
		t.Errorf("the replicas' Service selector %v must select the replicas, not the gateway", svc.Spec.Selector)
	}
	cfg := gatewayConfig(t, m)
	var sets []string
	for name, rs := range cfg.ReplicaSets {
		sets = append(sets, name)
		d := rs.Discovery
		if d == nil {
			t.Errorf("replica set %s has no discovery", name)
			continue
		}
		host, port, err := net.SplitHostPort(d.DNS)
		if err != nil {
			t.Fatalf("replica set %s: discovery.dns %q: %v", name, d.DNS, err)
		}
		parts := strings.Split(host, ".")
		if parts[0] != svc.Name || !strings.HasSuffix(host, ".svc.cluster.local.") || len(parts) != 6 {
			t.Errorf("discovery.dns %q: want %s.NAMESPACE.svc.cluster.local., fully qualified", d.DNS, svc.Name)
		}
		var served bool
		for _, p := range svc.Spec.Ports {
			served = served || strconv.Itoa(int(p.Port)) == port
		}
		if !served {
			t.Errorf("discovery.dns port %s is not a port of Service %s (%+v)", port, svc.Name, svc.Spec.Ports)
		}
	}
	if len(sets) == 0 {
		t.Error("the embedded config has no replica set")
	}
}

// gatewayConfig is the few keys of the embedded config this test needs; the whole file
// is validated by the gateway itself in TestEmbeddedConfigPassesGatewayValidate.
type gatewayConf struct {
	Listen        string         `yaml:"listen"`
	AdminListen   string         `yaml:"admin_listen"`
	MetricsListen string         `yaml:"metrics_listen"`
	Shutdown      map[string]any `yaml:"shutdown"`
	ReplicaSets   map[string]struct {
		Discovery *struct {
			DNS string `yaml:"dns"`
		} `yaml:"discovery"`
	} `yaml:"replica_sets"`
}

func gatewayConfig(t *testing.T, m manifests) gatewayConf {
	t.Helper()
	var c gatewayConf
	if err := yaml.Unmarshal([]byte(m.configMap.Data[path.Base(image.ConfigPath)]), &c); err != nil {
		t.Fatal(err)
	}
	return c
}

// shutdown is the config's drain_delay and timeout, DESIGN.md's defaults where unset.
func (c gatewayConf) shutdown(t *testing.T) (drain, timeout time.Duration) {
	t.Helper()
	get := func(key string, def time.Duration) time.Duration {
		v, ok := c.Shutdown[key]
		if !ok {
			return def
		}
		d, err := time.ParseDuration(fmt.Sprint(v))
		if err != nil {
			t.Fatalf("shutdown.%s: %v", key, err)
		}
		return d
	}
	return get("drain_delay", defaultDrainDelay), get("timeout", defaultShutdownTimeout)
}

func listenPort(t *testing.T, addr string) int32 {
	t.Helper()
	i := strings.LastIndex(addr, ":")
	if i < 0 {
		t.Fatalf("listen address %q has no port", addr)
	}
	n, err := strconv.Atoi(addr[i+1:])
	if err != nil {
		t.Fatalf("listen address %q has no port", addr)
	}
	return int32(n)
}

// The gateway itself judges the embedded config, exactly as serve would read it.
func TestEmbeddedConfigPassesGatewayValidate(t *testing.T) {
	m := load(t)
	file := filepath.Join(t.TempDir(), path.Base(image.ConfigPath))
	if err := os.WriteFile(file, []byte(m.configMap.Data[path.Base(image.ConfigPath)]), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("go", "run", "./cmd/gateway", "validate", "-config", file)
	cmd.Dir = "../.."
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil || strings.TrimSpace(out.String()) != "config OK" {
		t.Errorf("gateway validate on the ConfigMap's gateway.yaml: %v\n%s", err, out.String())
	}
}
